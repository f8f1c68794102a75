// Summaries of samples: nearest-rank percentiles (no interpolation, so p99 of
// 20 samples is the largest but one is never invented).

/** {n, min, p50, p90, p99, max, mean} of the samples (milliseconds), or null when empty. */
export function summary(samples) {
  const xs = Float64Array.from(samples).sort();
  if (xs.length === 0) return null;
  const q = (p) => xs[Math.min(xs.length - 1, Math.max(0, Math.ceil(p * xs.length) - 1))];
  let sum = 0;
  for (const x of xs) sum += x;
  return { n: xs.length, min: xs[0], p50: q(0.5), p90: q(0.9), p99: q(0.99), max: xs[xs.length - 1], mean: sum / xs.length };
}

/** Rounds a number for the JSON (2 decimals), keeping null. */
export const round = (x) => (x === null || x === undefined || Number.isNaN(x) ? null : Math.round(x * 100) / 100);

/** A summary with its numbers rounded. */
export function rounded(s) {
  if (!s) return null;
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === 'n' ? v : round(v)]));
}
