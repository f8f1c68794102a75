// The one clock of the bench: process-wide and monotonic (process.hrtime), so
// that a send time taken on the main thread and a receipt time taken on a
// load-client worker thread subtract correctly.

/** Milliseconds on the monotonic clock. */
export function nowMs() {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
