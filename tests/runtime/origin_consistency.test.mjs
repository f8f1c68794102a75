// The consistency checker (tests/perf/consistency.mjs) in origin mode:
// polycache (memory backend) in front of the stand-in shop
// (tests/common/origin.mjs), whose reads take 20 ms and writes 50 ms so
// that reads race writes. Writers PATCH products' titles through polycache with the
// shop's editor token, readers read the product list and products under two
// cache keys, one SSE client refetches a product on each `products` event,
// for 10 s; then every read that returned a title older than an
// acknowledged write (or older than the write whose event had already
// arrived) is a failure. Once in one region, once across three (writes in
// weur, reads in enam and apac, as edge_consistency.test.mjs does in D1
// mode).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { startOrigin, EDITOR_TOKEN } from '../common/origin.mjs';
import { REGION_HEADER, edgeVars, misrouted } from '../common/regions.mjs';
import { runConsistency, ORIGIN_API } from '../perf/consistency.mjs';

const RUN_MS = 10_500;
/**
 * The stand-in's latency: a read waits 20 ms before the shop reads its
 * data, a write 50 ms before the shop applies it (a database's writes take
 * longer than its reads), so that reads race writes: a fill is still
 * reading the origin when a write lands, and a read sent after a write may
 * reach the shop before the write is applied.
 */
const ORIGIN_LATENCY_MS = 20;
const ORIGIN_WRITE_LATENCY_MS = 50;

// The floors of what a run must have exercised: backend_consistency's in one
// region, edge_consistency's across three (a write there also waits for
// three Edges: on a loaded machine 38 writes and 267 reads in 10 s).
const RUNS = [
  { name: 'one region', vars: {}, regions: undefined, floors: { writes: 50, reads: 300, hits: 20 } },
  {
    name: 'writes in weur, reads in enam and apac',
    vars: edgeVars({ regions: ['weur', 'enam', 'apac'], leaseSecs: 3 }),
    regions: { header: REGION_HEADER, writers: 'weur', readers: ['enam', 'apac'] },
    floors: { writes: 20, reads: 150, hits: 10 },
  },
];

for (const [i, run] of RUNS.entries()) {
  describe(`origin mode's consistency, memory backend, ${run.name}`, () => {
    let origin;
    let worker;
    before(async () => {
      origin = await startOrigin({ latencyMs: ORIGIN_LATENCY_MS, writeLatencyMs: ORIGIN_WRITE_LATENCY_MS });
      worker = await startWorker({
        name: `origin-consistency-${i}`,
        vars: { ...origin.vars(), INSTANCE_ID: `origin-consistency-${i}`, CACHE_BACKEND: 'memory', ...run.vars },
      });
    });
    after(async () => {
      await worker?.dispose();
      await origin?.close();
    });

    test(`no read returns a product older than an acknowledged write (${RUN_MS / 1000} s of writers and readers)`, { timeout: 120_000 }, async (t) => {
      const res = await runConsistency(worker, { tokens: [EDITOR_TOKEN], api: ORIGIN_API, runMs: RUN_MS, regions: run.regions });
      const originReads = origin.count('GET', /^\/v1\/products/);
      t.diagnostic(`${run.name}: ${res.summary}; the origin answered ${originReads} reads, ${origin.count('PATCH', null)} writes`);
      assert.ok(res.seconds >= 10, `ran for at least 10 s: ${res.summary}`);
      assert.deepEqual(res.failures.slice(0, 10), [], `requests failed under load (${res.failures.length}): ${res.summary}`);
      if (run.regions) {
        const wrong = misrouted(res.reads);
        assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} of ${res.reads.length} reads not served by the Edge of their region`);
      }
      for (const f of res.refetchers) {
        const ids = new Set(f.events.map((e) => e.json?.id));
        const missing = res.writes.filter((w) => !ids.has(w.eventId));
        assert.equal(missing.length, 0, `every write's event reached the refetcher${f.region ? ` in ${f.region}` : ''}: `
          + `missing ${missing.length} of ${res.writes.length}; ${res.summary}`);
      }
      assert.deepEqual(res.violations.slice(0, 10), [], `stale reads (${res.violations.length}): ${res.summary}`);
      // The run must have exercised what it checks, and the writes reached the origin.
      assert.ok(res.writes.length >= run.floors.writes, `enough writes: ${res.summary}`);
      assert.ok(res.reads.length >= run.floors.reads, `enough reads: ${res.summary}`);
      assert.ok(origin.count('PATCH', null) >= res.writes.length, `every acknowledged write reached the origin: ${res.summary}`);
      const regions = run.regions?.readers ?? [undefined];
      for (const region of regions) {
        const hits = res.reads.filter((r) => r.region === region && r.cache === 'hit').length;
        assert.ok(hits >= run.floors.hits, `the cache served hits${region ? ` in ${region}` : ''}: ${hits}; ${res.summary}`);
      }
    });
  });
}
