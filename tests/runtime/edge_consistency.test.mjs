// The consistency checker (tests/perf/consistency.mjs) across the regions of
// the edge tier, for every cache backend: Edges in weur, enam and apac
// (EDGE_LEASE_SECS=3), the writers' PATCHes sent in weur, the readers and one
// SSE refetcher per region in enam and apac, for 10 s. A write acknowledged
// in weur must be seen by every read that starts after it in enam and apac
// (the Hub acknowledges a write only once every Edge with a live lease has
// applied it), and an event on a region's stream by every read in that
// region after it (an Edge forwards an event once it applied it). Checked
// too: every read was served by the Edge of the region it was sent in
// (x-polycache-edge), so that the run did cross regions, every write's event
// reached both refetchers, and the cache served hits in both regions.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { startUpstash } from '../common/redis.mjs';
import { EDITOR, EDITOR2, ADMIN } from '../common/accounts.mjs';
import { login } from '../common/api.mjs';
import { REGION_HEADER, edgeVars, latencies, misrouted } from '../common/regions.mjs';
import { runConsistency } from '../perf/consistency.mjs';

const RUN_MS = 10_500;
const REGIONS = ['weur', 'enam', 'apac'];
const ACROSS = { header: REGION_HEADER, writers: 'weur', readers: ['enam', 'apac'] };

for (const backend of ['memory', 'kv', 'upstash', 'cache']) {
  describe(`consistency of the ${backend} backend across regions`, () => {
    let worker;
    let up;
    before(async () => {
      up = backend === 'upstash' ? await startUpstash() : null;
      worker = await startWorker({
        name: `edge-consistency-${backend}`,
        vars: {
          INSTANCE_ID: `edge-consistency-${backend}`,
          CACHE_BACKEND: backend,
          ...edgeVars({ regions: REGIONS, leaseSecs: 3 }),
          ...(up?.vars() ?? {}),
        },
      });
    });
    after(async () => {
      await worker?.dispose();
      await up?.dispose();
    });

    test(`writes in weur, reads in enam and apac: no read returns data older than an acknowledged write (${RUN_MS / 1000} s)`, { timeout: 120_000 }, async (t) => {
      const tokens = [await login(worker, EDITOR), await login(worker, EDITOR2), await login(worker, ADMIN)];
      const run = await runConsistency(worker, { tokens, runMs: RUN_MS, regions: ACROSS });
      const byRegion = ACROSS.readers.map((region) => {
        const reads = run.reads.filter((r) => r.region === region);
        return { region, reads: reads.length, hits: reads.filter((r) => r.cache === 'hit').length };
      });
      const acks = latencies(run.writes.map((w) => w.acked - w.sent));
      t.diagnostic(`${backend}: ${run.summary}; ${byRegion.map((r) => `${r.region}: ${r.reads} reads, ${r.hits} hits`).join('; ')}; `
        + `write acknowledgements: ${acks.text}`);
      assert.ok(run.seconds >= 10, `ran for at least 10 s: ${run.summary}`);
      assert.deepEqual(run.failures.slice(0, 10), [], `requests failed under load (${run.failures.length}); ${run.summary}; wrangler said:\n${worker.notes()}`);
      // The reads crossed regions: each was served by its region's Edge.
      const wrong = misrouted(run.reads);
      assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} of ${run.reads.length} reads not served by the Edge of their region`);
      for (const f of run.refetchers) {
        const ids = f.events.map((e) => e.json?.id);
        const missing = run.writes.filter((w) => !ids.includes(w.eventId));
        assert.equal(missing.length, 0, `every write's event reached the refetcher in ${f.region}; missing ${missing.length} of `
          + `${run.writes.length}, e.g. ${missing.slice(0, 5).map((w) => w.eventId)}; stream ended: ${f.sse.ended}; ${f.sse.describe()}`);
        assert.deepEqual(ids.filter((id, i) => i > 0 && id <= ids[i - 1]).slice(0, 5), [],
          `the stream in ${f.region} carried each event once, in increasing order`);
        assert.equal(f.refetches, run.writes.length, `a refetch in ${f.region} for every write's event: ${run.summary}`);
      }
      assert.deepEqual(run.violations.slice(0, 10), [], `stale reads (${run.violations.length}); ${run.summary}`);
      // The run must have exercised what it checks. The floors are below
      // backend_consistency.test.mjs's: a write here also waits for three
      // Edges, and with other instances running on the two cores (load
      // 9-12) kv made 21 writes and 165 reads in 10 s (memory about 100 and
      // 900 when the machine is quieter). 20 writes still put several
      // writers on the shared post.
      assert.ok(run.writes.length >= 20, `enough writes: ${run.summary}`);
      assert.ok(run.reads.length >= 150, `enough reads: ${run.summary}`);
      for (const r of byRegion) assert.ok(r.hits >= 10, `the cache served hits in ${r.region}: ${r.hits} of ${r.reads} reads`);
    });
  });
}
