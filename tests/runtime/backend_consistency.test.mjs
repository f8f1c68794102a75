// The consistency checker (tests/perf/consistency.mjs) against every cache
// backend: writers and readers at once for 10 s each, then every read that
// returned data older than an acknowledged write (or older than the write
// whose SSE event had already arrived) is a failure, for every backend; each
// run's figures are printed. Under `wrangler dev` KV is a local store, so
// KV's figure says nothing about its propagation between locations in
// production (the README, "Cache backends", explains why the design keeps
// reads fresh there too).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { startUpstash } from '../common/redis.mjs';
import { EDITOR, EDITOR2, ADMIN } from '../common/accounts.mjs';
import { login } from '../common/api.mjs';
import { runConsistency } from '../perf/consistency.mjs';

const RUN_MS = 10_500;

for (const backend of ['memory', 'kv', 'upstash', 'cache']) {
  describe(`consistency of the ${backend} backend`, () => {
    let worker;
    let up;
    before(async () => {
      up = backend === 'upstash' ? await startUpstash() : null;
      worker = await startWorker({
        name: `consistency-${backend}`,
        vars: { INSTANCE_ID: `consistency-${backend}`, CACHE_BACKEND: backend, ...(up?.vars() ?? {}) },
      });
    });
    after(async () => {
      await worker?.dispose();
      await up?.dispose();
    });

    test(`no read returns data older than an acknowledged write (${RUN_MS / 1000} s of writers and readers)`, { timeout: 120_000 }, async (t) => {
      const tokens = [await login(worker, EDITOR), await login(worker, EDITOR2), await login(worker, ADMIN)];
      const run = await runConsistency(worker, { tokens, runMs: RUN_MS });
      t.diagnostic(`${backend}: ${run.summary}`);
      assert.ok(run.seconds >= 10, `ran for at least 10 s: ${run.summary}`);
      assert.deepEqual(run.failures.slice(0, 10), [], `requests failed under load: ${run.summary}`);
      const missing = run.writes.filter((w) => !run.events.some((e) => e.json?.id === w.eventId));
      assert.equal(missing.length, 0, `every write's event arrived: ${run.summary}`);
      assert.deepEqual(run.violations.slice(0, 10), [], `stale reads: ${run.summary}`);
      // The run must have exercised what it checks. The floors leave room
      // for a loaded machine: upstash, whose writes and reads each also
      // cross the shim and redis-server, makes about 100 writes and 650
      // reads in 10 s on two busy cores.
      assert.ok(run.writes.length >= 50, `enough writes: ${run.summary}`);
      assert.ok(run.reads.length >= 300, `enough reads: ${run.summary}`);
      assert.ok(run.hits >= 20, `the cache served hits: ${run.summary}`);
    });
  });
}
