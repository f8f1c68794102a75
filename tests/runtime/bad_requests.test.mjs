// A table of bad requests: each gets its 4xx status with a JSON error body
// {"error":{"code","message"}}, none makes an event or changes any data (post
// 1 and every list read before and after, from D1), the admin routes refuse
// anonymous, editor and service requests without side effects, bodies of
// exactly 64 KiB are taken and one byte more is 413, and afterwards the
// instance still works (health, a read, a write and its event).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, startWorker, TEST_SECRETS } from '../common/harness.mjs';
import { ADMIN, EDITOR, SERVICE } from '../common/accounts.mjs';
import {
  login, request, read, get, patch, post, status, invalidate, waitUntil, expectError, expectStatus, eventIdOf,
  decodeJwt, signJwt, unsignedJwt, nowSecs, REQUEST_TIMEOUT_MS, originSnapshot,
} from '../common/api.mjs';
import { connect } from '../common/sse.mjs';

let worker;
const tokens = {};
// A mirror where nothing listens, tried once before its entry is parked: the
// refused retries below must leave a parked entry parked.
let deadMirror;

before(async () => {
  deadMirror = `http://127.0.0.1:${await freePort()}`;
  worker = await startWorker({
    vars: { INSTANCE_ID: 'bad-requests-test', CACHE_MIRRORS: deadMirror, MIRROR_MAX_ATTEMPTS: '1' },
  });
  tokens.editor = await login(worker, EDITOR);
  tokens.service = await login(worker, SERVICE);
  tokens.admin = await login(worker, ADMIN);
  // Tokens made by hand from a real editor token's claims.
  const { payload } = decodeJwt(tokens.editor);
  tokens.forged = signJwt({ ...payload, role: 'admin' }, 'another-secret-0123456789abcdef0123456789');
  tokens.forgedSameRole = signJwt(payload, `${TEST_SECRETS.JWT_SECRET}x`);
  tokens.expired = signJwt({ ...payload, iat: nowSecs() - 7200, exp: nowSecs() - 3600 }, TEST_SECRETS.JWT_SECRET);
  tokens.noExp = signJwt((({ exp, ...rest }) => rest)(payload), TEST_SECRETS.JWT_SECRET);
  tokens.algNone = unsignedJwt({ ...payload, role: 'admin' });
  // Right secret, but an algorithm the server must not take from the token.
  tokens.hs512 = signJwt(payload, TEST_SECRETS.JWT_SECRET, { alg: 'HS512', typ: 'JWT' });
  tokens.tampered = (() => {
    // A genuine signature over the editor's claims, with the payload changed to admin.
    const [h, , sig] = tokens.editor.split('.');
    return `${h}.${Buffer.from(JSON.stringify({ ...payload, role: 'admin' })).toString('base64url')}.${sig}`;
  })();
});
after(async () => { await worker?.dispose(); });

const json = { 'content-type': 'application/json' };
const big = JSON.stringify({ title: 'x', body: 'a'.repeat(70 * 1024) });

