// The cache backends' conformance suite: the same behaviour, checked the
// same way, for `memory` (entries in the Hub), `kv` (Workers KV under
// `wrangler dev`) and `upstash` (our REST client against the Upstash shim in
// front of a real redis-server), and, when UPSTASH_REDIS_REST_URL and
// UPSTASH_REDIS_REST_TOKEN are set in the environment, a real Upstash
// database. For each: a read misses then hits; a write makes exactly its
// closure miss and the next read shows it; entries expire by TTL (KV stores
// them with an expiration at least 60 s away, as wrangler lists it); 200
// concurrent reads of a freshly invalidated list read the origin a handful
// of times. For upstash also: an unreachable database, a Redis error, a
// wrong token and a database that never answers (given up after 2 s) never
// break a read (it goes to the origin, `x-cache: bypass`) nor serve data
// from before a write; the invalidation the database could not take is
// kept and retried until it is; every failure is in the cache log, without
// the token.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startWorker } from '../common/harness.mjs';
import { startUpstash } from '../common/redis.mjs';
import { ADMIN, EDITOR, SERVICE } from '../common/accounts.mjs';
import { get, login, patch, read, request, status, invalidate, waitUntil, itemsOf, eventIdOf } from '../common/api.mjs';

/**
 * Lifetime of entries in these instances: short, so that expiry is seen
 * quickly, yet long enough that an entry warmed at the start of a test is
 * still there at its end on a slow machine (warming six lists through the
 * slow origin below takes a few seconds).
 */
const TTL_SECS = 10;
/**
 * A slow origin (CACHE_ORIGIN_DELAY_MS), as a remote database would be: under
 * `wrangler dev` a D1 read takes a few ms while 200 requests take most of a
 * second to arrive, so without it a stampede would hardly form, leases or not.
 */
const ORIGIN_DELAY_MS = 300;
/** Readers in the stampede, and the most origin reads they may cause. */
const STAMPEDE = 200;
const HANDFUL = 5;
/** How long a recovery may take: the Hub retries with backoff capped at 30 s. */
const RECOVERY_MS = 45_000;
/** How long Upstash may take to answer before a read goes to the origin (README, "Failures"). */
const UPSTASH_TIMEOUT_MS = 2_000;
/**
 * What a request may take beyond the time the promise allows it: the Worker,
 * the Hub and D1 under `wrangler dev` on a loaded machine. Far below the
 * seconds a missing or longer timeout would add.
 */
const SLACK_MS = 1_500;

const REAL_UPSTASH = process.env.UPSTASH_REDIS_REST_URL && process.env.UPSTASH_REDIS_REST_TOKEN;
const BACKENDS = [
  { name: 'memory', backend: 'memory' },
  { name: 'kv', backend: 'kv' },
  { name: 'cache', backend: 'cache' },
  { name: 'upstash', backend: 'upstash', shim: true },
  {
    name: 'upstash (real database)',
    backend: 'upstash',
    real: true,
    skip: REAL_UPSTASH ? false : 'UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN are not set',
  },
];

