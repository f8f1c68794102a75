// What the Worker's `GET /api/stream` sends (README, "The event stream"), as types,
// and the parsers that turn an event's `data:` into them. A malformed event
// is dropped (parse returns null) rather than thrown: one bad line from a
// proxy must not stop the stream.

/** An `app-update` event: something changed and the closure `types` is stale. */
export interface AppUpdate {
  /** The event id; the same as the SSE `id:` and the write's `x-invalidation-event`. */
  readonly id: number;
  /** The type as the writer named it, singular or plural (`post`, `posts`). */
  readonly type: string;
  /** The canonical closure: every type whose cached data this event made stale. */
  readonly types: readonly string[];
  /** The entity that changed, when one did (`null` for a whole-type invalidation). */
  readonly entityId: string | null;
  /** `create`, `update`, `delete`, or what the writer said. */
  readonly action: string;
  /** The `INSTANCE_ID` of the deployment where the write happened (differs for mirrored events). */
  readonly origin: string;
  /** Milliseconds since the epoch, when the event was made. */
  readonly ts: number;
}

/** `hello` opens every stream: the deployment's last event id at that moment. */
export interface Hello {
  readonly lastEventId: number;
}

/** `reset`: the id the client resumed from is older than the server's event log. */
export interface ResetNotice {
  readonly lastEventId: number;
}

function object(data: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(data);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Parses the data of an `app-update`; null when it is not one. */
export function parseAppUpdate(data: string): AppUpdate | null {
  const o = object(data);
  if (!o || !isId(o.id) || typeof o.type !== 'string') return null;
  const types = Array.isArray(o.types) ? o.types.filter((t): t is string => typeof t === 'string') : [];
  const entityId = o.entityId === null || o.entityId === undefined ? null : String(o.entityId);
  return {
    id: o.id,
    type: o.type,
    types,
    entityId,
    action: typeof o.action === 'string' ? o.action : 'update',
    origin: typeof o.origin === 'string' ? o.origin : '',
    ts: typeof o.ts === 'number' ? o.ts : 0,
  };
}

/** Parses the data of a `hello` or a `reset` (both carry `lastEventId`); null when malformed. */
export function parseLastEventId(data: string): { lastEventId: number } | null {
  const o = object(data);
  return o && isId(o.lastEventId) ? { lastEventId: o.lastEventId } : null;
}
