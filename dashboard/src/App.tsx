import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ApiClient, ApiError, type Me } from './lib/api';
import { LiveProvider, useLive } from './lib/live-context';
import { Link, matchRoute, navigate, usePath } from './lib/router';
import { clearToken, loadToken, saveToken } from './lib/session';
import { Admin } from './components/Admin';
import { RolloutDetail, RolloutList } from './components/Rollouts';
import { CreateStore } from './components/CreateStore';
import { SignIn } from './components/SignIn';
import { StoreDetail } from './components/StoreDetail';
import { StoreList } from './components/StoreList';

interface Session {
  api: ApiClient;
  me: Me;
}

const EXPIRED = 'Your token was refused: it has expired or been revoked. Sign in with a valid token.';

function LiveIndicator() {
  const { mode } = useLive();
  const text = mode === 'live' ? 'Live' : mode === 'connecting' ? 'Connecting…' : 'Updating every few seconds';
  return (
    <span className={`live live-${mode}`} data-mode={mode} title="How this page gets status changes">
      {text}
    </span>
  );
}

function Shell({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const path = usePath();
  const route = matchRoute(path);
  const main = useRef<HTMLElement>(null);
  const shownPath = useRef(path);

  // After a screen change (not on the first load), focus its heading so keyboard and
  // screen-reader users start there.
  useEffect(() => {
    if (shownPath.current === path) return;
    shownPath.current = path;
    const heading = main.current?.querySelector<HTMLElement>('h1');
    (heading ?? main.current)?.focus();
  }, [path]);

  useEffect(() => {
    const titles: Record<string, string> = { list: 'Stores', create: 'New store', detail: 'Store', admin: 'Admin', rollouts: 'Rollouts', rollout: 'Rollout', missing: 'Not found' };
    document.title = `${titles[route.name]} · storefleet`;
  }, [route.name]);

  const current = (name: string) => (route.name === name ? 'page' : undefined);
  return (
    <LiveProvider api={session.api}>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" className="brand">
          storefleet
        </Link>
        <nav aria-label="Main">
          <Link to="/" aria-current={current('list')}>
            Stores
          </Link>
          <Link to="/stores/new" aria-current={current('create')}>
            New store
          </Link>
          {session.me.role === 'admin' && (
            <Link to="/admin" aria-current={current('admin')}>
              Admin
            </Link>
          )}
          {session.me.role === 'admin' && (
            <Link to="/admin/rollouts" aria-current={route.name === 'rollouts' || route.name === 'rollout' ? 'page' : undefined}>
              Rollouts
            </Link>
          )}
        </nav>
        <div className="who">
          <LiveIndicator />
          <span className="tenant">{session.me.tenant_id}</span>
          <button type="button" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {route.name === 'list' && <StoreList api={session.api} />}
        {route.name === 'create' && (
          <CreateStore
            api={session.api}
            realNodeEngines={session.me.real_node_engines ?? []}
            onCreated={(store) => navigate(`/stores/${store.id}`)}
          />
        )}
        {route.name === 'detail' && <StoreDetail key={route.id} api={session.api} id={route.id} />}
        {route.name === 'admin' && <Admin api={session.api} />}
        {route.name === 'rollouts' && <RolloutList api={session.api} />}
        {route.name === 'rollout' && <RolloutDetail key={route.id} api={session.api} id={route.id} />}
        {route.name === 'missing' && (
          <section>
            <h1 tabIndex={-1}>Page not found</h1>
            <Link to="/">Go to your stores</Link>
          </section>
        )}
      </main>
    </LiveProvider>
  );
}

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [checking, setChecking] = useState(() => loadToken() !== null);
  const [notice, setNotice] = useState<string | null>(null);

  const signOut = useCallback((reason: string | null) => {
    clearToken();
    setSession(null);
    setNotice(reason);
  }, []);

  const adopt = useCallback(
    (api: ApiClient, me: Me) => {
      api.onUnauthorized = () => signOut(EXPIRED);
      saveToken(api.token);
      setNotice(null);
      setSession({ api, me });
    },
    [signOut],
  );

  // A reload in the same tab keeps the session: the token is checked again first.
  useEffect(() => {
    const token = loadToken();
    if (!token) return;
    const api = new ApiClient(token);
    api.me().then(
      (me) => {
        adopt(api, me);
        setChecking(false);
      },
      (e: unknown) => {
        if (e instanceof ApiError && e.status === 401) signOut(EXPIRED);
        else setNotice('The server could not be reached to check your saved token. Sign in again.');
        setChecking(false);
      },
    );
  }, [adopt, signOut]);

  const shell = useMemo(
    () => (session ? <Shell session={session} onSignOut={() => signOut('You are signed out.')} /> : null),
    [session, signOut],
  );
  if (checking) {
    return (
      <main id="main" className="signin" aria-busy="true">
        <p>Checking your session…</p>
      </main>
    );
  }
  return shell ?? <SignIn notice={notice} onSignedIn={adopt} />;
}
