import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, type ApiClient, type Engine, type Store, type StoreStatus } from '../lib/api';
import { generationText, STATUS_LABEL, timeSince } from '../lib/format';
import { useLive, useNow, usePolling } from '../lib/live-context';
import { Link } from '../lib/router';
import { ConditionBadge, StatusBadge, StepProgress } from './StatusBadge';

export const PAGE_SIZE = 20;
const STATUSES = ['requested', 'provisioning', 'ready', 'suspended', 'degraded', 'failed', 'deleting', 'deleted'] as const;

interface Filters {
  status: StoreStatus | '';
  engine: Engine | '';
  search: string;
  hideDeleted: boolean;
}

// Kept across screens, so coming back from a store's page finds the list where it was.
let remembered: { filters: Filters; cursors: (string | null)[]; page: number } = {
  filters: { status: '', engine: '', search: '', hideDeleted: true },
  cursors: [null],
  page: 0,
};

/** The name prefix the API accepts (a-z, 0-9, '-'); null when the search cannot match any name. */
export function searchPrefix(search: string): string | null {
  const prefix = search.trim().toLowerCase();
  return /^[a-z0-9-]*$/.test(prefix) ? prefix : null;
}

function matches(store: Store, filters: Filters): boolean {
  const prefix = searchPrefix(filters.search) ?? '';
  return (
    (!filters.status || store.status === filters.status) &&
    (!filters.engine || store.engine === filters.engine) &&
    (!prefix || (store.name ?? '').startsWith(prefix))
  );
}