for (const spec of BACKENDS) {
  describe(`cache backend ${spec.name}`, { skip: spec.skip }, () => {
    const instance = `backends-${spec.backend}-${spec.real ? `real-${Date.now()}` : 'test'}`;
    let worker;
    let up;
    let editor;
    let admin;
    let service;

    before(async () => {
      let upstashVars = {};
      if (spec.shim) {
        up = await startUpstash();
        upstashVars = up.vars();
      } else if (spec.real) {
        upstashVars = {
          UPSTASH_REDIS_REST_URL: process.env.UPSTASH_REDIS_REST_URL,
          UPSTASH_REDIS_REST_TOKEN: process.env.UPSTASH_REDIS_REST_TOKEN,
        };
      }
      worker = await startWorker({
        name: `backend-${spec.backend}`,
        vars: {
          INSTANCE_ID: instance,
          CACHE_BACKEND: spec.backend,
          CACHE_TTL_SECS: String(TTL_SECS),
          CACHE_ORIGIN_DELAY_MS: String(ORIGIN_DELAY_MS),
          ...upstashVars,
        },
      });
      [editor, admin, service] = [await login(worker, EDITOR), await login(worker, ADMIN), await login(worker, SERVICE)];
    });

    after(async () => {
      if (spec.real && worker) {
        // Leave nothing behind in a real database but entries that expire.
        await fetch(process.env.UPSTASH_REDIS_REST_URL, {
          method: 'POST',
          headers: { authorization: `Bearer ${process.env.UPSTASH_REDIS_REST_TOKEN}` },
          body: JSON.stringify(['DEL', `polycache:${instance}:gen`]),
        }).then((r) => r.arrayBuffer()).catch(() => {});
      }
      await worker?.dispose();
      await up?.dispose();
    });

    test('the health check names the backend', async () => {
      const res = await get(worker, '/api/health');
      assert.equal(res.json.backend, spec.backend);
    });

    test('a read misses, then hits with the same body, under either name of the type', async () => {
      const first = await read(worker, '/api/pictures');
      assert.equal(first.cache, 'miss');
      const second = await read(worker, '/api/pictures');
      assert.equal(second.cache, 'hit');
      assert.equal(second.res.text, first.res.text);
      const alias = await read(worker, '/api/picture');
      assert.equal(alias.cache, 'hit', 'the singular shares the entry');
      const one = await read(worker, '/api/pictures/1');
      assert.equal(one.cache, 'miss');
      assert.equal((await read(worker, '/api/pictures/1')).cache, 'hit');
      const absent = await get(worker, '/api/pictures/999999');
      assert.equal(absent.status, 404);
      const again = await get(worker, '/api/pictures/999999');
      assert.equal(again.status, 404);
      // Only the memory backend keeps a 404 (NEGATIVE_CACHE_SECS): in the
      // others each random id would cost a write (negative_cache.test.mjs).
      assert.equal(again.headers.get('x-cache'), spec.backend === 'memory' ? 'hit' : 'miss', 'an absent row is cached by memory only');
    });

    test('a write makes exactly its closure miss, and the next read shows it', async () => {
      const lists = ['categories', 'posts', 'pages', 'feed', 'types', 'translations'];
      for (const name of lists) {
        await read(worker, `/api/${name}`);
        assert.equal((await read(worker, `/api/${name}`)).cache, 'hit', `/api/${name} warmed`);
      }
      const name = `Renamed ${Date.now()}`;
      const res = await patch(worker, '/api/categories/1', { name }, { token: editor });
      assert.equal(res.status, 200, res.text);
      eventIdOf(res);
      const seen = {};
      for (const list of lists) seen[list] = (await read(worker, `/api/${list}`)).cache;
      assert.deepEqual(seen, {
        categories: 'miss', posts: 'miss', pages: 'miss', feed: 'miss', types: 'hit', translations: 'hit',
      });
      const categories = itemsOf((await read(worker, '/api/categories')).json);
      assert.equal(categories.find((c) => c.id === 1)?.name, name);
      const feed = (await read(worker, '/api/feed')).json.items;
      for (const item of feed.filter((i) => i.category?.id === 1)) assert.equal(item.category.name, name);
    });

    if (spec.backend === 'kv') {
      test(`KV keeps entries at least 60 s, its minimum TTL, even with CACHE_TTL_SECS=${TTL_SECS}`, { timeout: 30_000 }, async () => {
        // Not by waiting a minute: the expiration KV stored with the entry
        // is in the instance's state, and wrangler lists it.
        const path = '/api/translations/1';
        const generation = (await status(worker)).generations.translations ?? 0;
        const notBefore = Math.floor(Date.now() / 1000);
        assert.equal((await read(worker, path)).cache, 'miss');
        const notAfter = Math.ceil(Date.now() / 1000);
        assert.equal((await read(worker, path)).cache, 'hit', 'KV took the entry (it refuses an expiration under 60 s)');
        // Keys are per region (one writer per key and generation), and a
        // deployment without EDGE_REGIONS has the one region `default`.
        const key = `default/translations@${generation}:${path}`;
        const keys = await worker.kvKeys('CACHE_KV', { prefix: 'default/translations@' });
        const entry = keys.find((k) => k.name === key);
        assert.ok(entry, `KV holds ${key}: ${JSON.stringify(keys)}`);
        assert.ok(entry.expiration >= notBefore + 60,
          `expires at ${entry.expiration}, ${entry.expiration - notBefore} s after the read began: less than KV's 60`);
        // CACHE_TTL_SECS is below the minimum, so the minimum is what it gets.
        assert.ok(entry.expiration <= notAfter + 60,
          `expires at ${entry.expiration}, ${entry.expiration - notAfter} s after the read ended: more than KV's 60`);
      });
    } else {
      test(`entries expire after CACHE_TTL_SECS (${TTL_SECS} s)`, { timeout: 30_000 }, async () => {
        assert.equal((await read(worker, '/api/translations/1')).cache, 'miss');
        assert.equal((await read(worker, '/api/translations/1')).cache, 'hit');
        await sleep(TTL_SECS * 1000 + 500);
        assert.equal((await read(worker, '/api/translations/1')).cache, 'miss');
      });
    }

    test(`${STAMPEDE} concurrent reads of a freshly invalidated list read the origin at most ${HANDFUL} times`, { timeout: 60_000 }, async (t) => {
      await read(worker, '/api/posts');
      assert.equal((await read(worker, '/api/posts')).cache, 'hit');
      const before = (await status(worker)).originReads;
      await invalidate(worker, service, { type: 'posts' });
      const started = performance.now();
      const all = await Promise.all(Array.from({ length: STAMPEDE }, () => request(worker, 'GET', '/api/posts', { timeoutMs: 30_000 })));
      const ms = performance.now() - started;
      const counts = {};
      for (const r of all) counts[`${r.status} ${r.headers.get('x-cache')}`] = (counts[`${r.status} ${r.headers.get('x-cache')}`] ?? 0) + 1;
      const originReads = (await status(worker)).originReads - before;
      t.diagnostic(`${spec.name}: ${STAMPEDE} reads in ${ms.toFixed(0)} ms: ${JSON.stringify(counts)}; origin reads ${originReads}`);
      assert.ok(all.every((r) => r.status === 200), JSON.stringify(counts));
      assert.equal(new Set(all.map((r) => r.text)).size, 1, 'every reader got the same list');
      const fromOrigin = all.filter((r) => r.headers.get('x-cache') !== 'hit').length;
      assert.ok(fromOrigin >= 1, 'the invalidation made the list miss');
      assert.equal(originReads, fromOrigin, 'the counter agrees with the x-cache headers');
      assert.ok(originReads <= HANDFUL, `origin reads: ${originReads} (${JSON.stringify(counts)})`);
    });

    if (spec.shim) {
      // Before the failure tests: they restart the shim, which resets its counters.
      test('the client loads each script once, then runs it by SHA, and sends the sync token back', async () => {
        const stats = await up.shim.stats();
        assert.ok(stats.commands.EVALSHA > 10 * (stats.commands.EVAL ?? 0), JSON.stringify(stats.commands));
        assert.ok(stats.multiExec >= 2, 'invalidations are MULTI/EXEC transactions');
        assert.ok(stats.syncTokensReceived > stats.requests / 2, JSON.stringify(stats));
      });

      test('generations lost to an eviction start again past every earlier one: an entry stored before is never served as current', { timeout: 60_000 }, async () => {
        // The hash of generations has no TTL, but a database with an
        // allkeys-* policy may evict any key: DEL stands for that here.
        const gen = `polycache:${instance}:gen`;
        const path = '/api/posts/3';
        await up.redis.client.call('DEL', gen);
        assert.equal((await read(worker, path)).cache, 'miss');
        assert.equal((await read(worker, path)).cache, 'hit');
        // A write moves posts on; nobody reads the post again before the
        // hash is lost once more, so the entry of before is still there.
        const title = `Written before an eviction ${Date.now()}`;
        const res = await patch(worker, path, { title }, { token: editor });
        assert.equal(res.status, 200, res.text);
        await up.redis.client.call('DEL', gen);
        const after = await read(worker, path);
        assert.equal(after.cache, 'miss', 'the entry stored before the write is not served');
        assert.equal(after.json.title, title);
        assert.equal((await read(worker, path)).cache, 'hit', 'and the cache works on from there');
      });

      /** Log records after seq, oldest first. */
      async function logs(since = 0) {
        const res = await request(worker, 'GET', `/api/cache/logs?since=${since}&limit=2000`, { token: admin });
        assert.equal(res.status, 200, res.text);
        return res.json;
      }
      async function lastSeq() { return (await logs()).lastSeq; }
      async function waitForLog(since, what, match) {
        return waitUntil(async () => (await logs(since)).records.find(match), { timeoutMs: 15_000, what: `log record: ${what}` });
      }
      async function recovered(types) {
        await waitUntil(async () => {
          const s = await status(worker);
          return types.every((x) => !s.bypassTypes.includes(x)) && s;
        }, { timeoutMs: RECOVERY_MS, intervalMs: 200, what: `${types} recorded in Redis again` });
      }

      test('unreachable Upstash: reads go to the origin, a write is kept and retried, then the cache is back', { timeout: 90_000 }, async () => {
        const since = await lastSeq();
        await read(worker, '/api/pages');
        const warm = await read(worker, '/api/pages');
        assert.equal(warm.cache, 'hit');
        await up.shim.stop();

        const down = await read(worker, '/api/pages');
        assert.equal(down.cache, 'bypass');
        assert.equal(down.res.text, warm.res.text);
        const failed = await waitForLog(since, 'read failure', (r) => r.msg === 'cache backend failed; read from the origin' && r.kind === 'unreachable');
        assert.equal(failed.backend, 'upstash');

        const title = `Written while Upstash was down ${Date.now()}`;
        const write = await patch(worker, '/api/pages/1', { title }, { token: editor });
        assert.equal(write.status, 200, `the write is acknowledged: ${write.text}`);
        const eventId = eventIdOf(write);
        const unrecorded = await waitForLog(since, 'unrecorded invalidation', (r) => r.eventId === eventId);
        assert.match(unrecorded.msg, /not recorded/);
        assert.deepEqual([...unrecorded.types].sort(), ['feed', 'pages']);
        assert.deepEqual((await status(worker)).bypassTypes, ['pages', 'feed']);
        const during = await read(worker, '/api/pages');
        assert.equal(during.cache, 'bypass');
        assert.equal(itemsOf(during.json).find((p) => p.id === 1).title, title);

        await up.shim.start();
        await recovered(['pages', 'feed']);
        await waitForLog(since, 'recorded after a retry', (r) => r.msg === 'unrecorded invalidation recorded in the cache backend');
        const back = await read(worker, '/api/pages');
        assert.equal(back.cache, 'miss', 'the entry cached before the write is not served');
        assert.equal(itemsOf(back.json).find((p) => p.id === 1).title, title);
        assert.equal((await read(worker, '/api/pages')).cache, 'hit');
      });

      test('a Redis error (OOM) refusing the bump: reads of the affected types bypass until it is recorded', { timeout: 90_000 }, async () => {
        const since = await lastSeq();
        for (const path of ['/api/categories', '/api/types']) {
          await read(worker, path);
          assert.equal((await read(worker, path)).cache, 'hit', `${path} warmed`);
        }
        // Redis refuses every write and still answers reads, as when a
        // database is full: cached entries stay readable.
        await up.redis.client.call('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
        await up.redis.client.call('CONFIG', 'SET', 'maxmemory', '1');
        try {
          const name = `Renamed during OOM ${Date.now()}`;
          const write = await patch(worker, '/api/categories/2', { name }, { token: editor });
          assert.equal(write.status, 200, write.text);
          const eventId = eventIdOf(write);
          const unrecorded = await waitForLog(since, 'unrecorded invalidation', (r) => r.eventId === eventId);
          assert.match(unrecorded.error, /OOM/);
          assert.deepEqual((await status(worker)).bypassTypes, ['posts', 'pages', 'categories', 'feed']);
          // Redis would still serve the old categories entry; the Hub knows better.
          const stale = await read(worker, '/api/categories');
          assert.equal(stale.cache, 'bypass');
          assert.equal(itemsOf(stale.json).find((c) => c.id === 2).name, name);
          // A type outside the closure is still served from Redis.
          assert.equal((await read(worker, '/api/types')).cache, 'hit');
          // A miss needs a write (the lease), which Redis refuses: bypass, logged.
          const miss = await read(worker, '/api/types/1');
          assert.equal(miss.cache, 'bypass');
          await waitForLog(since, 'command failure', (r) => r.msg === 'cache backend failed; read from the origin' && r.kind === 'command');
        } finally {
          await up.redis.client.call('CONFIG', 'SET', 'maxmemory', '0');
        }
        await recovered(['posts', 'pages', 'categories', 'feed']);
        const back = await read(worker, '/api/categories');
        assert.equal(back.cache, 'miss');
        assert.equal((await read(worker, '/api/categories')).cache, 'hit');
      });

      test('a wrong token: reads bypass, writes are kept and retried, and the token is never in a log or a response', { timeout: 90_000 }, async () => {
        const since = await lastSeq();
        const token = up.shim.token;
        await read(worker, '/api/translations');
        assert.equal((await read(worker, '/api/translations')).cache, 'hit');
        await up.shim.stop();
        await up.shim.start({ token: 'a-rotated-token-the-worker-does-not-know' });
        try {
          const down = await read(worker, '/api/translations');
          assert.equal(down.cache, 'bypass');
          assert.ok(!down.res.text.includes(token));
          const failed = await waitForLog(since, 'unauthorized read', (r) => r.kind === 'unauthorized');
          assert.match(failed.error, /401/);
          const write = await patch(worker, '/api/translations/1', { value: `v${Date.now()}` }, { token: editor });
          assert.equal(write.status, 200, write.text);
          assert.ok(!write.text.includes(token));
          const eventId = eventIdOf(write);
          await waitForLog(since, 'unrecorded invalidation', (r) => r.eventId === eventId);
          assert.deepEqual((await status(worker)).bypassTypes, ['pages', 'translations', 'feed']);
        } finally {
          await up.shim.stop();
          await up.shim.start({ token });
        }
        await recovered(['pages', 'translations', 'feed']);
        const all = JSON.stringify((await logs(0)).records);
        assert.ok(!all.includes(token), 'the token is in no log record');
        assert.equal((await read(worker, '/api/translations')).cache, 'miss');
      });


      test(`an Upstash that accepts and never answers: a read goes to the origin after ${UPSTASH_TIMEOUT_MS} ms, a write is acknowledged and kept`, { timeout: 90_000 }, async (t) => {
        const since = await lastSeq();
        await read(worker, '/api/pictures');
        const warm = await read(worker, '/api/pictures');
        assert.equal(warm.cache, 'hit');
        // The shim's port now accepts connections and never answers, as a
        // database that hangs does.
        await up.shim.stop();
        const silent = await silentServer(up.shim.port);
        const alt = `Written while Upstash hung ${Date.now()}`;
        try {
          const down = await read(worker, '/api/pictures');
          assert.equal(down.cache, 'bypass');
          assert.equal(down.res.text, warm.res.text);
          assert.ok(silent.accepted() > 0, 'the Worker asked the silent server');
          assert.ok(down.res.ms < UPSTASH_TIMEOUT_MS + ORIGIN_DELAY_MS + SLACK_MS,
            `the read took ${down.res.ms.toFixed(0)} ms: Upstash's timeout is ${UPSTASH_TIMEOUT_MS} ms, the origin ${ORIGIN_DELAY_MS} ms`);
          const failed = await waitForLog(since, 'read timeout', (r) => r.msg === 'cache backend failed; read from the origin' && r.kind === 'timeout');
          assert.equal(failed.backend, 'upstash');

          const write = await patch(worker, '/api/pictures/2', { alt }, { token: editor });
          assert.equal(write.status, 200, `the write is acknowledged: ${write.text}`);
          assert.ok(write.ms < UPSTASH_TIMEOUT_MS + SLACK_MS,
            `the write took ${write.ms.toFixed(0)} ms: Upstash's timeout is ${UPSTASH_TIMEOUT_MS} ms`);
          t.diagnostic(`with Upstash silent: a read in ${down.res.ms.toFixed(0)} ms, a write in ${write.ms.toFixed(0)} ms`);
          const eventId = eventIdOf(write);
          const unrecorded = await waitForLog(since, 'unrecorded invalidation', (r) => r.eventId === eventId);
          assert.match(unrecorded.error, new RegExp(`no answer within ${UPSTASH_TIMEOUT_MS} ms`));
          const closure = ['feed', 'pages', 'pictures', 'posts'];
          assert.deepEqual([...(await status(worker)).bypassTypes].sort(), closure);
          const during = await read(worker, '/api/pictures');
          assert.equal(during.cache, 'bypass');
          assert.equal(itemsOf(during.json).find((p) => p.id === 2).alt, alt);
        } finally {
          await silent.close();
          await up.shim.start();
        }
        await recovered(['pictures', 'posts', 'pages', 'feed']);
        const back = await read(worker, '/api/pictures');
        assert.equal(back.cache, 'miss', 'the entry cached before the write is not served');
        assert.equal(itemsOf(back.json).find((p) => p.id === 2).alt, alt);
        assert.equal((await read(worker, '/api/pictures')).cache, 'hit');
      });
    }
  });
}

/**
 * A server on 127.0.0.1:port that accepts connections, reads what they
 * send and never answers. accepted(): connections so far; close() ends it
 * and every connection.
 */
async function silentServer(port) {
  const sockets = new Set();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.resume();
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    accepted: () => accepted,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
