import type { StoreCondition, StoreEvent, StoreStatus } from './api';

/** "4 s", "3 min 5 s", "2 h 10 min", "3 d 4 h". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  const s = Math.floor(ms / 1000);
  if (s < 1) return `${Math.round(ms)} ms`;
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

export function timeSince(iso: string, now: number = Date.now()): string {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return '';
  const ms = now - at;
  if (ms < 5000) return 'just now';
  return `${formatDuration(ms)} ago`;
}

/** The provisioning steps in order (services/provisioner), for the progress bar. */
export const STEPS = ['namespace', 'guardrails', 'secret', 'helm', 'readiness'] as const;

export const STATUS_LABEL: Record<StoreStatus, string> = {
  requested: 'Requested',
  provisioning: 'Provisioning',
  ready: 'Ready',
  suspended: 'Suspended',
  degraded: 'Degraded',
  failed: 'Failed',
  deleting: 'Deleting',
  deleted: 'Deleted',
};

export const TERMINAL: ReadonlySet<string> = new Set(['ready', 'suspended', 'degraded', 'failed', 'deleted']);

/** Where a store stands against its desired state (docs/openapi.yaml Condition). */
export const CONDITION_LABEL: Record<StoreCondition['state'], string> = {
  in_sync: 'In sync',
  converging: 'Converging',
  out_of_sync: 'Out of sync',
  degraded: 'Degraded',
};

/** "generation 3, converged 2": how far the store is from what was last asked of it. */
export function generationText(store: { generation: number; observed_generation: number }): string {
  return store.observed_generation > 0
    ? `generation ${store.generation}, converged ${store.observed_generation}`
    : `generation ${store.generation}, not converged yet`;
}

/**
 * The store chart's version (docs/openapi.yaml Store.chart_version and desired.chart_version):
 * "0.2.0" when the store runs what it is asked to, "0.1.1 → 0.2.0" while it moves from the
 * version it runs to the one asked (an upgrade, or a rollback), and the asked one alone
 * before it first converged.
 */
export function chartVersionText(store: { chart_version?: string | null; desired?: { chart_version?: string | null } }): string {
  const observed = store.chart_version ?? null;
  const desired = store.desired?.chart_version ?? null;
  if (!observed) return desired ? `${desired}, not converged yet` : '—';
  if (!desired || desired === observed) return observed;
  return `${observed} → ${desired}`;
}

/** 0..1 through the provisioning steps; 1 when ready. */
export function stepProgress(status: string, step: string | null): number {
  if (status === 'ready') return 1;
  if (status === 'requested') return 0;
  if (status !== 'provisioning') return 0;
  const index = step ? STEPS.indexOf(step as (typeof STEPS)[number]) : -1;
  return index < 0 ? 0 : index / STEPS.length;
}

export interface TimelineRow {
  event: StoreEvent;
  /** Time until the next event (how long this state lasted); null for the last, open one. */
  durationMs: number | null;
  /** Time since the first event. */
  offsetMs: number;
}

/** Each event with how long its state lasted (the gap to the next event). */
export function timelineRows(events: StoreEvent[]): TimelineRow[] {
  const times = events.map((e) => Date.parse(e.occurred_at));
  const first = times[0] ?? 0;
  return events.map((event, i) => ({
    event,
    durationMs: i + 1 < events.length ? Math.max(0, times[i + 1] - times[i]) : null,
    offsetMs: Math.max(0, times[i] - first),
  }));
}

/** Requested to Ready, when the timeline has both. */
export function timeToReady(events: StoreEvent[]): number | null {
  if (events.length === 0) return null;
  const ready = events.find((e) => e.status === 'ready');
  if (!ready) return null;
  return Date.parse(ready.occurred_at) - Date.parse(events[0].occurred_at);
}

const STATUS_NAMES: ReadonlySet<string> = new Set(Object.keys(STATUS_LABEL));

/** The step worth showing: none when it only repeats a status (a ready store's step is "ready"). */
export function shownStep(step: string | null): string | null {
  return step && !STATUS_NAMES.has(step) ? step : null;
}
