// The edge tier's settings and region header for the runtime tests: the
// vars that give a test instance Edges in several regions, the header that
// sends a request to a region's Edge, and the figures the tests print.
// `wrangler dev` runs every Edge in one process, so locally the regions
// differ only in name; the header is what puts a request in one.

/** The request header that picks the region (EDGE_REGION_HEADER of the instances). */
export const REGION_HEADER = 'x-polycache-region';

/**
 * The vars of an instance with Edges: regions (list of location hints),
 * shards (EDGE_SHARDS), leaseSecs (EDGE_LEASE_SECS), faults (TEST_FAULTS,
 * e.g. 'edge-deaf:edge:apac:0'); the region header always on.
 */
export function edgeVars({ regions, shards, leaseSecs, faults } = {}) {
  const vars = { EDGE_REGIONS: regions.join(','), EDGE_REGION_HEADER: REGION_HEADER };
  if (shards !== undefined) vars.EDGE_SHARDS = String(shards);
  if (leaseSecs !== undefined) vars.EDGE_LEASE_SECS = String(leaseSecs);
  if (faults !== undefined) vars.TEST_FAULTS = faults;
  return vars;
}

/** The headers that put a request in this region (none for undefined). */
export const inRegion = (region) => (region ? { [REGION_HEADER]: region } : {});

/** The name of an Edge, as x-polycache-edge and /api/status give it. */
export const edgeName = (region, shard = 0) => `edge:${region}:${shard}`;

/** {n, p50, max} of a list of milliseconds, and `text` to print. */
export function latencies(ms) {
  const xs = [...ms].sort((a, b) => a - b);
  const p50 = xs.length ? xs[Math.ceil(xs.length / 2) - 1] : NaN;
  const max = xs.length ? xs.at(-1) : NaN;
  return { n: xs.length, p50, max, text: `n ${xs.length}, p50 ${p50.toFixed(0)} ms, max ${max.toFixed(0)} ms` };
}

/**
 * Where reads landed: the reads ({path, region, edge}) whose
 * x-polycache-edge is not their region's Edge (shard 0: for instances with
 * one shard), each as "GET path in apac answered x-polycache-edge ...".
 */
export function misrouted(reads) {
  return reads.filter((r) => r.edge !== edgeName(r.region))
    .map((r) => `GET ${r.path} in ${r.region} answered x-polycache-edge ${JSON.stringify(r.edge)}`);
}
