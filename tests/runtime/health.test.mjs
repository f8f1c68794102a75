import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { SERVICE } from '../common/accounts.mjs';
import { get, invalidate, login, read, sorted, status } from '../common/api.mjs';

let worker;
before(async () => { worker = await startWorker({ vars: { INSTANCE_ID: 'health-test' } }); });
after(async () => { await worker?.dispose(); });

test('GET /api/health answers ok with version, instance and backend', async () => {
  const res = await worker.fetch('/api/health');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /application\/json/);
  const body = await res.json();
  assert.equal(body.ok, true);
  assert.match(body.version, /^\d+\.\d+\.\d+$/);
  assert.equal(body.instance, 'health-test');
  assert.equal(body.backend, 'memory');
});

test('an unknown route is a JSON 404 and a wrong method a JSON 405', async () => {
  const missing = await worker.fetch('/api/nope');
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.code, 'not_found');
  const wrong = await worker.fetch('/api/health', { method: 'DELETE' });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get('allow'), 'GET');
  assert.equal((await wrong.json()).error.code, 'method_not_allowed');
});

test('a malformed setting fails the request with a message naming it', async () => {
  const bad = await startWorker({ vars: { INSTANCE_ID: 'x', SSE_HEARTBEAT_SECS: 'often' }, requireHealthy: false });
  try {
    const res = await bad.fetch('/api/health');
    assert.equal(res.status, 500);
    const { error } = await res.json();
    assert.equal(error.code, 'configuration');
    assert.match(error.message, /SSE_HEARTBEAT_SECS/);
  } finally {
    await bad.dispose();
  }
});

/** Every type a generation can be kept for. */
const TYPES = ['posts', 'pages', 'categories', 'pictures', 'translations', 'types', 'feed', 'auth'];

test('GET /api/status: an invalidation raises the generation of each type of its closure by one and of no other; cacheEntries counts the memory backend\'s entries, which an invalidation leaves in place', async () => {
  const service = await login(worker, SERVICE);
  const entries = async () => (await status(worker)).cacheEntries;
  const base = await entries();
  assert.equal((await read(worker, '/api/posts')).cache, 'miss');
  assert.equal(await entries(), base + 1, 'a miss stores its entry');
  assert.equal((await read(worker, '/api/posts')).cache, 'hit');
  assert.equal(await entries(), base + 1, 'a hit stores nothing');
  await read(worker, '/api/posts/1');
  await read(worker, '/api/categories');
  assert.equal((await get(worker, '/api/posts/999999')).status, 404);
  assert.equal(await entries(), base + 4, 'one entry per path, an absent row too');

  /** Asserts that each type's generation rose by `by[type]` (0 when absent) since `before`. */
  const rose = (before, after, by, what) => {
    const seen = Object.fromEntries(TYPES.map((t) => [t, (after[t] ?? 0) - (before[t] ?? 0)]));
    const expected = Object.fromEntries(TYPES.map((t) => [t, by[t] ?? 0]));
    assert.deepEqual(seen, expected, `${what}: generations went from ${JSON.stringify(before)} to ${JSON.stringify(after)}`);
  };
  const g0 = (await status(worker)).generations;
  const categories = await invalidate(worker, service, { type: 'categories' });
  assert.deepEqual(sorted(categories.types), ['categories', 'feed', 'pages', 'posts']);
  const g1 = (await status(worker)).generations;
  rose(g0, g1, { categories: 1, posts: 1, pages: 1, feed: 1 }, 'invalidating categories');
  assert.equal(await entries(), base + 4, 'invalidation moves generations on and removes no entry');
  assert.equal((await read(worker, '/api/posts')).cache, 'miss');
  assert.equal(await entries(), base + 5, 'the read stores an entry under the new generation; the old one stays until it expires');
  assert.equal((await read(worker, '/api/types')).cache, 'miss');
  assert.equal((await read(worker, '/api/types')).cache, 'hit', 'a type outside the closure is still cached');

  // Twice, under the singular name: one step each, for posts and its dependant feed.
  await invalidate(worker, service, { type: 'post', id: '1' });
  await invalidate(worker, service, { type: 'post', id: '1' });
  rose(g1, (await status(worker)).generations, { posts: 2, feed: 2 }, 'invalidating post twice');
});
