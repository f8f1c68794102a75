// Reads of ids with no row (README, "Security"): anyone can ask for
// /api/posts/<random> in a loop, so a 404 must cost no backend write and no
// hot entry. Only the memory backend keeps a 404, for NEGATIVE_CACHE_SECS
// (5 s by default), in its Edge apart from its entries; kv, upstash and
// cache never store one. For each backend the test counts what the backend
// really holds before and after a flood of random ids: the keys in KV's
// local state, redis-server's DBSIZE behind the Upstash shim, the bodies in
// the Cache API's local state, the memory backend's entries in
// /api/status.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startWorker } from '../common/harness.mjs';
import { startUpstash } from '../common/redis.mjs';
import { get, read, sendAtOnce, status } from '../common/api.mjs';

/** Random ids read in the flood: each one a 404 the backend could store. */
const FLOOD = 300;
/** NEGATIVE_CACHE_SECS as the tests set it: its default. */
const NEGATIVE_SECS = 5;

/** Files under `dir`, recursively (0 when it does not exist). */
function countFiles(dir) {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { withFileTypes: true })
    .reduce((n, e) => n + (e.isDirectory() ? countFiles(join(dir, e.name)) : 1), 0);
}

/** A path of an id that no row has: far above the demo data, below 2^53. */
const randomAbsent = () => `/api/posts/${1_000_000 + Math.floor(Math.random() * 1e12)}`;

const BACKENDS = [
  {
    backend: 'kv',
    // Every key of the cache's namespace in the instance's local KV.
    held: async ({ worker }) => (await worker.kvKeys('CACHE_KV')).length,
  },
  {
    backend: 'upstash',
    shim: true,
    held: async ({ up }) => Number(await up.redis.client.call('DBSIZE')),
  },
  {
    backend: 'cache',
    // Miniflare keeps each cached response's body as a blob file under
    // v3/cache of the state directory.
    held: async ({ worker }) => countFiles(join(worker.stateDir, 'v3', 'cache')),
  },
  {
    backend: 'memory',
    held: async ({ worker }) => (await status(worker)).cacheEntries,
  },
];

for (const spec of BACKENDS) {
  describe(`404s with the ${spec.backend} backend`, () => {
    const ctx = {};

    before(async () => {
      if (spec.shim) ctx.up = await startUpstash();
      ctx.worker = await startWorker({
        name: `negative-${spec.backend}`,
        vars: {
          INSTANCE_ID: `negative-${spec.backend}`,
          CACHE_BACKEND: spec.backend,
          NEGATIVE_CACHE_SECS: String(NEGATIVE_SECS),
          ...(ctx.up ? ctx.up.vars() : {}),
        },
      });
    });
    after(async () => {
      await ctx.worker?.dispose();
      await ctx.up?.dispose();
    });

    test(`${FLOOD} reads of random ids: all 404, ${spec.backend === 'memory' ? 'kept apart from' : 'nothing written to'} the backend, and a hot entry still hits`, { timeout: 120_000 }, async () => {
      const { worker } = ctx;
      // A hot entry, and (for the stores) a proof that the count sees fills.
      assert.equal((await read(worker, '/api/posts/1')).res.status, 200);
      assert.equal((await read(worker, '/api/posts/1')).cache, 'hit', 'the hot entry is cached');
      const heldBefore = await spec.held(ctx);
      assert.ok(heldBefore >= 1, `the count sees the hot entry (${heldBefore})`);

      const flood = Array.from({ length: FLOOD }, () => ({ method: 'GET', path: randomAbsent() }));
      const started = performance.now();
      const { responses } = await sendAtOnce(worker, flood, { connections: 4, timeoutMs: 90_000 });
      const ms = Math.round(performance.now() - started);
      const statuses = {};
      for (const r of responses) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      const heldAfter = await spec.held(ctx);
      console.log(`# ${spec.backend}: ${FLOOD} random ids in ${ms} ms, statuses ${JSON.stringify(statuses)}; backend holds ${heldBefore} -> ${heldAfter}`);
      assert.deepEqual(statuses, { 404: FLOOD });
      for (const r of responses.slice(0, 3)) assert.equal(JSON.parse(r.text).error.code, 'not_found');
      if (spec.backend === 'memory') {
        assert.ok(heldAfter - heldBefore <= FLOOD, `at most one 404 per id (${heldAfter - heldBefore})`);
      } else {
        assert.equal(heldAfter, heldBefore, `no 404 written to ${spec.backend}`);
      }
      const hot = await read(worker, '/api/posts/1');
      assert.equal(hot.cache, 'hit', `the hot entry still hits after ${FLOOD} misses`);
    });

    test(spec.backend === 'memory'
      ? `a 404 hits for at most NEGATIVE_CACHE_SECS (${NEGATIVE_SECS} s), then is read again`
      : 'a 404 is never served from the cache', { timeout: 60_000 }, async () => {
      const { worker } = ctx;
      const path = randomAbsent();
      const first = await get(worker, path);
      assert.equal(first.status, 404);
      assert.equal(first.headers.get('x-cache'), 'miss');
      const second = await get(worker, path);
      assert.equal(second.status, 404);
      assert.equal(second.headers.get('x-cache'), spec.backend === 'memory' ? 'hit' : 'miss', `the second read of ${path}`);
      // Past the negative lifetime (plus a second for the clocks' rounding).
      await sleep((NEGATIVE_SECS + 1) * 1000);
      const later = await get(worker, path);
      assert.equal(later.status, 404);
      assert.equal(later.headers.get('x-cache'), 'miss', `a 404 read ${NEGATIVE_SECS + 1} s later is read from D1 again`);
    });
  });
}
