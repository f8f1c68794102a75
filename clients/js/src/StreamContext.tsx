// StreamContext, as in the original app (docs/architecture.md): one stream per app, shared by every component
// that wants its events (the StreamInvalidator, an activity log, a status
// badge). Events go to subscribers directly rather than through React state,
// so a burst of events re-renders nothing by itself; only the connection
// status is state.

import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import type { AppUpdate, Hello, ResetNotice } from './events.js';
import { createStream, type EventInfo, type EventSourceConstructor, type Stream, type StreamStatus } from './stream.js';

/** What a subscriber may listen to; every member is optional. */
export interface StreamListener {
  readonly event?: (event: AppUpdate, info: EventInfo) => void;
  readonly reset?: (notice: ResetNotice) => void;
  readonly hello?: (hello: Hello) => void;
  readonly status?: (status: StreamStatus) => void;
}

export interface StreamContextValue {
  readonly status: StreamStatus;
  /** Adds a listener; returns the function that removes it. The same function on every render. */
  readonly subscribe: (listener: StreamListener) => () => void;
  /** The last event id seen so far (null before `hello`). */
  readonly lastEventId: () => number | null;
}

const StreamContext = createContext<StreamContextValue | null>(null);

export interface StreamProviderProps {
  /** The stream's URL; `/api/stream` (same origin) by default. */
  readonly url?: string;
  /** Only events that concern these types. */
  readonly types?: readonly string[];
  /** For tests and polyfills; the global EventSource by default. */
  readonly EventSource?: EventSourceConstructor;
  readonly children?: ReactNode;
}

export function StreamProvider({ url = '/api/stream', types, EventSource, children }: StreamProviderProps) {
  const [status, setStatus] = useState<StreamStatus>('connecting');
  const listeners = useRef(new Set<StreamListener>());
  const stream = useRef<Stream | null>(null);
  const typesKey = types ? [...types].sort().join(',') : '';

  useEffect(() => {
    const each = (fn: (l: StreamListener) => void) => {
      for (const l of [...listeners.current]) fn(l);
    };
    const s = createStream({
      url,
      ...(typesKey && { types: typesKey.split(',') }),
      ...(EventSource && { EventSource }),
      onEvent: (e, info) => each((l) => l.event?.(e, info)),
      onReset: (r) => each((l) => l.reset?.(r)),
      onHello: (h) => each((l) => l.hello?.(h)),
      onStatus: (st) => {
        setStatus(st);
        each((l) => l.status?.(st));
      },
    });
    stream.current = s;
    setStatus(s.status);
    return () => {
      stream.current = null;
      s.close();
    };
  }, [url, typesKey, EventSource]);

  // Stable across renders: a status change must not make subscribers (the
  // invalidator above all) unsubscribe and subscribe again, which would cut
  // a burst that arrives right after a reconnect into two.
  const subscribe = useCallback((listener: StreamListener) => {
    listeners.current.add(listener);
    return () => {
      listeners.current.delete(listener);
    };
  }, []);
  const lastEventId = useCallback(() => stream.current?.lastEventId ?? null, []);
  const value = useMemo<StreamContextValue>(() => ({ status, subscribe, lastEventId }), [status, subscribe, lastEventId]);
  return <StreamContext.Provider value={value}>{children}</StreamContext.Provider>;
}

/** The app's stream; throws outside a StreamProvider. */
export function useStream(): StreamContextValue {
  const value = useContext(StreamContext);
  if (!value) throw new Error('useStream: no <StreamProvider> above this component');
  return value;
}

/**
 * Calls the listener's functions for as long as the component is mounted.
 * The latest listener is used each time, so an inline object is fine.
 */
export function useStreamListener(listener: StreamListener): void {
  const { subscribe } = useStream();
  const latest = useRef(listener);
  latest.current = listener;
  useEffect(
    () =>
      subscribe({
        event: (e, info) => latest.current.event?.(e, info),
        reset: (r) => latest.current.reset?.(r),
        hello: (h) => latest.current.hello?.(h),
        status: (s) => latest.current.status?.(s),
      }),
    [subscribe],
  );
}
