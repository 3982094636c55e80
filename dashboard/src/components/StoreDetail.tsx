import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, type ApiClient, type ChangeAccepted, type Plan, type Store, type StoreEvent, type StorePatch } from '../lib/api';
import { chartVersionText, formatDuration, generationText, shownStep, STATUS_LABEL, timeSince, timeToReady } from '../lib/format';
import { useLive, useNow, usePolling } from '../lib/live-context';
import { Link } from '../lib/router';
import { ConfirmDialog } from './ConfirmDialog';
import { ConditionBadge, StatusBadge, StepProgress } from './StatusBadge';
import { Timeline } from './Timeline';

const PLANS: readonly Plan[] = ['small', 'medium', 'large'];

/** What the timeline depends on: a new state or a new generation (a change does not move updated_at). */
function timelineKey(store: Store): string {
  return `${store.updated_at} ${store.generation}`;
}

const SIMULATED_NOTE =
  'Simulated cluster: the Kubernetes objects of this store are real, but no shop runs behind this address.';

function UrlRow({ label, url, simulated }: { label: string; url: string | null; simulated: boolean }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>
        {url ? (
          <>
            <a href={url} target="_blank" rel="noreferrer noopener">
              {url}
            </a>
            {simulated && <span className="tag">simulated</span>}
          </>
        ) : (
          'Not yet: known once the store is Ready'
        )}
      </dd>
    </>
  );
}

