// Fleet rollouts of a store chart version (decision 13), for admins: the list with a form to
// start one, and one rollout with its settings, waves, progress bars, failures and its
// pause/resume/abort buttons. Live from the stream's `event: rollout` (admin streams); polls
// only while the stream is not live.
import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import {
  ApiError,
  type ApiClient,
  type ChartCatalogueEntry,
  type Engine,
  type Plan,
  type Rollout,
  type RolloutAction,
  type RolloutCounts,
  type RolloutProgress,
  type RolloutRequest,
} from '../lib/api';
import { useLive, usePolling } from '../lib/live-context';
import { Link, navigate } from '../lib/router';
import { ConfirmDialog } from './ConfirmDialog';

/** The store states of a rollout, in the order the bars show them, with their labels. */
export const ROLLOUT_STORE_STATES: { key: keyof RolloutCounts; label: string }[] = [
  { key: 'upgraded', label: 'Upgraded' },
  { key: 'upgrading', label: 'Upgrading' },
  { key: 'pending', label: 'Pending' },
  { key: 'failed', label: 'Failed' },
  { key: 'rolling_back', label: 'Rolling back' },
  { key: 'rolled_back', label: 'Rolled back' },
  { key: 'skipped', label: 'Skipped' },
];

const STATE_LABEL: Record<Rollout['state'], string> = {
  running: 'Running',
  paused: 'Paused',
  halted: 'Halted',
  aborted: 'Aborted',
  done: 'Done',
};

export const DATA_LOSS_WARNING =
  'This version migrates the stores’ data. Each store is backed up before its upgrade; a store that fails its health gate ' +
  'is rolled back and its backup restored, so whatever was written between the backup and the restore (orders placed meanwhile) is lost.';

/** A stream event applied to what the page shows: the changing fields replace the old ones. */
export function applyProgress(rollout: Rollout, progress: RolloutProgress): Rollout {
  if (rollout.id !== progress.id) return rollout;
  return { ...rollout, ...progress, failures: progress.failures };
}

function errorText(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 403) return 'This needs an admin token; yours is a tenant token.';
    return e.detail || e.title || `HTTP ${e.status}`;
  }
  return 'The server could not be reached.';
}

/** The stores of a rollout (or a wave) by state: a stacked bar, and the numbers in text. */
export function RolloutBar({ counts, label }: { counts: RolloutCounts; label: string }) {
  const total = ROLLOUT_STORE_STATES.reduce((n, s) => n + counts[s.key], 0);
  const summary = ROLLOUT_STORE_STATES.filter((s) => counts[s.key] > 0)
    .map((s) => `${counts[s.key]} ${s.label.toLowerCase()}`)
    .join(', ');
  return (
    <div className="rollout-bar">
      <div className="stack" role="img" aria-label={`${label}: ${total} stores${summary ? `: ${summary}` : ''}`}>
        {ROLLOUT_STORE_STATES.map((s) =>
          counts[s.key] > 0 ? (
            <span key={s.key} className={`stack-part roll-${s.key}`} style={{ width: `${(counts[s.key] / Math.max(1, total)) * 100}%` }} />
          ) : null,
        )}
      </div>
      <ul className="stack-legend">
        {ROLLOUT_STORE_STATES.filter((s) => (s.key !== 'rolling_back' && s.key !== 'skipped') || counts[s.key] > 0).map((s) => (
          <li key={s.key}>
            <span className={`swatch roll-${s.key}`} aria-hidden="true" />
            {s.label} <strong>{counts[s.key]}</strong>
          </li>
        ))}
      </ul>
    </div>
  );
}