export function StoreList({ api }: { api: ApiClient }) {
  const [filters, setFilters] = useState<Filters>(remembered.filters);
  const [query, setQuery] = useState<Filters>(remembered.filters); // filters after the search debounce
  const [cursors, setCursors] = useState<(string | null)[]>(remembered.cursors);
  const [page, setPage] = useState(remembered.page);
  const [items, setItems] = useState<Store[] | null>(null);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [announcement, setAnnouncement] = useState('');
  const { mode, subscribe, generation } = useLive();
  const now = useNow();
  const request = useRef(0);

  useEffect(() => {
    remembered = { filters, cursors, page };
  }, [filters, cursors, page]);

  // The search waits for a pause in typing; the selects apply at once.
  useEffect(() => {
    const id = setTimeout(() => setQuery(filters), filters.search === query.search ? 0 : 300);
    return () => clearTimeout(id);
  }, [filters, query.search]);

  const prefix = searchPrefix(query.search);
  const load = useCallback(
    async (quiet: boolean) => {
      if (prefix === null) {
        setItems([]);
        setNextCursor(null);
        return;
      }
      const mine = ++request.current;
      try {
        const result = await api.listStores({
          limit: PAGE_SIZE,
          cursor: cursors[page],
          status: query.status || undefined,
          engine: query.engine || undefined,
          name_prefix: prefix,
        });
        if (mine !== request.current) return;
        setItems(result.items);
        setNextCursor(result.next_cursor);
        setError(null);
      } catch (e) {
        if (mine !== request.current || (e instanceof ApiError && e.status === 401)) return;
        if (!quiet || items === null) {
          setError(e instanceof ApiError ? `The stores could not be loaded: ${e.detail || e.title || e.status}` : 'The server cannot be reached; retrying.');
        }
      }
    },
    // Not on items: it only decides whether an error shows, and must not reload the page.
    [api, cursors, page, query.status, query.engine, prefix],
  );

  useEffect(() => {
    void load(generation > 0);
  }, [load, generation]);

  // Live: a store on this page changes in place (the page never shifts under the reader);
  // a new store that matches shows on the first page.
  useEffect(
    () =>
      subscribe((store) => {
        setItems((current) => {
          if (current === null) return current;
          const at = current.findIndex((s) => s.id === store.id);
          if (at >= 0) {
            if (current[at].status !== store.status && store.name) {
              setAnnouncement(`${store.name} is now ${STATUS_LABEL[store.status] ?? store.status}`);
            }
            const next = current.slice();
            next[at] = store;
            return next;
          }
          if (page === 0 && matches(store, query) && (current.length === 0 || store.created_at >= current[0].created_at)) {
            return [store, ...current];
          }
          return current;
        });
      }),
    [subscribe, page, query],
  );

  usePolling(mode !== 'live', () => void load(true), 3000);

  const setFilter = (patch: Partial<Filters>) => {
    setFilters((f) => ({ ...f, ...patch }));
    setCursors([null]);
    setPage(0);
  };

  const anyFilter = filters.status !== '' || filters.engine !== '' || filters.search !== '';
  const visible = (items ?? []).filter((s) => !(filters.hideDeleted && !query.status && s.status === 'deleted'));

  return (
    <section aria-labelledby="list-title">
      <div className="title-row">
        <h1 id="list-title" tabIndex={-1}>
          Stores
        </h1>
        <Link to="/stores/new" className="button primary">
          New store
        </Link>
      </div>
      <form className="filters" role="search" aria-label="Filter stores" onSubmit={(e) => e.preventDefault()}>
        <div className="field">
          <label htmlFor="search">Search by name</label>
          <input
            id="search"
            type="search"
            value={filters.search}
            placeholder="Name starts with…"
            onChange={(e) => setFilter({ search: e.target.value })}
            aria-describedby={searchPrefix(filters.search) === null ? 'search-error' : undefined}
          />
          {searchPrefix(filters.search) === null && (
            <p id="search-error" className="field-error">
              Store names only have a-z, 0-9 and &apos;-&apos;.
            </p>
          )}
        </div>
        <div className="field">
          <label htmlFor="status-filter">Status</label>
          <select id="status-filter" value={filters.status} onChange={(e) => setFilter({ status: e.target.value as Filters['status'] })}>
            <option value="">Any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {STATUS_LABEL[s]}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="engine-filter">Engine</label>
          <select id="engine-filter" value={filters.engine} onChange={(e) => setFilter({ engine: e.target.value as Filters['engine'] })}>
            <option value="">Any</option>
            <option value="woocommerce">WooCommerce</option>
            <option value="medusa">Medusa</option>
          </select>
        </div>
        <div className="field checkbox">
          <input
            id="hide-deleted"
            type="checkbox"
            checked={filters.hideDeleted}
            disabled={filters.status !== ''}
            onChange={(e) => setFilters((f) => ({ ...f, hideDeleted: e.target.checked }))}
          />
          <label htmlFor="hide-deleted">Hide deleted</label>
        </div>
      </form>

      <p className="live-note" aria-live="polite">
        {announcement}
      </p>

      {error && (
        <p className="notice error" role="alert">
          {error}
        </p>
      )}

      {items === null && !error && <p aria-busy="true">Loading stores…</p>}

      {items !== null && visible.length === 0 && page === 0 && !anyFilter && (
        <div className="empty">
          <h2>No stores yet</h2>
          <p>
            A store is a WooCommerce or Medusa shop with its own namespace, credentials and URL. Create one: pick a
            name and an engine, and watch it become Ready here in about a minute.
          </p>
          <Link to="/stores/new" className="button primary">
            Create your first store
          </Link>
        </div>
      )}
      {items !== null && visible.length === 0 && (page > 0 || anyFilter) && (
        <div className="empty">
          <p>No stores match these filters.</p>
          <button type="button" onClick={() => setFilter({ status: '', engine: '', search: '' })}>
            Clear filters
          </button>
        </div>
      )}

      {visible.length > 0 && (
        <table className="stores">
          <caption className="visually-hidden">Your stores, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Engine</th>
              <th scope="col">Plan</th>
              <th scope="col">Status</th>
              <th scope="col">Condition</th>
              <th scope="col">Progress</th>
              <th scope="col">Requested</th>
            </tr>
          </thead>
          <tbody>
            {visible.map((store) => (
              <tr key={store.id} data-store-id={store.id} data-store-name={store.name ?? ''}>
                <th scope="row" data-label="Name">
                  <Link to={`/stores/${store.id}`}>{store.name ?? store.id}</Link>
                </th>
                <td data-label="Engine">{store.engine === 'woocommerce' ? 'WooCommerce' : store.engine === 'medusa' ? 'Medusa' : '—'}</td>
                <td data-label="Plan">{store.plan ?? '—'}</td>
                <td data-label="Status">
                  <StatusBadge status={store.status} />
                </td>
                <td data-label="Condition">
                  {store.condition && <ConditionBadge condition={store.condition} />}
                  <span className="generation" data-testid="generation">
                    {generationText(store)}
                  </span>
                </td>
                <td data-label="Progress">
                  <StepProgress status={store.status} step={store.step} />
                </td>
                <td data-label="Requested">
                  <time dateTime={store.created_at} title={new Date(store.created_at).toLocaleString()}>
                    {timeSince(store.created_at, now)}
                  </time>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      {(page > 0 || nextCursor) && (
        <nav className="pager" aria-label="Pages">
          <button type="button" disabled={page === 0} onClick={() => setPage((p) => p - 1)}>
            Newer
          </button>
          <span>Page {page + 1}</span>
          <button
            type="button"
            disabled={!nextCursor}
            onClick={() => {
              setCursors((c) => [...c.slice(0, page + 1), nextCursor]);
              setPage((p) => p + 1);
            }}
          >
            Older
          </button>
        </nav>
      )}
    </section>
  );
}
