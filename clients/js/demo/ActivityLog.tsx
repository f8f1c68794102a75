// The activity log: every event the stream delivered (with how long after
// the write it arrived), connection changes, and what each merged burst
// refetched.

import type { StreamStatus } from '../src/index.js';
import { useActivity, type Activity } from './activity.js';
import { timeOfDay } from './time.js';

const ACTIONS: Record<string, string> = { create: 'created', update: 'updated', delete: 'deleted' };
const STATUS: Record<StreamStatus, string> = {
  connecting: 'Connecting…',
  open: 'Connected',
  reconnecting: 'Connection lost, reconnecting',
  closed: 'Disconnected',
};

/** The delay from the write to this page, when both clocks plausibly agree. */
function delay(a: Extract<Activity, { kind: 'event' }>): string | null {
  const ms = a.at - a.event.ts;
  return ms >= 0 && ms < 60_000 ? `${ms} ms` : null;
}

function Row({ a }: { a: Activity }) {
  switch (a.kind) {
    case 'event': {
      const { event } = a;
      const what = `${event.type.replace(/s$/, '')}${event.entityId !== null ? ` ${event.entityId}` : 's'}`;
      const d = delay(a);
      return (
        <li
          className="log-row log-event"
          data-testid="log-event"
          data-event-id={event.id}
          data-origin={event.origin}
          data-at={a.at}
        >
          <span className="log-id">#{event.id}</span>
          <span className="log-text">
            <strong>{what}</strong> {ACTIONS[event.action] ?? event.action}
            <span className="log-sub">
              {event.types.join(' · ')}
              {event.origin && <> · from {event.origin}</>}
              {d && <> · {d} after the write</>}
            </span>
          </span>
          <span className="log-time">{timeOfDay(a.at)}</span>
        </li>
      );
    }
    case 'reset':
      return (
        <li className="log-row log-reset" data-testid="log-reset">
          <span className="log-id">↻</span>
          <span className="log-text">
            <strong>Missed too much</strong> — refreshing everything
          </span>
          <span className="log-time">{timeOfDay(a.at)}</span>
        </li>
      );
    case 'status':
      return (
        <li className={`log-row log-status log-status-${a.status}`} data-testid="log-status">
          <span className="log-id">•</span>
          <span className="log-text">{STATUS[a.status]}</span>
          <span className="log-time">{timeOfDay(a.at)}</span>
        </li>
      );
    case 'refresh':
      return a.queries.length === 0 ? null : (
        <li className="log-row log-refresh" data-testid="log-refresh" data-merged={a.merged} data-at={a.at}>
          <span className="log-id">⟳</span>
          <span className="log-text">
            Refetched {a.queries.join(', ')}
            {a.merged > 1 && <span className="log-sub">{a.merged} events merged into one refresh</span>}
          </span>
          <span className="log-time">{timeOfDay(a.at)}</span>
        </li>
      );
  }
}

export function ActivityLog() {
  const { entries, events } = useActivity();
  return (
    <section className="card activity" aria-label="Live activity">
      <div className="activity-head">
        <h2>Live activity</h2>
        <span className="muted small" data-testid="event-count">
          {events} {events === 1 ? 'event' : 'events'}
        </span>
      </div>
      {entries.length === 0 ? (
        <p className="muted small">Nothing yet. Changes made anywhere appear here as they happen.</p>
      ) : (
        <ol className="log" data-testid="activity">
          {entries.map((a) => (
            <Row key={a.seq} a={a} />
          ))}
        </ol>
      )}
    </section>
  );
}
