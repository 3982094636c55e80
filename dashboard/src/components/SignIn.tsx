import { useState, type FormEvent } from 'react';
import { ApiClient, ApiError, type Me } from '../lib/api';

export function SignIn({
  notice,
  onSignedIn,
}: {
  notice: string | null;
  onSignedIn: (api: ApiClient, me: Me) => void;
}) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const value = token.trim();
    if (!value) {
      setError('Paste your API token.');
      return;
    }
    setBusy(true);
    setError(null);
    const api = new ApiClient(value);
    try {
      const me = await api.me();
      onSignedIn(api, me);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        setError('This token was refused: it is wrong, expired or revoked.');
      } else if (e instanceof ApiError) {
        setError(`The server could not check the token (${e.status}${e.detail ? `: ${e.detail}` : ''}). Try again.`);
      } else {
        setError('The server cannot be reached. Check your connection and try again.');
      }
      setBusy(false);
    }
  };

  return (
    <main id="main" className="signin" tabIndex={-1}>
      <h1>storefleet</h1>
      <p className="lead">Sign in with your API token to see and create your stores.</p>
      {notice && (
        <p className="notice" role="alert">
          {notice}
        </p>
      )}
      <form onSubmit={submit} noValidate>
        <label htmlFor="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={token}
          onChange={(e) => setToken(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'token-error token-hint' : 'token-hint'}
        />
        <p id="token-hint" className="hint">
          The token stays in this browser tab only. On a local platform, <code>make run</code> prints the file
          that holds the demo tenant&apos;s token.
        </p>
        {error && (
          <p id="token-error" className="field-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