export function StoreDetail({ api, id }: { api: ApiClient; id: string }) {
  const [store, setStore] = useState<Store | null>(null);
  const [events, setEvents] = useState<StoreEvent[]>([]);
  const [gone, setGone] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  const [deleteSent, setDeleteSent] = useState(false);
  const [changing, setChanging] = useState(false);
  const [changeNote, setChangeNote] = useState<string | null>(null);
  const [plan, setPlan] = useState<Plan | ''>('');
  const { mode, subscribe, generation } = useLive();
  const now = useNow(1000);
  const lastUpdate = useRef('');
  // The newest change this page had accepted: a read that does not show it yet (the read
  // model catches up within moments) keeps showing what was accepted, never an older generation.
  const accepted = useRef<ChangeAccepted | null>(null);
  const withAccepted = useCallback((s: Store): Store => {
    const a = accepted.current;
    if (!a || s.generation >= a.generation) return s;
    // A change never moves the chart version (a rollout does): the store's stays when the answer has none.
    const desired = { ...a.desired, chart_version: a.desired.chart_version ?? s.desired?.chart_version ?? null };
    return { ...s, generation: a.generation, desired, desired_etag: a.desired_etag, plan: a.desired.plan };
  }, []);

  const load = useCallback(async () => {
    try {
      const s = withAccepted(await api.getStore(id));
      setStore(s);
      setError(null);
      if (timelineKey(s) !== lastUpdate.current) {
        lastUpdate.current = timelineKey(s);
        setEvents(await api.timeline(id));
      }
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setGone(true);
      else if (!(e instanceof ApiError && e.status === 401)) {
        setError(e instanceof ApiError ? `This store could not be loaded: ${e.detail || e.status}` : 'The server cannot be reached; retrying.');
      }
    }
  }, [api, id, withAccepted]);

  useEffect(() => {
    void load();
  }, [load, generation]);

  useEffect(
    () =>
      subscribe((live) => {
        if (live.id !== id) return;
        const s = withAccepted(live);
        setStore(s);
        if (timelineKey(s) !== lastUpdate.current) {
          lastUpdate.current = timelineKey(s);
          api.timeline(id).then(setEvents, () => {});
        }
      }),
    [subscribe, api, id, withAccepted],
  );

  const finished = gone || store?.status === 'deleted';
  usePolling(mode !== 'live' && !finished, () => void load(), 2000);

  const remove = async () => {
    setConfirming(false);
    setActionError(null);
    try {
      await api.deleteStore(id);
      setDeleteSent(true);
      setStore((s) => (s ? { ...s, status: 'deleting', step: null, reason: null } : s));
      void load();
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setGone(true);
      else if (e instanceof ApiError) {
        setActionError(
          `The deletion was not accepted: ${e.detail || e.title || e.status}${e.retryAfter ? ` Try again in ${e.retryAfter} s.` : ''}`,
        );
      } else setActionError('The server cannot be reached; the store was not deleted. Try again.');
    }
  };

  /**
   * A change of the desired state (PATCH, If-Match: the desired_etag this page shows) or a
   * retry. 412: someone changed the store since it was loaded; the page reloads it, and the
   * user decides again on what it is now.
   */
  const change = async (what: 'patch' | 'retry', patch: StorePatch = {}) => {
    if (!store || changing) return;
    setChanging(true);
    setActionError(null);
    setChangeNote(null);
    try {
      const answer = what === 'retry' ? await api.retryStore(id) : await api.changeStore(id, patch, store.desired_etag);
      setChangeNote(
        what === 'retry'
          ? `Retry of generation ${answer.generation} accepted.`
          : `Change accepted as generation ${answer.generation}; the store converges to it.`,
      );
      // What was accepted shows at once; the store's own state follows from the read model.
      if (!accepted.current || answer.generation >= accepted.current.generation) accepted.current = answer;
      setStore((s) => (s ? withAccepted(s) : s));
      setPlan('');
      void load();
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setGone(true);
      else if (e instanceof ApiError && e.status === 412) {
        setActionError('This store was changed by someone else since you loaded it. It has been refreshed: check it and try again.');
        void load();
      } else if (e instanceof ApiError) {
        setActionError(
          `The ${what === 'retry' ? 'retry' : 'change'} was not accepted: ${e.detail || e.title || e.status}${e.retryAfter ? ` Try again in ${e.retryAfter} s.` : ''}`,
        );
      } else setActionError('The server cannot be reached; nothing was changed. Try again.');
    } finally {
      setChanging(false);
    }
  };

  if (gone && !store) {
    return (
      <section aria-labelledby="detail-title">
        <h1 id="detail-title" tabIndex={-1}>
          Store not found
        </h1>
        <p>There is no store with this id for your tenant (it may have been deleted).</p>
        <Link to="/">Back to stores</Link>
      </section>
    );
  }
  if (!store) {
    return (
      <section aria-labelledby="detail-title">
        <h1 id="detail-title" tabIndex={-1}>
          Store
        </h1>
        {error ? (
          <p className="notice error" role="alert">
            {error}
          </p>
        ) : (
          <p aria-busy="true">Loading…</p>
        )}
      </section>
    );
  }

  const ready = timeToReady(events);
  const deletionFailed = store.status === 'failed' && events.some((e) => e.status === 'deleting');
  const canDelete = store.status !== 'deleting' && store.status !== 'deleted' && !gone;
  const canChange = canDelete && !deleteSent;
  const canRetry = canChange && (store.status === 'failed' || store.status === 'degraded') && !deletionFailed;
  const suspended = store.desired?.suspended ?? false;

  return (
    <section aria-labelledby="detail-title" className="detail">
      <p className="crumbs">
        <Link to="/">← Stores</Link>
      </p>
      <div className="title-row">
        <h1 id="detail-title" tabIndex={-1}>
          {store.name ?? store.id}
        </h1>
        <StatusBadge status={store.status} />
      </div>

      <div role="status" aria-live="polite" className="state-line">
        {store.status === 'deleting' && <span>Deleting this store{shownStep(store.step) ? ` (${shownStep(store.step)})` : ''}: its namespace and everything in it are being removed…</span>}
        {(store.status === 'deleted' || gone) && <span>This store was deleted. Its name and quota unit are free again.</span>}
        {store.status === 'ready' && <span>Ready{ready !== null ? ` ${formatDuration(ready)} after it was requested` : ''}.</span>}
        {store.status === 'suspended' && <span>Suspended: every workload is at zero; its data, credentials and URL are kept.</span>}
        {(store.status === 'provisioning' || store.status === 'requested') && <StepProgress status={store.status} step={store.step} />}
      </div>

      {store.status === 'degraded' && (
        <div className="notice error" role="alert">
          <strong>A change failed</strong>
          <p className="reason">{store.reason ?? 'No reason was given.'}</p>
          <p>The store still serves what it served before the change. Retry once the cause is fixed.</p>
        </div>
      )}
      {store.status === 'failed' && (
        <div className="notice error" role="alert">
          <strong>{deletionFailed ? 'The deletion failed' : 'Provisioning failed'}</strong>
          <p className="reason">{store.reason ?? 'No reason was given.'}</p>
          <p>
            {deletionFailed
              ? 'Retry the deletion once the cause is fixed.'
              : 'Retry once the cause is fixed, or delete this store to free its name.'}
          </p>
        </div>
      )}
      {actionError && (
        <p className="notice error" role="alert">
          {actionError}
        </p>
      )}
      {changeNote && (
        <p className="hint" role="status">
          {changeNote}
        </p>
      )}
      {deleteSent && store.status !== 'deleted' && !gone && store.status !== 'deleting' && store.status !== 'failed' && (
        <p className="hint">Deletion requested…</p>
      )}

      <div className="actions">
        {canChange && (
          <button type="button" disabled={changing} onClick={() => void change('patch', { suspended: !suspended })}>
            {suspended ? 'Resume' : 'Suspend'}
          </button>
        )}
        {canChange && (
          <span className="change-plan">
            <label htmlFor="plan-change">Plan</label>
            <select id="plan-change" value={plan || (store.desired?.plan ?? '')} onChange={(e) => setPlan(e.target.value as Plan)}>
              {PLANS.map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
            <button
              type="button"
              disabled={changing || !plan || plan === store.desired?.plan}
              onClick={() => plan && void change('patch', { plan })}
            >
              Change plan
            </button>
          </span>
        )}
        {canRetry && (
          <button type="button" disabled={changing} onClick={() => void change('retry')}>
            Retry
          </button>
        )}
        {canDelete && (
          <button type="button" className="danger" onClick={() => setConfirming(true)}>
            {deletionFailed ? 'Retry deletion' : 'Delete store'}
          </button>
        )}
        {(store.status === 'deleted' || gone) && (
          <Link to="/" className="button">
            Back to stores
          </Link>
        )}
      </div>

      <h2>Details</h2>
      <dl className="facts">
        <UrlRow label="Storefront" url={store.url} simulated={store.simulated} />
        <UrlRow label="Admin" url={store.admin_url} simulated={store.simulated} />
        <dt>Engine</dt>
        <dd>{store.engine === 'woocommerce' ? 'WooCommerce' : store.engine === 'medusa' ? 'Medusa' : '—'}</dd>
        <dt>Plan</dt>
        <dd>{store.plan ?? '—'}</dd>
        <dt>Chart version</dt>
        <dd data-testid="chart-version">{chartVersionText(store)}</dd>
        <dt>Condition</dt>
        <dd>
          {store.condition && <ConditionBadge condition={store.condition} />}{' '}
          {store.condition?.message && <span className="condition-message">{store.condition.message}</span>}
        </dd>
        <dt>Generation</dt>
        <dd data-testid="generation">{generationText(store)}</dd>
        <dt>Namespace</dt>
        <dd>
          <code>{store.namespace ?? '—'}</code>
        </dd>
        <dt>Requested</dt>
        <dd>
          <time dateTime={store.created_at}>{timeSince(store.created_at, now)}</time>
        </dd>
        <dt>Status</dt>
        <dd>
          {STATUS_LABEL[store.status] ?? store.status}
          {shownStep(store.step) ? ` (step: ${shownStep(store.step)})` : ''}
        </dd>
      </dl>
      {store.simulated && (
        <p className="notice simulated" data-testid="simulated-note">
          {store.note ?? SIMULATED_NOTE}
        </p>
      )}

      <h2>Timeline</h2>
      <Timeline events={events} now={now} />

      {confirming && (
        <ConfirmDialog
          title={`Delete ${store.name ?? 'this store'}?`}
          confirmLabel="Delete"
          onConfirm={() => void remove()}
          onCancel={() => setConfirming(false)}
        >
          <p>
            This removes the store&apos;s namespace with its data, credentials and URL. It cannot be undone.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}
