// Origin mode's read and write basics on every cache backend other than
// memory (origin.test.mjs covers memory): a miss then a hit with the
// origin asked once, a binary body byte-exact from the backend, a write
// through polycache that invalidates so the next read has the new data.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { startUpstash } from '../common/redis.mjs';
import { get, request, show, eventIdOf } from '../common/api.mjs';
import { startOrigin, productImage, EDITOR_TOKEN } from '../common/origin.mjs';

/** Reads with a made-up query parameter (a cache-buster) in the kv test. */
const BUSTERS = 30;

for (const backend of ['kv', 'upstash', 'cache']) {
  describe(`origin mode on the ${backend} backend`, () => {
    let origin;
    let up;
    let worker;
    before(async () => {
      origin = await startOrigin();
      up = backend === 'upstash' ? await startUpstash() : null;
      worker = await startWorker({
        name: `origin-${backend}`,
        vars: { ...origin.vars(), INSTANCE_ID: `origin-${backend}`, CACHE_BACKEND: backend, ...(up?.vars() ?? {}) },
      });
    });
    after(async () => {
      await worker?.dispose();
      await up?.dispose();
      await origin?.close();
    });

    const read = async (path) => {
      const res = await get(worker, path);
      return { ...res, cache: res.headers.get('x-cache') };
    };

    test('miss, hit (origin asked once), a PNG byte-exact from the backend, a PATCH invalidates and the next GET has the new data', { timeout: 60_000 }, async () => {
      const first = await read('/v1/products/1');
      const second = await read('/v1/products/1');
      assert.deepEqual([first.status, first.cache, second.status, second.cache], [200, 'miss', 200, 'hit'], show(second));
      assert.deepEqual(second.json, first.json);
      assert.equal(origin.count('GET', '/v1/products/1'), 1);

      for (const want of ['miss', 'hit']) {
        const res = await worker.fetch('/v1/images/2', { signal: AbortSignal.timeout(10_000) });
        const bytes = Buffer.from(await res.arrayBuffer());
        assert.deepEqual([res.status, res.headers.get('x-cache'), res.headers.get('content-type')], [200, want, 'image/png']);
        assert.ok(bytes.equals(productImage('2')), `${want}: the PNG's bytes (${bytes.length} of ${productImage('2').length})`);
      }

      const write = await request(worker, 'PATCH', '/v1/products/1', { body: { price: 99 }, headers: { authorization: `Bearer ${EDITOR_TOKEN}` } });
      assert.equal(write.status, 200, show(write));
      eventIdOf(write);
      const after = await read('/v1/products/1');
      assert.deepEqual([after.cache, after.json.price], ['miss', 99]);
      assert.equal((await read('/v1/products/1')).cache, 'hit');
    });

    if (backend === 'kv') {
      // Every stored entry is a KV write, 1,000 a day on the free plan:
      // made-up query parameters must not spend them.
      test(`${BUSTERS} reads with a made-up query parameter write nothing to KV on a route that lists its parameters; on one that does not, each is an entry`, { timeout: 90_000 }, async () => {
        const keys = async () => (await worker.kvKeys('CACHE_KV')).length;
        const flood = async (path) => {
          const before = await keys();
          const caches = new Set();
          for (let i = 0; i < BUSTERS; i++) caches.add((await read(`${path}?cb=${Math.random()}`)).cache);
          return { before, after: await keys(), caches: [...caches] };
        };
        const listed = await flood('/v1/products');
        const open = await flood('/v1/products/2/reviews');
        console.log(`# kv keys: /v1/products (query listed) ${listed.before} -> ${listed.after} (${listed.caches}); /v1/products/2/reviews (any query) ${open.before} -> ${open.after} (${open.caches})`);
        assert.deepEqual(listed.caches, ['bypass']);
        assert.equal(listed.after, listed.before, 'no KV write for a made-up parameter');
        assert.deepEqual(open.caches, ['miss'], 'a route without the list keys every query');
        assert.equal(open.after - open.before, BUSTERS, 'one entry per made-up query');
      });
    }
  });
}
