// Merges a burst of items into one batch. Bursts are what a stream delivers
// after a mirror batch, a replay on reconnect or a cascade of writes: tens of
// events within milliseconds, each of which would otherwise refetch the same
// queries. The window is
//  - trailing: it restarts with every item, so a burst that keeps arriving a
//    few ms apart stays one batch;
//  - capped: a stream that never pauses still flushes `maxWaitMs` after the
//    batch's first item, so updates are late by at most that much;
//  - widened while a burst goes on: a batch that starts less than
//    `maxWaitMs` after the last flush gets twice the previous window (up to
//    `maxWaitMs`), so a trickle (a mirror batch delivered one event at a
//    time, every 20-40 ms) becomes a few batches, not one per event; after
//    `maxWaitMs` of quiet the window is `windowMs` again, so a lone change
//    is applied after `windowMs`.
// An item pushed with `hold` (a replayed event with more of the replay due)
// keeps the batch open until `maxWaitMs` after its first item, whatever the
// gaps: the next item without `hold` closes it after the usual window.

import { systemClock, type Clock, type TimerId } from './clock.js';

/**
 * 30 ms: about two frames at 60 Hz, far below what a person notices as a
 * delay, and several times the gap between events of one burst as the Worker
 * sends them (a few ms each, see tests/browser/burst.test.mjs).
 */
export const DEFAULT_WINDOW_MS = 30;

/** A burst that never pauses is still flushed this often: the worst added delay. */
export const DEFAULT_MAX_WAIT_MS = 250;

export interface CoalescerOptions<T> {
  /** Quiet time after the last item before the batch is flushed (widened while a burst goes on). */
  readonly windowMs?: number;
  /** Longest time an item waits, however long the burst goes on. */
  readonly maxWaitMs?: number;
  readonly clock?: Clock;
  /** Gets every batch, in order; never an empty one. */
  readonly flush: (batch: T[]) => void;
}

export interface Coalescer<T> {
  /** Adds an item; `hold`: more of this burst is known to be coming. */
  push(item: T, options?: { readonly hold?: boolean }): void;
  /** Flushes what is pending now (nothing if nothing is). */
  flush(): void;
  /** Items waiting for the window to close. */
  readonly pending: number;
  /** Flushes what is pending, then ignores further items. */
  dispose(): void;
}

export function createCoalescer<T>(options: CoalescerOptions<T>): Coalescer<T> {
  const clock = options.clock ?? systemClock;
  const windowMs = Math.max(0, options.windowMs ?? DEFAULT_WINDOW_MS);
  const maxWaitMs = Math.max(windowMs, options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS);
  let items: T[] = [];
  let firstAt = 0;
  let window = windowMs;
  let lastFlushAt = -Infinity;
  let timer: TimerId | undefined;
  let disposed = false;

  const flush = (): void => {
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
    if (items.length === 0) return;
    const batch = items;
    items = [];
    lastFlushAt = clock.now();
    options.flush(batch);
  };

  return {
    push(item, { hold = false } = {}) {
      if (disposed) return;
      const now = clock.now();
      if (items.length === 0) {
        firstAt = now;
        window = now - lastFlushAt < maxWaitMs ? Math.min(maxWaitMs, window * 2) : windowMs;
      }
      items.push(item);
      if (timer !== undefined) clock.clearTimeout(timer);
      const cap = firstAt + maxWaitMs;
      const due = hold ? cap : Math.min(now + window, cap);
      timer = clock.setTimeout(flush, Math.max(0, due - now));
    },
    flush,
    get pending() {
      return items.length;
    },
    dispose() {
      flush();
      disposed = true;
    },
  };
}
