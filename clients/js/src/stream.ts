// The connection to `GET /api/stream`: an EventSource that resumes where it
// left off. The browser's own reconnect does most of the work -- after a cut
// it waits the server's `retry:` and reconnects with `Last-Event-ID`, and the
// Worker replays what was missed. Two cases it does not cover, which this
// module handles by reconnecting itself with `?lastEventId=`:
//  - the browser gave up (readyState CLOSED: the server answered an HTTP
//    error or a non-SSE response, e.g. while a deployment restarts);
//  - the browser would resume from the wrong id: it only knows ids from
//    `id:` lines, and `hello` has none, so a stream cut after its `hello`
//    but before any event would reconnect as a new client and miss every
//    event in between.
//
// Status: connecting (before the first open) -> open <-> reconnecting;
// closed after close(), for good. The Hub renews every stream after a few
// hundred writes (SSE_MAX_WRITES): it sends `renew`, ends the stream with a
// short `retry:`, and the browser resumes. That is not a cut: the status
// stays open unless the stream is not back within RENEW_GRACE_MS.
//
// A resumed stream starts with a replay. `hello` says how far it goes (the
// last id when the stream opened), so each event says whether more replayed
// events are due: a consumer can take the whole replay as one burst even
// when the network delivers it in pieces.

import { systemClock, type Clock, type TimerId } from './clock.js';
import { parseAppUpdate, parseLastEventId, type AppUpdate, type Hello, type ResetNotice } from './events.js';

export type StreamStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** What the stream knows about an event besides its data. */
export interface EventInfo {
  /**
   * True for a replayed event after which more replayed events are due.
   * With a `types` filter the replay may end early (the rest did not
   * concern the filter): this is a hint, to be bounded in time.
   */
  readonly replaying: boolean;
}

/** The part of the browser's EventSource this module uses (a test passes a fake). */
export interface EventSourceLike {
  readonly readyState: number;
  addEventListener(type: string, listener: (event: MessageEvent<string>) => void): void;
  close(): void;
}
export type EventSourceConstructor = new (url: string) => EventSourceLike;

/** EventSource.CLOSED: the browser will not reconnect this source by itself. */
const CLOSED = 2;

/**
 * Own reconnects (when the browser gave up) back off exponentially from
 * `min` to `max`, with jitter so that the visitors of a restarted deployment
 * do not all come back in the same millisecond. 1 s is half the Worker's
 * `retry:` (2 s), 15 s keeps a page that was away from staying stale long.
 */
export const DEFAULT_RECONNECT_MS = { min: 1_000, max: 15_000 } as const;

/**
 * How long a renewed stream may take to come back before the status says
 * reconnecting: the Hub asks for a retry after 250 ms, and a reconnect takes
 * a round trip or two more; 5 s is many times that, yet a real outage right
 * after a renewal still shows within seconds.
 */
export const RENEW_GRACE_MS = 5_000;

export interface StreamOptions {
  /** The stream's URL, e.g. `/api/stream` or `https://example.com/api/stream`. */
  readonly url: string;
  /** Only events that concern these types (`?types=`); all when absent. */
  readonly types?: readonly string[];
  /** Resume after this event id (e.g. one kept across a page load). */
  readonly lastEventId?: number | null;
  readonly onEvent?: (event: AppUpdate, info: EventInfo) => void;
  /** The server could not replay what was missed: refetch everything. */
  readonly onReset?: (notice: ResetNotice) => void;
  readonly onHello?: (hello: Hello) => void;
  readonly onStatus?: (status: StreamStatus) => void;
  readonly reconnectMs?: { readonly min?: number; readonly max?: number };
  /** The EventSource class; the global one by default. */
  readonly EventSource?: EventSourceConstructor;
  readonly clock?: Clock;
  /** A number in [0, 1) for the jitter; Math.random by default. */
  readonly random?: () => number;
}

export interface Stream {
  readonly status: StreamStatus;
  /** The id of the last event seen (or `hello`'s, before any); null before `hello`. */
  readonly lastEventId: number | null;
  /** Closes the connection and stops reconnecting; idempotent. */
  close(): void;
}

/** The URL of one connection attempt: the filter, and the id to resume after. */
export function streamUrl(url: string, types: readonly string[] | undefined, lastEventId: number | null): string {
  const params: string[] = [];
  if (types && types.length > 0) params.push(`types=${types.map(encodeURIComponent).join(',')}`);
  if (lastEventId !== null) params.push(`lastEventId=${lastEventId}`);
  if (params.length === 0) return url;
  return `${url}${url.includes('?') ? '&' : '?'}${params.join('&')}`;
}

