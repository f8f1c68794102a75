// Time is passed in (STYLE.md), so that the coalescing window and the
// reconnect backoff are tested without sleeping: the tests hand in a manual
// clock, the browser gets the real one.

/** A timer handle, opaque to the code that holds it. */
export type TimerId = unknown;

export interface Clock {
  /** Milliseconds, monotonic enough for windows and delays. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerId;
  clearTimeout(id: TimerId): void;
}

/** The real clock: `performance.now()` (or `Date.now()`) and the global timers. */
export const systemClock: Clock = {
  now: () => (typeof performance !== 'undefined' ? performance.now() : Date.now()),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (id) => globalThis.clearTimeout(id as ReturnType<typeof globalThis.setTimeout>),
};