function StateBadge({ state }: { state: Rollout['state'] }) {
  return <span className={`badge rollout-state rollout-${state}`}>{STATE_LABEL[state] ?? state}</span>;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function waveName(rollout: Rollout, wave: number): string {
  return rollout.has_canary && wave === 0 ? 'Canary' : `Wave ${rollout.has_canary ? wave : wave + 1}`;
}

/** Reads something once and again when the stream (re)connects or while it is not live. */
function useLiveRead<T>(read: (signal: AbortSignal) => Promise<T>) {
  const { mode, generation } = useLive();
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reload = useCallback(() => {
    const controller = new AbortController();
    read(controller.signal).then(
      (value) => {
        setData(value);
        setError(null);
      },
      (e: unknown) => {
        if (!controller.signal.aborted) setError(errorText(e));
      },
    );
    return controller;
  }, [read]);
  useEffect(() => {
    const controller = reload();
    return () => controller.abort();
  }, [reload, generation]);
  usePolling(mode !== 'live', () => void reload());
  return { data, setData, error, reload };
}

export function RolloutList({ api }: { api: ApiClient }) {
  const read = useCallback((signal: AbortSignal) => api.adminRollouts(signal), [api]);
  const { data, setData, error, reload } = useLiveRead(read);
  const { subscribeRollouts } = useLive();
  const shown = useRef<Set<string>>(new Set());
  shown.current = new Set(data?.items.map((r) => r.id) ?? []);
  useEffect(
    () =>
      subscribeRollouts((progress) => {
        // One started elsewhere: its settings come with the list.
        if (!shown.current.has(progress.id)) {
          reload();
          return;
        }
        setData((current) => (current ? { items: current.items.map((r) => applyProgress(r, progress)) } : current));
      }),
    [subscribeRollouts, setData, reload],
  );
  return (
    <section aria-labelledby="rollouts-title">
      <h1 id="rollouts-title" tabIndex={-1}>
        Rollouts
      </h1>
      <p>
        <Link to="/admin">Back to admin</Link>
      </p>
      <StartRollout api={api} onStarted={(rollout) => navigate(`/admin/rollouts/${rollout.id}`)} />
      <h2>All rollouts</h2>
      {error && <p className="notice error">The rollouts could not be loaded ({error}).</p>}
      {!data && !error && <p aria-busy="true">Loading the rollouts…</p>}
      {data && data.items.length === 0 && <p>No rollout yet.</p>}
      {data && data.items.length > 0 && (
        <table className="rollouts">
          <thead>
            <tr>
              <th scope="col">Rollout</th>
              <th scope="col">State</th>
              <th scope="col">Wave</th>
              <th scope="col">Progress</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((r) => (
              <tr key={r.id} data-rollout={r.id}>
                <th scope="row" data-label="Rollout">
                  <Link to={`/admin/rollouts/${r.id}`}>
                    {r.engine} {r.previous_version} → {r.target_version}
                  </Link>
                </th>
                <td data-label="State">
                  <StateBadge state={r.state} />
                </td>
                <td data-label="Wave">{r.waves > 0 ? `${waveName(r, r.wave)} (${r.wave + 1} of ${r.waves})` : '—'}</td>
                <td data-label="Progress">
                  <RolloutBar counts={r.counts} label={`${r.engine} to ${r.target_version}`} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Settings({ rollout }: { rollout: Rollout }) {
  const strategy = rollout.strategy as Record<string, unknown>;
  const selector = rollout.selector as Record<string, string[] | undefined>;
  const selected = ['tenants', 'plans', 'store_ids']
    .filter((k) => (selector[k] ?? []).length > 0)
    .map((k) => `${k.replace('_', ' ')}: ${(selector[k] ?? []).join(', ')}`);
  const waves = Array.isArray(strategy.waves) ? (strategy.waves as number[]).map((p) => `${p}%`).join(', ') : '—';
  return (
    <>
      <h2>Settings</h2>
      {rollout.migrates_data && (
        <p className="notice warning" role="note">
          <strong>Data loss on a rollback.</strong> {DATA_LOSS_WARNING}
        </p>
      )}
      <dl className="settings">
        <dt>Version</dt>
        <dd>
          {rollout.previous_version} → {rollout.target_version}
          {rollout.migrates_data ? ' (migrates data)' : ''}
        </dd>
        <dt>Stores</dt>
        <dd>{selected.length > 0 ? selected.join('; ') : `every active ${rollout.engine} store`}</dd>
        <dt>Canary</dt>
        <dd>{plural(Number(strategy.canary ?? 0), 'store')}</dd>
        <dt>Waves</dt>
        <dd>{waves}</dd>
        <dt>At most in flight</dt>
        <dd>{String(strategy.max_in_flight ?? '—')}</dd>
        <dt>Health gate</dt>
        <dd>Ready within {String(strategy.ready_within_seconds ?? '—')} s</dd>
        <dt>Failure budget</dt>
        <dd>
          halt after {plural(Number(strategy.max_failed ?? 0), 'failed store')} or {String(strategy.max_failed_percent ?? '—')}% of a wave
        </dd>
        <dt>On a halt</dt>
        <dd>{rollout.on_halt === 'rollback' ? 'roll the failed stores back' : 'pause'}</dd>
        <dt>Started by</dt>
        <dd>
          {rollout.created_by} at <time dateTime={rollout.created_at}>{new Date(rollout.created_at).toLocaleString()}</time>
        </dd>
      </dl>
    </>
  );
}

const ACTIONS: { action: RolloutAction; label: string; allowed: Rollout['state'][]; explain: string }[] = [
  { action: 'pause', label: 'Pause', allowed: ['running'], explain: 'No new store starts its upgrade; those under way finish.' },
  {
    action: 'resume',
    label: 'Resume',
    allowed: ['paused', 'halted'],
    explain: 'The rollout goes on; after a halt, its failure budget counts only the failures from now on.',
  },
  {
    action: 'abort',
    label: 'Abort',
    allowed: ['running', 'paused', 'halted'],
    explain: 'No new store starts its upgrade; those under way finish; the rollout is over and cannot be resumed.',
  },
];

export function RolloutDetail({ api, id }: { api: ApiClient; id: string }) {
  const read = useCallback((signal: AbortSignal) => api.adminRollout(id, signal), [api, id]);
  const { data: rollout, setData, error } = useLiveRead(read);
  const { subscribeRollouts } = useLive();
  const [asking, setAsking] = useState<(typeof ACTIONS)[number] | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => subscribeRollouts((progress) => setData((current) => (current ? applyProgress(current, progress) : current))), [
    subscribeRollouts,
    setData,
  ]);

  const act = async (action: RolloutAction) => {
    setAsking(null);
    setBusy(true);
    setActionError(null);
    try {
      setData(await api.adminRolloutAction(id, action));
    } catch (e) {
      setActionError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  if (!rollout) {
    return (
      <section>
        <h1 tabIndex={-1}>Rollout</h1>
        {error ? <p className="notice error">The rollout could not be loaded ({error}).</p> : <p aria-busy="true">Loading the rollout…</p>}
        <Link to="/admin/rollouts">All rollouts</Link>
      </section>
    );
  }
  const failures = rollout.failures ?? [];
  return (
    <section aria-labelledby="rollout-title" className="rollout" data-state={rollout.state}>
      <p>
        <Link to="/admin/rollouts">All rollouts</Link>
      </p>
      <h1 id="rollout-title" tabIndex={-1}>
        Rollout of {rollout.engine} to {rollout.target_version} <StateBadge state={rollout.state} />
      </h1>
      {rollout.reason && <p className="notice">{rollout.reason}</p>}
      <div className="actions" role="group" aria-label="Rollout actions">
        {ACTIONS.filter((a) => a.allowed.includes(rollout.state)).map((a) => (
          <button key={a.action} type="button" className={a.action === 'abort' ? 'danger' : undefined} disabled={busy} onClick={() => setAsking(a)}>
            {a.label}
          </button>
        ))}
      </div>
      {actionError && (
        <p className="notice error" role="alert">
          {actionError}
        </p>
      )}
      {asking && (
        <ConfirmDialog
          title={`${asking.label} this rollout?`}
          confirmLabel={asking.label}
          onConfirm={() => void act(asking.action)}
          onCancel={() => setAsking(null)}
        >
          <p>{asking.explain}</p>
        </ConfirmDialog>
      )}
      <h2>Progress</h2>
      <p>
        {plural(rollout.stores, 'store')};{' '}
        {rollout.waves > 0 ? `current: ${waveName(rollout, rollout.wave).toLowerCase()} (${rollout.wave + 1} of ${plural(rollout.waves, 'wave')})` : 'nothing to do'}
        {rollout.has_canary && (rollout.canary_passed ? '; the canary passed: new stores get the target' : '; new stores get the previous version until the canary passes')}
      </p>
      <RolloutBar counts={rollout.counts} label="All stores" />
      <h2>Waves</h2>
      <ol className="waves">
        {rollout.wave_counts.map((w) => (
          <li key={w.wave} aria-current={w.wave === rollout.wave && rollout.state !== 'done' ? 'step' : undefined}>
            <h3>
              {waveName(rollout, w.wave)}
              {w.wave === rollout.wave && rollout.state !== 'done' ? ' (current)' : ''}
            </h3>
            <RolloutBar counts={w} label={waveName(rollout, w.wave)} />
          </li>
        ))}
      </ol>
      <h2>Failures</h2>
      {failures.length === 0 ? (
        <p>No store failed.</p>
      ) : (
        <table className="failures">
          <thead>
            <tr>
              <th scope="col">Store</th>
              <th scope="col">Wave</th>
              <th scope="col">State</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {failures.map((f) => (
              <tr key={f.store_id}>
                <th scope="row" data-label="Store">
                  <Link to={`/stores/${f.store_id}`}>{f.store_id}</Link>
                </th>
                <td data-label="Wave">{waveName(rollout, f.wave)}</td>
                <td data-label="State">{ROLLOUT_STORE_STATES.find((s) => s.key === f.state)?.label ?? f.state}</td>
                <td data-label="Reason">
                  {f.reason}
                  {f.from_version ? ` (was ${f.from_version})` : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Settings rollout={rollout} />
    </section>
  );
}

const PLANS: Plan[] = ['small', 'medium', 'large'];

/** The newest version that new stores do not get yet: what a rollout most likely wants. */
function likelyTarget(entry: ChartCatalogueEntry): string {
  const others = entry.versions.filter((v) => v.version !== entry.for_new_stores);
  const pick = others.length > 0 ? others : entry.versions;
  return pick[pick.length - 1]?.version ?? '';
}

function list(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** The form to start a rollout; the API validates it, and its errors are shown by the fields. */
export function StartRollout({ api, onStarted }: { api: ApiClient; onStarted: (rollout: Rollout) => void }) {
  const [charts, setCharts] = useState<ChartCatalogueEntry[] | null>(null);
  const [engine, setEngine] = useState<Engine>('woocommerce');
  const [target, setTarget] = useState('');
  const [tenants, setTenants] = useState('');
  const [plans, setPlans] = useState<Plan[]>([]);
  const [storeIds, setStoreIds] = useState('');
  const [canary, setCanary] = useState('1');
  const [waves, setWaves] = useState('25, 50, 100');
  const [maxInFlight, setMaxInFlight] = useState('5');
  const [readyWithin, setReadyWithin] = useState('600');
  const [maxFailed, setMaxFailed] = useState('1');
  const [maxFailedPercent, setMaxFailedPercent] = useState('10');
  const [onHalt, setOnHalt] = useState<'pause' | 'rollback'>('rollback');
  const [error, setError] = useState<ApiError | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [sending, setSending] = useState(false);

  useEffect(() => {
    const controller = new AbortController();
    api.adminCharts(controller.signal).then(
      (catalogue) => {
        setCharts(catalogue.items);
        const first = catalogue.items[0];
        if (first) {
          setEngine(first.engine);
          setTarget(likelyTarget(first));
        }
      },
      (e: unknown) => {
        if (!controller.signal.aborted) setFailure(`The chart catalogue could not be loaded (${errorText(e)}).`);
      },
    );
    return () => controller.abort();
  }, [api]);

  const versions = charts?.find((c) => c.engine === engine)?.versions ?? [];
  const forNewStores = charts?.find((c) => c.engine === engine)?.for_new_stores ?? '';
  const chosen = versions.find((v) => v.version === target);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setSending(true);
    setError(null);
    setFailure(null);
    const number = (text: string) => (text.trim() === '' ? Number.NaN : Number(text));
    const body: RolloutRequest = {
      engine,
      target_version: target,
      selector: { tenants: list(tenants), plans, store_ids: list(storeIds) },
      strategy: {
        canary: number(canary),
        waves: list(waves).map(Number),
        max_in_flight: number(maxInFlight),
        ready_within_seconds: number(readyWithin),
        max_failed: number(maxFailed),
        max_failed_percent: number(maxFailedPercent),
      },
      on_halt: onHalt,
    };
    try {
      onStarted(await api.adminCreateRollout(body));
    } catch (e) {
      if (e instanceof ApiError && e.status !== 403) setError(e);
      else setFailure(errorText(e));
    } finally {
      setSending(false);
    }
  };

  const fieldError = (field: string) => {
    const message = error?.fieldMessage(field);
    return message ? (
      <span className="field-error" id={`rollout-${field.replace('.', '-')}-error`}>
        {message}
      </span>
    ) : null;
  };
  const described = (field: string) => (error?.fieldMessage(field) ? `rollout-${field.replace('.', '-')}-error` : undefined);

  return (
    <details className="start-rollout">
      <summary>Start a rollout</summary>
      <form onSubmit={(e) => void submit(e)} noValidate aria-label="Start a rollout">
        {(error || failure) && (
          <div className="notice error" role="alert">
            {failure ?? (error?.detail || error?.title)}
            {error && error.errors.length > 0 && (
              <ul>
                {error.errors.map((e) => (
                  <li key={e.field}>
                    {e.field}: {e.message}
                  </li>
                ))}
              </ul>
            )}
          </div>
        )}
        <label>
          Engine
          <select
            value={engine}
            onChange={(e) => {
              const next = e.target.value as Engine;
              setEngine(next);
              const entry = charts?.find((c) => c.engine === next);
              setTarget(entry ? likelyTarget(entry) : '');
            }}
            aria-describedby={described('engine')}
          >
            {(charts ?? [{ engine: 'woocommerce' as Engine }, { engine: 'medusa' as Engine }]).map((c) => (
              <option key={c.engine} value={c.engine}>
                {c.engine}
              </option>
            ))}
          </select>
        </label>
        {fieldError('engine')}
        <label>
          Target version
          <select value={target} onChange={(e) => setTarget(e.target.value)} aria-describedby={described('target_version')}>
            {versions.map((v) => (
              <option key={v.version} value={v.version}>
                {v.version} ({v.app_version}){v.version === forNewStores ? ', for new stores now' : ''}
                {v.migrates_data ? ', migrates data' : ''}
              </option>
            ))}
          </select>
        </label>
        {fieldError('target_version')}
        {chosen?.migrates_data && (
          <p className="notice warning" role="note">
            <strong>Data loss on a rollback.</strong> {DATA_LOSS_WARNING}
          </p>
        )}
        <fieldset>
          <legend>Stores (empty: every active store of the engine)</legend>
          <label>
            Tenants (comma-separated)
            <input value={tenants} onChange={(e) => setTenants(e.target.value)} aria-describedby={described('selector.tenants')} />
          </label>
          {fieldError('selector.tenants')}
          <div role="group" aria-label="Plans">
            Plans:{' '}
            {PLANS.map((p) => (
              <label key={p} className="inline">
                <input
                  type="checkbox"
                  checked={plans.includes(p)}
                  onChange={(e) => setPlans((current) => (e.target.checked ? [...current, p] : current.filter((x) => x !== p)))}
                />
                {p}
              </label>
            ))}
          </div>
          <label>
            Store ids (comma-separated)
            <input value={storeIds} onChange={(e) => setStoreIds(e.target.value)} aria-describedby={described('selector.store_ids')} />
          </label>
          {fieldError('selector.store_ids')}
        </fieldset>
        <fieldset>
          <legend>Strategy</legend>
          <label>
            Canary stores
            <input inputMode="numeric" value={canary} onChange={(e) => setCanary(e.target.value)} aria-describedby={described('strategy.canary')} />
          </label>
          {fieldError('strategy.canary')}
          <label>
            Waves (cumulative %, comma-separated)
            <input value={waves} onChange={(e) => setWaves(e.target.value)} aria-describedby={described('strategy.waves')} />
          </label>
          {fieldError('strategy.waves')}
          <label>
            At most in flight
            <input
              inputMode="numeric"
              value={maxInFlight}
              onChange={(e) => setMaxInFlight(e.target.value)}
              aria-describedby={described('strategy.max_in_flight')}
            />
          </label>
          {fieldError('strategy.max_in_flight')}
          <label>
            Ready within (seconds)
            <input
              inputMode="numeric"
              value={readyWithin}
              onChange={(e) => setReadyWithin(e.target.value)}
              aria-describedby={described('strategy.ready_within_seconds')}
            />
          </label>
          {fieldError('strategy.ready_within_seconds')}
          <label>
            Halt after this many failed stores
            <input
              inputMode="numeric"
              value={maxFailed}
              onChange={(e) => setMaxFailed(e.target.value)}
              aria-describedby={described('strategy.max_failed')}
            />
          </label>
          {fieldError('strategy.max_failed')}
          <label>
            or this % of a wave
            <input
              inputMode="numeric"
              value={maxFailedPercent}
              onChange={(e) => setMaxFailedPercent(e.target.value)}
              aria-describedby={described('strategy.max_failed_percent')}
            />
          </label>
          {fieldError('strategy.max_failed_percent')}
        </fieldset>
        <fieldset>
          <legend>On a halt</legend>
          <label className="inline">
            <input type="radio" name="on-halt" checked={onHalt === 'rollback'} onChange={() => setOnHalt('rollback')} />
            Roll the failed stores back
          </label>
          <label className="inline">
            <input type="radio" name="on-halt" checked={onHalt === 'pause'} onChange={() => setOnHalt('pause')} />
            Pause
          </label>
          {fieldError('on_halt')}
        </fieldset>
        <button type="submit" className="primary" disabled={sending || charts === null}>
          {sending ? 'Starting…' : 'Start rollout'}
        </button>
      </form>
    </details>
  );
}
