// The one clock of the bench: process-wide and monotonic (process.hrtime), so
// that a send time taken on the main thread and a receipt time taken on a
// load-client worker thread subtract correctly.

/** Milliseconds on the monotonic clock. */
export function nowMs() {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The promise's outcome, or a rejection with `message` after ms; the timer
 * is cleared either way, and a late rejection of the promise is ignored.
 */
export function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); });
  promise.catch(() => {});
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