// [name, method, path, {token, body, headers}, status, code]
const CASES = [
  ['malformed JSON on create', 'POST', '/api/posts', { token: 'editor', body: '{"title": ', headers: json }, 400, 'bad_request'],
  ['malformed JSON on update', 'PATCH', '/api/posts/1', { token: 'editor', body: '{title: "x"}', headers: json }, 400, 'bad_request'],
  ['malformed JSON on login', 'POST', '/api/auth/login', { body: '{"email":', headers: json }, 400, 'bad_request'],
  ['malformed JSON on invalidate', 'POST', '/api/cache/invalidate', { token: 'service', body: 'not json', headers: json }, 400, 'bad_request'],
  ['70 KiB body on create', 'POST', '/api/posts', { token: 'editor', body: big, headers: json }, 413, 'payload_too_large'],
  ['70 KiB body on update', 'PATCH', '/api/posts/1', { token: 'editor', body: big, headers: json }, 413, 'payload_too_large'],
  ['70 KiB body on login', 'POST', '/api/auth/login', { body: big, headers: json }, 413, 'payload_too_large'],
  ['text/plain body', 'POST', '/api/posts', { token: 'editor', body: '{"title":"x"}', headers: { 'content-type': 'text/plain' } }, 415, 'unsupported_media_type'],
  ['form body', 'PATCH', '/api/posts/1', { token: 'editor', body: 'title=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, 'unsupported_media_type'],
  ['no content-type', 'POST', '/api/cache/invalidate', { token: 'service', body: '{"type":"posts"}', headers: { 'content-type': '' } }, 415, 'unsupported_media_type'],
  ['unknown type path (list)', 'GET', '/api/widgets', {}, 404, 'not_found'],
  ['unknown type path (item)', 'GET', '/api/widgets/1', {}, 404, 'not_found'],
  ['unknown type path (write)', 'POST', '/api/widgets', { token: 'editor', body: { title: 'x' } }, 404, 'not_found'],
  ['feed is not a content type', 'POST', '/api/feed', { token: 'editor', body: { title: 'x' } }, 405, 'method_not_allowed'],
  ['unknown type to invalidate', 'POST', '/api/cache/invalidate', { token: 'service', body: { type: 'widgets' } }, 422, 'unprocessable'],
  ['unknown field on create', 'POST', '/api/posts', { token: 'editor', body: { title: 'x', colour: 'red' } }, 422, 'unprocessable'],
  ['unknown field on update', 'PATCH', '/api/posts/1', { token: 'editor', body: { headline: 'x' } }, 422, 'unprocessable'],
  ['missing title on create', 'POST', '/api/posts', { token: 'editor', body: { body: 'no title' } }, 422, 'unprocessable'],
  ['title of the wrong type', 'PATCH', '/api/posts/1', { token: 'editor', body: { title: 5 } }, 422, 'unprocessable'],
  ['categoryId of the wrong type', 'PATCH', '/api/posts/1', { token: 'editor', body: { categoryId: 'abc' } }, 422, 'unprocessable'],
  ['unknown field to invalidate', 'POST', '/api/cache/invalidate', { token: 'service', body: { type: 'posts', colour: 'red' } }, 422, 'unprocessable'],
  ['id "abc"', 'GET', '/api/posts/abc', {}, 400, 'bad_request'],
  ['id "-1"', 'GET', '/api/posts/-1', {}, 400, 'bad_request'],
  ['id "1.5"', 'GET', '/api/posts/1.5', {}, 400, 'bad_request'],
  ['id "0"', 'GET', '/api/posts/0', {}, [400, 404]],
  // A whole number past what an id can be names no row, like any id with no row.
  ['id beyond 64 bits', 'GET', '/api/posts/99999999999999999999999', {}, 404, 'not_found'],
  ['id with a newline', 'PATCH', '/api/posts/1%0A', { token: 'editor', body: { title: 'x' } }, 400, 'bad_request'],
  ['absent id', 'GET', '/api/posts/987654', {}, 404, 'not_found'],
  ['update of an absent id', 'PATCH', '/api/posts/987654', { token: 'editor', body: { title: 'x' } }, 404, 'not_found'],
  ['forged token (another secret, role admin)', 'PATCH', '/api/posts/1', { token: 'forged', body: { title: 'x' } }, 401, 'unauthenticated'],
  ['forged token (another secret, same claims)', 'POST', '/api/cache/invalidate', { token: 'forgedSameRole', body: { type: 'posts' } }, 401, 'unauthenticated'],
  ['tampered payload, genuine signature', 'POST', '/api/cache/invalidate', { token: 'tampered', body: { type: 'posts' } }, 401, 'unauthenticated'],
  ['expired token', 'PATCH', '/api/posts/1', { token: 'expired', body: { title: 'x' } }, 401, 'unauthenticated'],
  ['token without exp', 'PATCH', '/api/posts/1', { token: 'noExp', body: { title: 'x' } }, 401, 'unauthenticated'],
  ['alg none token', 'PATCH', '/api/posts/1', { token: 'algNone', body: { title: 'x' } }, 401, 'unauthenticated'],
  ['HS512 token signed with the right secret', 'DELETE', '/api/posts/1', { token: 'hs512' }, 401, 'unauthenticated'],
  ['garbage bearer token', 'PATCH', '/api/posts/1', { token: 'not.a.jwt', body: { title: 'x' } }, 401, 'unauthenticated'],
  ['no token', 'PATCH', '/api/posts/1', { body: { title: 'x' } }, 401, 'unauthenticated'],
  ['no token to invalidate', 'POST', '/api/cache/invalidate', { body: { type: 'posts' } }, 401, 'unauthenticated'],
  ['Basic credentials', 'DELETE', '/api/posts/1', { headers: { authorization: `Basic ${Buffer.from(`${EDITOR.email}:${EDITOR.password}`).toString('base64')}` } }, 401, 'unauthenticated'],
  ['editor on the invalidate endpoint', 'POST', '/api/cache/invalidate', { token: 'editor', body: { type: 'posts' } }, 403, 'forbidden'],
  ['service on PATCH', 'PATCH', '/api/posts/1', { token: 'service', body: { title: 'x' } }, 403, 'forbidden'],
  ['service on POST', 'POST', '/api/posts', { token: 'service', body: { title: 'x' } }, 403, 'forbidden'],
  ['service on DELETE', 'DELETE', '/api/posts/1', { token: 'service' }, 403, 'forbidden'],
  ['PUT on an item', 'PUT', '/api/posts/1', { token: 'editor', body: { title: 'x' } }, 405, 'method_not_allowed'],
  ['DELETE on a list', 'DELETE', '/api/posts', { token: 'editor' }, 405, 'method_not_allowed'],
  ['POST on the stream', 'POST', '/api/stream', { body: {} }, 405, 'method_not_allowed'],
  ['GET on the invalidate endpoint', 'GET', '/api/cache/invalidate', {}, 405, 'method_not_allowed'],
  ['GET on login', 'GET', '/api/auth/login', {}, 405, 'method_not_allowed'],
  // Methods the Worker's HTTP library does not know, which it would read as GET.
  ['PURGE on an item', 'PURGE', '/api/posts/1', {}, 405, 'method_not_allowed'],
  ['PROPFIND with a body on a list', 'PROPFIND', '/api/posts', { token: 'editor', body: { title: 'x' } }, 405, 'method_not_allowed'],
  ['newline in a type path', 'GET', '/api/posts%0A', {}, 404, 'not_found'],
  ['SSE injection in a type path', 'GET', '/api/posts%0Aevent:%20reset%0A/1', {}, 404, 'not_found'],
  ['control character in a type path', 'GET', '/api/post%00s', {}, 404, 'not_found'],
  ['newline in a type to invalidate', 'POST', '/api/cache/invalidate', { token: 'service', body: { type: 'posts\nevent: reset' } }, 422, 'unprocessable'],
  ['NUL in a type to invalidate', 'POST', '/api/cache/invalidate', { token: 'service', body: { type: 'posts\u0000' } }, 422, 'unprocessable'],
  ['unknown action to invalidate', 'POST', '/api/cache/invalidate', { token: 'service', body: { type: 'posts', action: 'explode' } }, 422, 'unprocessable'],
  ['unknown type in the stream filter', 'GET', '/api/stream?types=posts,widgets', {}, 422, 'unprocessable'],
  ['newline in the stream filter', 'GET', '/api/stream?types=posts%0Adata:%20x', {}, 422, 'unprocessable'],
  ['wrong password', 'POST', '/api/auth/login', { body: { email: EDITOR.email, password: 'wrong' } }, 401, 'unauthenticated'],
  ['unknown account', 'POST', '/api/auth/login', { body: { email: 'nobody@polycache.test', password: 'x' } }, 401, 'unauthenticated'],
  // The admin routes: nobody but an admin, whatever else the token may do.
  ...[['GET', '/api/cache/logs'], ['GET', '/api/cache/mirrors'], ['POST', '/api/cache/mirrors/retry']].flatMap(([method, path]) => [
    [`anonymous ${method} ${path}`, method, path, {}, 401, 'unauthenticated'],
    [`editor ${method} ${path}`, method, path, { token: 'editor' }, 403, 'forbidden'],
    [`service ${method} ${path}`, method, path, { token: 'service' }, 403, 'forbidden'],
  ]),
];

// What the bad requests aim at: post 1, every list (a rejected create or
// delete would show there) and the feed, every field of them.
const TARGETS = ['/api/posts/1', '/api/posts', '/api/pages', '/api/categories', '/api/pictures', '/api/translations', '/api/types', '/api/feed'];

/** The JSON of every target, by path. */
async function snapshot() {
  const out = {};
  for (const path of TARGETS) out[path] = (await read(worker, path)).json;
  return out;
}

/** The targets as D1 has them: every type invalidated first (not mirrored), so each read is a miss. */
const snapshotFromOrigin = () => originSnapshot(worker, tokens.service, TARGETS);

/** Taken before the table runs, compared with D1 right after it. */
let beforeTable;

test(`a table of ${CASES.length} bad requests: each gets its 4xx JSON error and makes no event`, { timeout: 120_000 }, async () => {
  assert.ok(CASES.length >= 25);
  beforeTable = await snapshot();
  assert.equal(beforeTable['/api/posts/1'].id, 1);
  const watcher = await connect(`${worker.url}/api/stream`);
  const { lastEventId } = await status(worker);
  const wrong = [];
  try {
    for (const [name, method, path, opts, code, errorCode] of CASES) {
      const token = opts.token ? tokens[opts.token] ?? opts.token : undefined;
      const res = await request(worker, method, path, { ...opts, token });
      try {
        expectError(res, code, errorCode, `${name}: ${method} ${path}`);
        if (code === 405) assert.ok(res.headers.get('allow'), `${name}: 405 names the allowed methods`);
        if (code === 401 && path === '/api/auth/login') assert.equal(res.json.token, undefined);
      } catch (e) {
        wrong.push(e.message.split('\n')[0]);
      }
    }
    assert.deepEqual(wrong, [], `${wrong.length} of ${CASES.length} cases answered wrongly`);
    assert.equal((await status(worker)).lastEventId, lastEventId, 'no bad request made an event');
    assert.equal(watcher.ofType('app-update').length, 0, 'no bad request reached the stream');
    assert.ok(!watcher.ended, 'the stream survived');
  } finally {
    watcher.close();
  }
});

test('the rejected requests changed no data: post 1 and every list, read from D1, are as before the table', { timeout: 30_000 }, async () => {
  assert.ok(beforeTable, 'the table test took its snapshot');
  // No allowed write has run since the table: any difference is a refused request that wrote.
  assert.deepEqual(await snapshotFromOrigin(), beforeTable);
});

test('a refused mirror retry leaves a parked entry parked and logs nothing; an admin\'s retry requeues it', { timeout: 60_000 }, async () => {
  const mirror = async () => {
    const body = expectStatus(await get(worker, '/api/cache/mirrors', { token: tokens.admin }), 200, 'mirror status');
    assert.equal(body.mirrors.length, 1, JSON.stringify(body));
    return body.mirrors[0];
  };
  const logsSince = async (seq) => expectStatus(await get(worker, `/api/cache/logs?since=${seq}`, { token: tokens.admin }), 200, 'cache log');

  const { eventId } = await invalidate(worker, tokens.service, { type: 'posts', id: 'to-be-parked' });
  const parked = await waitUntil(async () => {
    const m = await mirror();
    return m.pending === 0 && m.parked.some((e) => e.eventId === eventId) && m;
  }, { timeoutMs: 20_000, what: `event ${eventId} parked for ${deadMirror}` });
  const { lastSeq } = await logsSince(0);

  for (const [who, token, code, errorCode] of [['anonymous', undefined, 401, 'unauthenticated'], ['editor', tokens.editor, 403, 'forbidden'], ['service', tokens.service, 403, 'forbidden']]) {
    expectError(await post(worker, '/api/cache/mirrors/retry', {}, { token }), code, errorCode, `${who} POST /api/cache/mirrors/retry`);
    expectError(await get(worker, '/api/cache/mirrors', { token }), code, errorCode, `${who} GET /api/cache/mirrors`);
    expectError(await get(worker, `/api/cache/logs?since=${lastSeq}`, { token }), code, errorCode, `${who} GET /api/cache/logs`);
  }
  const still = await mirror();
  assert.equal(still.pending, 0, 'nothing was put back in the queue');
  assert.deepEqual(still.parked, parked.parked, 'the parked entries are unchanged');
  const since = await logsSince(lastSeq);
  assert.deepEqual(since.records.map((r) => r.msg), [], 'no record of a retry, a delivery attempt or a parking');

  // The same retry by an admin does what the refused ones did not.
  const retried = expectStatus(await post(worker, '/api/cache/mirrors/retry', {}, { token: tokens.admin }), 200, 'admin retry');
  assert.equal(retried.requeued, parked.parked.length);
  const requested = (await logsSince(lastSeq)).records.filter((r) => r.msg === 'mirror retry requested');
  assert.deepEqual(requested.map((r) => r.requeued), [parked.parked.length], 'the admin\'s retry is logged');
});

test('afterwards the instance still works: health, a read, a write and its event', { timeout: 30_000 }, async () => {
  expectStatus(await request(worker, 'GET', '/api/health'), 200, 'health');
  const before = (await read(worker, '/api/posts/1')).json;
  assert.equal(before.id, 1);
  const s = await connect(`${worker.url}/api/stream`);
  try {
    const title = `still works ${Date.now()}`;
    const res = await patch(worker, '/api/posts/1', { title }, { token: tokens.editor });
    expectStatus(res, 200, 'PATCH after the bad requests');
    const eventId = eventIdOf(res);
    await s.waitForId(eventId);
    const after = (await read(worker, '/api/posts/1')).json;
    assert.equal(after.title, title);
    assert.equal(after.body, before.body, 'a PATCH of the title changed the title only');
  } finally {
    s.close();
  }
});

/** JSON text of exactly `bytes` bytes: `value` with spaces before its closing brace. */
function jsonOfSize(value, bytes) {
  const text = JSON.stringify(value);
  const pad = bytes - Buffer.byteLength(text);
  assert.ok(pad >= 0, `${text} fits in ${bytes} bytes`);
  return `${text.slice(0, -1)}${' '.repeat(pad)}}`;
}

/**
 * `text` sent as a stream (chunked, no content-length), so that the Worker
 * can only learn its size by reading it. Returns what request() returns.
 */
async function requestChunked(method, path, text, token) {
  const bytes = Buffer.from(text);
  const body = new ReadableStream({
    start(controller) {
      for (let at = 0; at < bytes.length; at += 16_384) controller.enqueue(bytes.subarray(at, at + 16_384));
      controller.close();
    },
  });
  const headers = { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const res = await fetch(`${worker.url}${path}`, { method, headers, body, duplex: 'half', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const answer = await res.text();
  let json;
  try { json = JSON.parse(answer); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text: answer, json };
}

test('on every route that takes a body, 64 KiB exactly is taken and one byte more is 413, sized by content-length or by reading a chunked body', { timeout: 60_000 }, async () => {
  const LIMIT = 64 * 1024;
  const ROUTES = [
    ['create', 'POST', '/api/posts', 'editor', (n) => ({ title: `${n} bytes`, body: 'padded with spaces' }), 201],
    ['update', 'PATCH', '/api/posts/1', 'editor', (n) => ({ title: `${n} bytes` }), 200],
    ['login', 'POST', '/api/auth/login', undefined, () => ({ email: EDITOR.email, password: EDITOR.password }), 200],
    ['invalidate', 'POST', '/api/cache/invalidate', 'service', () => ({ type: 'posts', mirror: false }), 200],
  ];
  const TRANSPORTS = [
    ['content-length', (method, path, text, token) => request(worker, method, path, { token, body: text, headers: { 'content-type': 'application/json' } })],
    ['chunked', requestChunked],
  ];
  const watcher = await connect(`${worker.url}/api/stream`);
  try {
    const before = await snapshot();
    const { lastEventId } = await status(worker);
    for (const [name, method, path, who, value] of ROUTES) {
      for (const [transport, send] of TRANSPORTS) {
        const text = jsonOfSize(value(LIMIT + 1), LIMIT + 1);
        assert.equal(Buffer.byteLength(text), LIMIT + 1);
        const res = await send(method, path, text, tokens[who]);
        expectError(res, 413, 'payload_too_large', `${name}, ${LIMIT + 1} bytes (${transport})`);
        assert.equal(res.json.token, undefined, `${name}: no token for a refused body`);
      }
    }
    assert.equal((await status(worker)).lastEventId, lastEventId, 'no refused body made an event');
    assert.deepEqual(await snapshot(), before, 'no refused body changed data');
    assert.equal(watcher.ofType('app-update').length, 0, 'no refused body reached the stream');

    for (const [name, method, path, who, value, expected] of ROUTES) {
      for (const [transport, send] of TRANSPORTS) {
        const what = `${name}, ${LIMIT} bytes (${transport})`;
        const text = jsonOfSize(value(LIMIT), LIMIT);
        assert.equal(Buffer.byteLength(text), LIMIT);
        const body = expectStatus(await send(method, path, text, tokens[who]), expected, what);
        // The body was read and acted on, not just let past the size check.
        if (name === 'create' || name === 'update') assert.equal(body.title, `${LIMIT} bytes`, what);
        if (name === 'login') assert.equal(typeof body.token, 'string', what);
        if (name === 'invalidate') assert.equal(body.ok, true, what);
      }
    }
    assert.equal((await status(worker)).lastEventId, lastEventId + 6, 'a create, an update and an invalidation per transport');
  } finally {
    watcher.close();
  }
});
