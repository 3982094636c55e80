import { useEffect, useId, useState } from 'react';
import { ApiError, type ApiClient, type FiguresBucket, type PartitionLag, type PlatformFigures } from '../lib/api';

/*
 * The admin view's platform figures (GET /api/v1/admin/figures) as plain SVG charts: no chart
 * library (the first-load script budget). Every chart has a title, a text summary the SVG is
 * described by, and its numbers in a table, so nothing is only a picture or only a colour.
 * The SVGs scale to their box (viewBox, no fixed width); their labels are HTML, so they stay
 * readable on a 375 px phone.
 */

const WINDOWS = [
  { value: '15m', label: 'Last 15 minutes' },
  { value: '1h', label: 'Last hour' },
  { value: '6h', label: 'Last 6 hours' },
  { value: '24h', label: 'Last 24 hours' },
] as const;

const REFRESH_MS = 10_000;
const W = 600;
const H = 160;

function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function seconds(value: number): string {
  return value < 10 ? `${value.toFixed(1)} s` : `${Math.round(value)} s`;
}

/** A "nice" ceiling for an axis: 1, 2 or 5 times a power of ten. */
export function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function Axis({ max, unit, first, last }: { max: string; unit: string; first?: string; last?: string }) {
  return (
    <div className="chart-axis" aria-hidden="true">
      <span>
        max {max} {unit}
      </span>
      {first && last && (
        <span>
          {clock(first)} – {clock(last)}
        </span>
      )}
    </div>
  );
}

const SERIES = [
  { key: 'p50', label: 'p50', className: 'series-p50' },
  { key: 'p90', label: 'p90', className: 'series-p90' },
  { key: 'p99', label: 'p99', className: 'series-p99' },
] as const;

