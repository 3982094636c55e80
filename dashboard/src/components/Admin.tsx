import { useEffect, useState } from 'react';
import { ApiError, type ApiClient, type StoreStatus } from '../lib/api';
import { STATUS_LABEL } from '../lib/format';
import { Link } from '../lib/router';
import { PlatformFiguresPanel } from './Figures';

type Load<T> = { state: 'loading' } | { state: 'ok'; data: T } | { state: 'missing' } | { state: 'forbidden' } | { state: 'error'; message: string };

/** One admin call, read once: `read` is a method of ApiClient (adminStores, ...). */
function useAdmin<T>(api: ApiClient, read: (api: ApiClient, signal: AbortSignal) => Promise<T>): Load<T> {
  const [load, setLoad] = useState<Load<T>>({ state: 'loading' });
  useEffect(() => {
    const controller = new AbortController();
    read(api, controller.signal).then(
      (data) => setLoad({ state: 'ok', data }),
      (e: unknown) => {
        if (controller.signal.aborted) return;
        if (e instanceof ApiError && (e.status === 404 || e.status === 405 || e.status === 501)) setLoad({ state: 'missing' });
        else if (e instanceof ApiError && e.status === 403) setLoad({ state: 'forbidden' });
        else setLoad({ state: 'error', message: e instanceof ApiError ? e.detail || String(e.status) : 'unreachable' });
      },
    );
    return () => controller.abort();
  }, [api, read]);
  return load;
}

const readStores = (api: ApiClient, signal: AbortSignal) => api.adminStores(signal);
const readTenants = (api: ApiClient, signal: AbortSignal) => api.adminTenants(signal);
const readAudit = (api: ApiClient, signal: AbortSignal) => api.adminAudit(signal);

/** The label of a status the admin listing sends as a plain string. */
function statusLabel(status: string): string {
  return (STATUS_LABEL as Record<string, string>)[status] ?? status;
}

function Unavailable({ load, what }: { load: Load<unknown>; what: string }) {
  if (load.state === 'loading') return <p aria-busy="true">Loading {what}…</p>;
  if (load.state === 'missing') return <p className="notice">Not available: this server does not offer {what} yet.</p>;
  if (load.state === 'forbidden') return <p className="notice">This needs an admin token; yours is a tenant token.</p>;
  if (load.state === 'error') return <p className="notice error">The {what} could not be loaded ({load.message}).</p>;
  return null;
}

/** Stores by status as horizontal bars, with the numbers in text (no colour-only meaning). */
export function StatusChart({ stores }: { stores: { status: string }[] }) {
  const counts = new Map<string, number>();
  for (const s of stores) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
  const max = Math.max(1, ...counts.values());
  const order: StoreStatus[] = ['requested', 'provisioning', 'ready', 'failed', 'deleting', 'deleted'];
  return (
    <figure className="chart">
      <figcaption>Stores by status</figcaption>
      <ul className="bars">
        {order.map((status) => (
          <li key={status}>
            <span className="bar-label">{STATUS_LABEL[status]}</span>
            <span className="bar-track" aria-hidden="true">
              <span className={`bar badge-${status}`} style={{ width: `${((counts.get(status) ?? 0) / max) * 100}%` }} />
            </span>
            <span className="bar-value">{counts.get(status) ?? 0}</span>
          </li>
        ))}
      </ul>
    </figure>
  );
}

export function Admin({ api }: { api: ApiClient }) {
  const tenants = useAdmin(api, readTenants);
  const stores = useAdmin(api, readStores);
  const audit = useAdmin(api, readAudit);
  return (
    <section aria-labelledby="admin-title">
      <h1 id="admin-title" tabIndex={-1}>
        Admin
      </h1>
      <p>
        <Link to="/admin/rollouts">Fleet rollouts of a store chart version</Link>: start one, watch its waves, pause, resume or abort it.
      </p>
      <h2>Every tenant&apos;s stores</h2>
      <Unavailable load={stores} what="the stores of all tenants" />
      {stores.state === 'ok' && (
        <>
          <StatusChart stores={stores.data.items} />
          <table className="stores">
            <caption className="visually-hidden">Stores of every tenant</caption>
            <thead>
              <tr>
                <th scope="col">Tenant</th>
                <th scope="col">Name</th>
                <th scope="col">Engine</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {stores.data.items.map((s) => (
                <tr key={s.id}>
                  <td data-label="Tenant">{s.tenant_id}</td>
                  <th scope="row" data-label="Name">{s.name ?? s.id}</th>
                  <td data-label="Engine">{s.engine ?? '—'}</td>
                  <td data-label="Status">{statusLabel(s.status)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <h2>Tenants and quotas</h2>
      <Unavailable load={tenants} what="the tenant list" />
      {tenants.state === 'ok' && (
        <table>
          <thead>
            <tr>
              <th scope="col">Tenant</th>
              <th scope="col">Stores</th>
              <th scope="col">Quota</th>
            </tr>
          </thead>
          <tbody>
            {tenants.data.items.map((t) => (
              <tr key={t.id}>
                <th scope="row">{t.id}</th>
                <td>{t.live_stores}</td>
                <td>{t.store_quota}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Audit trail</h2>
      <Unavailable load={audit} what="the audit trail" />
      {audit.state === 'ok' && (
        <ol className="timeline">
          {audit.data.items.map((e) => (
            <li key={e.id} className="event">
              <div className="event-head">
                <span className="event-name">
                  {e.action} {e.tenant_id ?? ''}
                </span>
                <time dateTime={e.at}>{new Date(e.at).toLocaleString()}</time>
              </div>
              <div className="event-reason">by {e.actor}</div>
            </li>
          ))}
        </ol>
      )}
      <h2>Platform figures</h2>
      <PlatformFiguresPanel api={api} />
    </section>
  );
}
