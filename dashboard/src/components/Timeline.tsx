import type { StoreEvent } from '../lib/api';
import { formatDuration, shownStep, timelineRows, TERMINAL } from '../lib/format';

/** A human name for an event: the status and the step it reached. */
function describe(event: StoreEvent): string {
  // A change or a retry asked through the API (its reason says which generation, who, what).
  if (event.type === 'StoreChangeRequested') return event.step === 'retry' ? 'retry requested' : 'change requested';
  const status = event.status ?? event.type;
  const step = shownStep(event.step);
  return step ? `${status} · ${step}` : status;
}

export function Timeline({ events, now }: { events: StoreEvent[]; now: number }) {
  if (events.length === 0) return <p>No events yet.</p>;
  const rows = timelineRows(events);
  return (
    <ol className="timeline">
      {rows.map(({ event, durationMs, offsetMs }, i) => {
        const open = durationMs === null && !TERMINAL.has(event.status ?? '');
        const lasted =
          durationMs !== null
            ? formatDuration(durationMs)
            : open
              ? `${formatDuration(now - Date.parse(event.occurred_at))} so far`
              : null;
        return (
          <li key={event.event_id || i} className={`event event-${event.status ?? 'other'}`}>
            <div className="event-head">
              <span className="event-name">{describe(event)}</span>
              <time dateTime={event.occurred_at} title={new Date(event.occurred_at).toLocaleString()}>
                +{formatDuration(offsetMs)}
              </time>
            </div>
            {lasted && <div className="event-duration">took {lasted}</div>}
            {event.reason && <div className="event-reason">{event.reason}</div>}
          </li>
        );
      })}
    </ol>
  );
}
