// The activity log's store: what the stream delivered and what the
// invalidator did with it, newest first, bounded. A plain store read with
// useSyncExternalStore, because events come from stream callbacks, not from
// React renders.

import { useSyncExternalStore } from 'react';
import { useStreamListener, type AppUpdate, type StreamStatus } from '../src/index.js';

export type Activity =
  | { readonly kind: 'event'; readonly seq: number; readonly at: number; readonly event: AppUpdate }
  | { readonly kind: 'reset'; readonly seq: number; readonly at: number; readonly lastEventId: number }
  | { readonly kind: 'status'; readonly seq: number; readonly at: number; readonly status: StreamStatus }
  | { readonly kind: 'refresh'; readonly seq: number; readonly at: number; readonly merged: number; readonly queries: readonly string[] };

type NewActivity = Activity extends infer A ? (A extends Activity ? Omit<A, 'seq' | 'at'> : never) : never;

/** Enough to see a burst and what came before it; older entries are dropped. */
const LIMIT = 80;

export interface ActivityState {
  /** Newest first, at most LIMIT. */
  readonly entries: readonly Activity[];
  /** Every app-update received since the page loaded. */
  readonly events: number;
}

let state: ActivityState = { entries: [], events: 0 };
let seq = 0;
const listeners = new Set<() => void>();
let scheduled = false;

// A replay delivers tens of events in a row: the log re-renders once per
// frame, not once per event.
const notify = (): void => {
  scheduled = false;
  for (const l of listeners) l();
};

export function record(entry: NewActivity): void {
  seq += 1;
  state = {
    entries: [{ ...entry, seq, at: Date.now() } as Activity, ...state.entries].slice(0, LIMIT),
    events: state.events + (entry.kind === 'event' ? 1 : 0),
  };
  if (!scheduled) {
    scheduled = true;
    if (typeof requestAnimationFrame === 'function') requestAnimationFrame(notify);
    else setTimeout(notify, 16);
  }
}

const subscribe = (l: () => void) => {
  listeners.add(l);
  return () => {
    listeners.delete(l);
  };
};

export const useActivity = (): ActivityState => useSyncExternalStore(subscribe, () => state);

/** Records what the stream delivers: events, resets and connection changes. */
export function useRecordStream(): void {
  useStreamListener({
    event: (event) => record({ kind: 'event', event }),
    reset: ({ lastEventId }) => record({ kind: 'reset', lastEventId }),
    status: (status) => record({ kind: 'status', status }),
  });
}