const sseId = (raw: string): number | null => (/^[0-9]+$/.test(raw) ? Number(raw) : null);

export function createStream(options: StreamOptions): Stream {
  const found = options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
  if (!found) throw new Error('createStream: this environment has no EventSource; pass options.EventSource');
  const ES: EventSourceConstructor = found;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const minMs = options.reconnectMs?.min ?? DEFAULT_RECONNECT_MS.min;
  const maxMs = Math.max(minMs, options.reconnectMs?.max ?? DEFAULT_RECONNECT_MS.max);

  let status: StreamStatus = 'connecting';
  let lastEventId: number | null = options.lastEventId ?? null;
  let source: EventSourceLike | null = null;
  // The id the current source would send as Last-Event-ID if the browser
  // reconnected it: the last `id:` it saw, or the one in its URL.
  let sourceResumeId: number | null = null;
  let attempts = 0;
  // While a replay is under way: the id it ends with (hello's lastEventId).
  let replayUntil: number | null = null;
  let timer: TimerId | undefined;
  let closed = false;
  // The server announced that it is ending this stream for renewal.
  let renewing = false;
  let graceTimer: TimerId | undefined;
  const clearGrace = (): void => {
    if (graceTimer !== undefined) clock.clearTimeout(graceTimer);
    graceTimer = undefined;
  };

  const setStatus = (next: StreamStatus): void => {
    if (next === status) return;
    status = next;
    options.onStatus?.(next);
  };

  const track = (event: MessageEvent<string>, fallback: number | undefined): void => {
    const fromSse = sseId(event.lastEventId);
    if (fromSse !== null) sourceResumeId = fromSse;
    const id = fromSse ?? fallback;
    if (id !== undefined) lastEventId = id;
  };

  const reconnectLater = (): void => {
    source?.close();
    source = null;
    const backoff = Math.min(maxMs, minMs * 2 ** attempts);
    attempts += 1;
    // Jitter in [backoff/2, backoff).
    timer = clock.setTimeout(open, backoff / 2 + (random() * backoff) / 2);
  };

  function open(): void {
    timer = undefined;
    if (closed) return;
    const src = new ES(streamUrl(options.url, options.types, lastEventId));
    source = src;
    sourceResumeId = lastEventId;
    // Events of a source that was replaced or closed meanwhile are ignored.
    const on = (type: string, fn: (event: MessageEvent<string>) => void): void =>
      src.addEventListener(type, (event) => {
        if (source === src && !closed) fn(event);
      });
    on('open', () => {
      attempts = 0;
      renewing = false;
      clearGrace();
      setStatus('open');
    });
    on('renew', () => {
      renewing = true;
    });
    on('hello', (event) => {
      const hello = parseLastEventId(event.data);
      if (!hello) return;
      // Only a fresh start adopts hello's id: when resuming, the replay that
      // follows hello carries the ids, and jumping ahead to hello's would
      // skip a replayed event that had not arrived yet when the cut came.
      if (lastEventId === null) {
        lastEventId = hello.lastEventId;
        // A fresh stream's hello also carries it as its SSE id (a server
        // whose hello has none leaves this to reconnectLater): the browser
        // then resumes from it by itself.
        const fromSse = sseId(event.lastEventId);
        if (fromSse !== null) sourceResumeId = fromSse;
      } else if (hello.lastEventId > lastEventId) replayUntil = hello.lastEventId;
      options.onHello?.(hello);
    });
    on('app-update', (event) => {
      const update = parseAppUpdate(event.data);
      track(event, update?.id);
      if (!update) return;
      const replaying = replayUntil !== null && update.id < replayUntil;
      if (!replaying) replayUntil = null;
      options.onEvent?.(update, { replaying });
    });
    on('reset', (event) => {
      const notice = parseLastEventId(event.data);
      replayUntil = null;
      track(event, notice?.lastEventId);
      if (notice) options.onReset?.(notice);
    });
    on('error', () => {
      replayUntil = null;
      clearGrace();
      if (renewing) {
        renewing = false;
        graceTimer = clock.setTimeout(() => {
          graceTimer = undefined;
          if (!closed) setStatus('reconnecting');
        }, RENEW_GRACE_MS);
      } else {
        setStatus('reconnecting');
      }
      if (src.readyState === CLOSED || sourceResumeId !== lastEventId) reconnectLater();
      // Otherwise the browser reconnects by itself, with the right Last-Event-ID.
    });
  }

  open();

  return {
    get status() {
      return status;
    },
    get lastEventId() {
      return lastEventId;
    },
    close() {
      if (closed) return;
      closed = true;
      clearGrace();
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      source?.close();
      source = null;
      setStatus('closed');
    },
  };
}