/** POST-to-Ready p50/p90/p99 over time: one line each (solid, dashed, dotted), points where stores became Ready. */
export function PercentileChart({ buckets }: { buckets: FiguresBucket[] }) {
  const id = useId();
  const timed = buckets.filter((b) => b.post_to_ready_seconds);
  const max = niceMax(Math.max(0, ...timed.map((b) => b.post_to_ready_seconds!.p99)));
  // Inset so a point at either end is drawn whole.
  const x = (i: number) => (buckets.length <= 1 ? W / 2 : 6 + (i / (buckets.length - 1)) * (W - 12));
  const y = (v: number) => H - (v / max) * (H - 8);
  const summary =
    timed.length === 0
      ? 'No store became Ready in this window.'
      : `${plural(timed.reduce((n, b) => n + b.ready, 0), 'store', 'stores')} became Ready; the slowest p99 was ${seconds(
          Math.max(...timed.map((b) => b.post_to_ready_seconds!.p99)),
        )}, the latest p50 ${seconds(timed[timed.length - 1].post_to_ready_seconds!.p50)}.`;
  return (
    <figure className="chart" aria-labelledby={`${id}-title`}>
      <figcaption id={`${id}-title`}>POST to Ready, percentiles over time</figcaption>
      <p id={`${id}-desc`} className="chart-summary">
        {summary}
      </p>
      <ul className="legend" aria-hidden="true">
        {SERIES.map((s) => (
          <li key={s.key}>
            <svg width="28" height="10" viewBox="0 0 28 10">
              <line x1="0" y1="5" x2="28" y2="5" className={`line ${s.className}`} />
            </svg>
            {s.label}
          </li>
        ))}
      </ul>
      <svg className="plot" viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-labelledby={`${id}-title ${id}-desc`}>
        <line x1="0" y1={H} x2={W} y2={H} className="baseline" />
        {SERIES.map((s) => {
          const points = buckets
            .map((b, i) => (b.post_to_ready_seconds ? `${x(i).toFixed(1)},${y(b.post_to_ready_seconds[s.key]).toFixed(1)}` : null))
            .filter((p): p is string => p !== null);
          if (points.length === 0) return null;
          return (
            <g key={s.key}>
              {points.length > 1 && <polyline points={points.join(' ')} className={`line ${s.className}`} />}
              {points.map((p) => {
                // A zero-length round-capped line: a dot that stays round in a stretched viewBox.
                const [cx, cy] = p.split(',');
                return <line key={p} x1={cx} y1={cy} x2={cx} y2={cy} className={`dot ${s.className}`} />;
              })}
            </g>
          );
        })}
      </svg>
      <Axis max={String(max)} unit="s" first={buckets[0]?.start} last={buckets[buckets.length - 1]?.start} />
      {timed.length > 0 && (
        <details>
          <summary>Show the numbers</summary>
          <table className="figures-table">
            <caption className="visually-hidden">POST to Ready in seconds per time bucket</caption>
            <thead>
              <tr>
                <th scope="col">From</th>
                <th scope="col">Ready</th>
                <th scope="col">p50</th>
                <th scope="col">p90</th>
                <th scope="col">p99</th>
              </tr>
            </thead>
            <tbody>
              {timed.map((b) => (
                <tr key={b.start}>
                  <th scope="row">{clock(b.start)}</th>
                  <td>{b.ready}</td>
                  <td>{seconds(b.post_to_ready_seconds!.p50)}</td>
                  <td>{seconds(b.post_to_ready_seconds!.p90)}</td>
                  <td>{seconds(b.post_to_ready_seconds!.p99)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </figure>
  );
}

/** Stores Ready and Failed per minute, per bucket: paired columns (Failed hatched as well as red). */
export function ThroughputChart({ buckets, bucketSeconds }: { buckets: FiguresBucket[]; bucketSeconds: number }) {
  const id = useId();
  const max = niceMax(Math.max(0, ...buckets.map((b) => Math.max(b.ready_per_minute, b.failed_per_minute))));
  const slot = W / Math.max(1, buckets.length);
  const bar = Math.max(1, slot / 2 - 1);
  const ready = buckets.reduce((n, b) => n + b.ready, 0);
  const failed = buckets.reduce((n, b) => n + b.failed, 0);
  const busy = buckets.filter((b) => b.ready > 0 || b.failed > 0);
  const minutes = Math.round(bucketSeconds / 60);
  return (
    <figure className="chart" aria-labelledby={`${id}-title`}>
      <figcaption id={`${id}-title`}>Provisioning throughput, stores per minute</figcaption>
      <p id={`${id}-desc`} className="chart-summary">
        {ready} Ready and {failed} Failed in this window ({minutes === 1 ? 'per minute' : `in ${minutes}-minute buckets`}).
      </p>
      <ul className="legend" aria-hidden="true">
        <li>
          <span className="swatch series-ready" /> Ready
        </li>
        <li>
          <span className="swatch series-failed" /> Failed
        </li>
      </ul>
      <svg className="plot" viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-labelledby={`${id}-title ${id}-desc`}>
        <defs>
          <pattern id={`${id}-hatch`} width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
            <rect width="6" height="6" className="series-failed" />
            <line x1="0" y1="0" x2="0" y2="6" className="hatch" />
          </pattern>
        </defs>
        <line x1="0" y1={H} x2={W} y2={H} className="baseline" />
        {buckets.map((b, i) => {
          const hr = (b.ready_per_minute / max) * (H - 8);
          const hf = (b.failed_per_minute / max) * (H - 8);
          return (
            <g key={b.start}>
              {hr > 0 && <rect x={i * slot} y={H - hr} width={bar} height={hr} className="series-ready" />}
              {hf > 0 && <rect x={i * slot + bar + 1} y={H - hf} width={bar} height={hf} fill={`url(#${id}-hatch)`} />}
            </g>
          );
        })}
      </svg>
      <Axis max={String(max)} unit="per minute" first={buckets[0]?.start} last={buckets[buckets.length - 1]?.start} />
      {busy.length > 0 && (
        <details>
          <summary>Show the numbers</summary>
          <table className="figures-table">
            <caption className="visually-hidden">Stores Ready and Failed per time bucket</caption>
            <thead>
              <tr>
                <th scope="col">From</th>
                <th scope="col">Ready</th>
                <th scope="col">Failed</th>
              </tr>
            </thead>
            <tbody>
              {busy.map((b) => (
                <tr key={b.start}>
                  <th scope="row">{clock(b.start)}</th>
                  <td>{b.ready}</td>
                  <td>{b.failed}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </figure>
  );
}

/** Consumer lag per partition, one small column chart per consumer group and topic. */
export function LagChart({ lag }: { lag: PlatformFigures['consumer_lag'] }) {
  const id = useId();
  const groups = new Map<string, PartitionLag[]>();
  for (const p of lag.partitions) {
    const key = `${p.group} on ${p.topic}`;
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }
  return (
    <figure className="chart chart-wide" aria-labelledby={`${id}-title`}>
      <figcaption id={`${id}-title`}>Consumer lag per partition</figcaption>
      {!lag.available && <p className="notice">Consumer lag is unavailable: {lag.reason ?? 'Kafka did not answer'}.</p>}
      {lag.available && groups.size === 0 && <p className="chart-summary">No consumer group to show.</p>}
      <div className="lag-groups">
        {[...groups.entries()].map(([name, partitions], g) => {
          const total = partitions.reduce((n, p) => n + p.lag, 0);
          const max = niceMax(Math.max(0, ...partitions.map((p) => p.lag)));
          const slot = W / Math.max(1, partitions.length);
          const descId = `${id}-g${g}`;
          return (
            <div key={name} className="lag-group">
              <h3 id={`${descId}-title`}>{name}</h3>
              <p id={descId} className="chart-summary">
                {total === 0
                  ? `Caught up on all ${plural(partitions.length, 'partition', 'partitions')}.`
                  : `${plural(total, 'message', 'messages')} behind; most on partition ${
                      partitions.reduce((a, b) => (b.lag > a.lag ? b : a)).partition
                    }.`}
              </p>
              <svg className="plot plot-small" viewBox={`0 0 ${W} 60`} preserveAspectRatio="none" role="img" aria-labelledby={`${descId}-title ${descId}`}>
                <line x1="0" y1="60" x2={W} y2="60" className="baseline" />
                {partitions.map((p, i) => {
                  const h = (p.lag / max) * 56;
                  return h > 0 ? <rect key={p.partition} x={i * slot + 1} y={60 - h} width={Math.max(1, slot - 2)} height={h} className="series-lag" /> : null;
                })}
              </svg>
              <div className="chart-axis" aria-hidden="true">
                <span>{total === 0 ? 'no lag' : `max ${plural(max, 'message', 'messages')}`}</span>
                <span>
                  partitions {partitions[0].partition}–{partitions[partitions.length - 1].partition}
                </span>
              </div>
              <details>
                <summary>Show the numbers</summary>
                <table className="figures-table">
                  <caption className="visually-hidden">Lag of {name} per partition</caption>
                  <thead>
                    <tr>
                      <th scope="col">Partition</th>
                      <th scope="col">Committed</th>
                      <th scope="col">End</th>
                      <th scope="col">Lag</th>
                    </tr>
                  </thead>
                  <tbody>
                    {partitions.map((p) => (
                      <tr key={p.partition}>
                        <th scope="row">{p.partition}</th>
                        <td>{p.committed_offset ?? 'none'}</td>
                        <td>{p.end_offset}</td>
                        <td>{p.lag}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </details>
            </div>
          );
        })}
      </div>
    </figure>
  );
}

type Load = { state: 'loading' } | { state: 'ok'; data: PlatformFigures } | { state: 'missing' } | { state: 'error'; message: string };

/** The three charts over a chosen window, refreshed every 10 s (the server keeps an answer 2 s). */
export function PlatformFiguresPanel({ api }: { api: ApiClient }) {
  const [span, setSpan] = useState<string>('1h');
  const [load, setLoad] = useState<Load>({ state: 'loading' });
  const selectId = useId();
  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const fetchOnce = () => {
      api.figures(span, controller.signal).then(
        (data) => {
          setLoad({ state: 'ok', data });
          timer = setTimeout(fetchOnce, REFRESH_MS);
        },
        (e: unknown) => {
          if (controller.signal.aborted) return;
          if (e instanceof ApiError && (e.status === 404 || e.status === 405 || e.status === 501)) {
            setLoad({ state: 'missing' });
            return;
          }
          setLoad({ state: 'error', message: e instanceof ApiError ? e.detail || String(e.status) : 'unreachable' });
          timer = setTimeout(fetchOnce, REFRESH_MS);
        },
      );
    };
    fetchOnce();
    return () => {
      controller.abort();
      if (timer) clearTimeout(timer);
    };
  }, [api, span]);
  return (
    <div className="figures">
      <div className="figures-window">
        <label htmlFor={selectId}>Time window</label>
        <select id={selectId} value={span} onChange={(e) => setSpan(e.target.value)}>
          {WINDOWS.map((w) => (
            <option key={w.value} value={w.value}>
              {w.label}
            </option>
          ))}
        </select>
      </div>
      {load.state === 'loading' && <p aria-busy="true">Loading the platform figures…</p>}
      {load.state === 'missing' && <p className="notice">Not available: this server does not offer platform figures yet.</p>}
      {load.state === 'error' && <p className="notice error">The platform figures could not be loaded ({load.message}).</p>}
      {load.state === 'ok' && (
        <div className="figures-grid">
          <PercentileChart buckets={load.data.buckets} />
          <ThroughputChart buckets={load.data.buckets} bucketSeconds={load.data.bucket_seconds} />
          <LagChart lag={load.data.consumer_lag} />
        </div>
      )}
    </div>
  );
}
