// A 5xx says that something on our side failed, never what: the detail
// (a JavaScript error's text, the Hub's or an Edge's own message, SQLite's)
// goes to the log, and the client gets a generic message in the JSON error
// shape (README, "Security"). Both failures are real ones of the instance's
// own state, as in unavailable.test.mjs: D1 loses a table, and the Hub
// cannot open its storage; every route that then fails is asked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { ADMIN, EDITOR, SERVICE } from '../common/accounts.mjs';
import { get, login, loginRequest, patch, post, request } from '../common/api.mjs';
import { openStream } from '../common/sse.mjs';

let worker;
let editor;
let admin;
let service;

before(async () => {
  worker = await startWorker({ name: 'server-errors', vars: { INSTANCE_ID: 'server-errors-test' } });
  [editor, admin, service] = [await login(worker, EDITOR), await login(worker, ADMIN), await login(worker, SERVICE)];
});
after(async () => { await worker?.dispose(); });

/**
 * What a 5xx may say: that a dependency is unavailable, or that a write was
 * saved though its invalidation failed (what the client must know to retry).
 */
const GENERIC = [
  /^the (database|hub|edge|cache backend) is unavailable; try again shortly$/,
  /^the (create|update|delete) of [a-z]+ [0-9]+ was saved, but the cache could not be invalidated; cached reads may be stale until it is \(retry the update\) or they expire$/,
];

/**
 * Sends every request of the list; each 5xx must be in the JSON error shape
 * with one of the GENERIC messages. Returns how many were 5xx; fails
 * listing every 5xx that says more.
 */
async function askAll(requests) {
  let seen = 0;
  const leaks = [];
  for (const [what, send] of requests) {
    const { status, text } = await send();
    console.log(`# ${what}: ${status} ${text.slice(0, 200).replace(/\n/g, ' ')}`);
    if (status < 500) continue;
    seen += 1;
    let message;
    try { message = JSON.parse(text).error.message; } catch { message = undefined; }
    if (typeof message !== 'string' || !GENERIC.some((re) => re.test(message))) leaks.push(`${what}: ${status} ${text.slice(0, 300)}`);
  }
  assert.deepEqual(leaks, [], 'every 5xx says only what failed, generically');
  return seen;
}

test('D1 without its posts table: every 5xx says only that the database is unavailable', { timeout: 60_000 }, async () => {
  await worker.d1('ALTER TABLE posts RENAME TO posts_gone');
  try {
    const seen = await askAll([
      ['GET /api/posts', () => get(worker, '/api/posts')],
      ['GET /api/posts/2', () => get(worker, '/api/posts/2')],
      ['GET /api/feed', () => get(worker, '/api/feed')],
      ['PATCH /api/posts/2', () => patch(worker, '/api/posts/2', { title: 'Never saved' }, { token: editor })],
      ['POST /api/posts', () => post(worker, '/api/posts', { title: 'Never created', body: '' }, { token: editor })],
      ['DELETE /api/posts/2', () => request(worker, 'DELETE', '/api/posts/2', { token: editor })],
    ]);
    assert.equal(seen, 6, 'every request that needs the table failed');
  } finally {
    await worker.d1('ALTER TABLE posts_gone RENAME TO posts');
  }
});

test('a Hub that cannot open its storage: every 5xx, the stream\'s included, carries no internal error text', { timeout: 120_000 }, async () => {
  await get(worker, '/api/status');
  const repair = await worker.breakHubStorage();
  try {
    await worker.start();
    const stream = async () => {
      const s = await openStream(`${worker.url}/api/stream`);
      return { status: s.status, text: s.errorBody ?? '' };
    };
    const seen = await askAll([
      ['GET /api/status', () => get(worker, '/api/status')],
      ['GET /api/stream', stream],
      ['GET /api/stream (resuming)', async () => {
        const s = await openStream(`${worker.url}/api/stream?lastEventId=1`);
        return { status: s.status, text: s.errorBody ?? '' };
      }],
      ['PATCH /api/posts/3', () => patch(worker, '/api/posts/3', { title: `Saved while the Hub was down ${Date.now()}` }, { token: editor })],
      ['POST /api/cache/invalidate', () => post(worker, '/api/cache/invalidate', { type: 'posts' }, { token: service })],
      ['POST /api/auth/login', () => loginRequest(worker, EDITOR)],
      ['GET /api/cache/mirrors', () => get(worker, '/api/cache/mirrors', { token: admin })],
      ['POST /api/cache/mirrors/retry', () => post(worker, '/api/cache/mirrors/retry', {}, { token: admin })],
      ['GET /api/cache/logs', () => get(worker, '/api/cache/logs', { token: admin })],
    ]);
    assert.ok(seen >= 5, `the routes that need the Hub failed (${seen} 5xx)`);
    // The detail is not lost: it went to the log.
    assert.match(worker.output, /hub|edge/i, 'the failure is logged');
  } finally {
    await worker.stop();
    repair();
  }
});
