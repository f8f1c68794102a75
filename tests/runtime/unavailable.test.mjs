// When D1 or the Hub fails, the API answers 503 with its JSON error (README,
// "API": a 5xx is a bug, 503 when D1 or the Hub failed) and a write that
// failed sends no event; a read the Hub cannot serve goes to D1 instead
// (`x-cache: bypass`, README "Failures"). Both failures are real ones of the
// instance's own state: D1 loses a table (renamed with `wrangler d1
// execute` while the instance runs, as a botched migration would), and the
// Hub cannot open its storage (its SQLite file is not a database when the
// Hub starts). Each is then repaired, and the instance goes on where it
// was: the failed writes made no event and took no event id.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { EDITOR, SERVICE } from '../common/accounts.mjs';
import {
  eventIdOf, expectError, get, login, loginRequest, patch, post, read, status, waitUntil,
} from '../common/api.mjs';
import { connect, openStream } from '../common/sse.mjs';

let worker;
let editor;
let service;

before(async () => {
  worker = await startWorker({ name: 'unavailable', vars: { INSTANCE_ID: 'unavailable-test' } });
  [editor, service] = [await login(worker, EDITOR), await login(worker, SERVICE)];
});
after(async () => { await worker?.dispose(); });

test('D1 without its posts table: reads and writes of posts answer 503 with the JSON error, and a failed write sends no event', { timeout: 60_000 }, async () => {
  const stream = await connect(`${worker.url}/api/stream`);
  try {
    const { lastEventId } = await status(worker);
    await worker.d1('ALTER TABLE posts RENAME TO posts_gone');
    try {
      for (const path of ['/api/posts', '/api/posts/2', '/api/feed']) {
        expectError(await get(worker, path), 503, 'unavailable', `GET ${path}`);
      }
      expectError(await patch(worker, '/api/posts/2', { title: 'Never saved' }, { token: editor }), 503, 'unavailable', 'PATCH');
      expectError(await post(worker, '/api/posts', { title: 'Never created', body: '' }, { token: editor }), 503, 'unavailable', 'POST');
      // Other tables are still there: only what needs the lost one fails.
      assert.equal((await read(worker, '/api/types')).json.length > 0, true);
      assert.equal((await status(worker)).lastEventId, lastEventId, 'the failed writes took no event id');
    } finally {
      await worker.d1('ALTER TABLE posts_gone RENAME TO posts');
    }
    const title = `Written once D1 was repaired ${Date.now()}`;
    const write = await patch(worker, '/api/posts/2', { title }, { token: editor });
    assert.equal(write.status, 200, write.text);
    assert.equal(eventIdOf(write), lastEventId + 1, 'the next write takes the next id');
    // The stream's first event since is that write's: none for the failed ones.
    const first = await stream.waitFor((e) => e.type === 'app-update', 5_000, 'the next app-update');
    assert.equal(first.json.id, lastEventId + 1, stream.describe());
    assert.equal(first.json.entityId, '2');
    assert.equal((await read(worker, '/api/posts/2')).json.title, title);
    const all = (await read(worker, '/api/posts')).json;
    assert.ok(!all.some((p) => p.title === 'Never created' || p.title === 'Never saved'), 'nothing of the failed writes was saved');
  } finally {
    stream.close();
  }
});

test('a Hub that cannot open its storage: reads go to D1, writes, the status, the stream and logins answer 503; once repaired, nothing of it remains', { timeout: 120_000 }, async () => {
  await read(worker, '/api/posts/3');
  assert.equal((await read(worker, '/api/posts/3')).cache, 'hit');
  const before = await status(worker);
  const repair = await worker.breakHubStorage();
  const title = `Written while the Hub was down ${Date.now()}`;
  try {
    await worker.start();
    expectError(await get(worker, '/api/status'), 503, 'unavailable', 'GET /api/status');
    const down = await read(worker, '/api/posts/3');
    assert.equal(down.cache, 'bypass', 'a read the Hub cannot serve goes to D1');

    const write = await patch(worker, '/api/posts/3', { title }, { token: editor });
    const error = expectError(write, 503, 'unavailable', 'PATCH while the Hub is down');
    assert.match(error.message, /was saved, but the cache could not be invalidated/);
    assert.equal(write.headers.get('x-invalidation-event'), null);
    const after = await read(worker, '/api/posts/3');
    assert.equal(after.cache, 'bypass');
    assert.equal(after.json.title, title, 'the write itself was saved in D1');

    expectError(await post(worker, '/api/cache/invalidate', { type: 'posts' }, { token: service }), 503, 'unavailable', 'POST /api/cache/invalidate');
    const s = await openStream(`${worker.url}/api/stream`);
    assert.equal(s.status, 503, `GET /api/stream: ${s.errorBody}`);
    assert.equal(JSON.parse(s.errorBody).error.code, 'unavailable');
    assert.doesNotMatch(s.errorBody, /reference|JsValue|stack/i, 'no runtime internals in the message');
    expectError(await loginRequest(worker, EDITOR), 503, 'unavailable', 'POST /api/auth/login');
  } finally {
    repair();
  }
  // The Hub opens its storage on the next request that needs it.
  const back = await waitUntil(async () => {
    const res = await get(worker, '/api/status');
    return res.status === 200 && res.json;
  }, { timeoutMs: 15_000, intervalMs: 200, what: 'the Hub answering again' });
  assert.equal(back.lastEventId, before.lastEventId, 'the failed write made no event');
  assert.deepEqual(back.generations, before.generations);
  const stream = await connect(`${worker.url}/api/stream`, { headers: { 'last-event-id': String(before.lastEventId) } });
  try {
    const next = await patch(worker, '/api/posts/3', { title: `${title}, again` }, { token: editor });
    assert.equal(next.status, 200, next.text);
    assert.equal(eventIdOf(next), before.lastEventId + 1, 'no event id was used up or reused');
    const first = await stream.waitFor((e) => e.type === 'app-update', 5_000, 'the next app-update');
    assert.equal(first.json.id, before.lastEventId + 1, stream.describe());
  } finally {
    stream.close();
  }
  const now = await read(worker, '/api/posts/3');
  assert.equal(now.cache, 'miss');
  assert.equal(now.json.title, `${title}, again`);
});
