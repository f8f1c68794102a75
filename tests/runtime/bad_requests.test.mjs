// A table of bad requests: each gets its 4xx status with a JSON error body
// {"error":{"code","message"}}, none makes an event, and afterwards the
// instance still works (health, a read, a write and its event).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker, TEST_SECRETS } from '../common/harness.mjs';
import { EDITOR, SERVICE } from '../common/accounts.mjs';
import {
  login, request, read, patch, status, expectError, expectStatus, eventIdOf, decodeJwt, signJwt, unsignedJwt, nowSecs,
} from '../common/api.mjs';
import { connect } from '../common/sse.mjs';

let worker;
const tokens = {};

before(async () => {
  worker = await startWorker({ vars: { INSTANCE_ID: 'bad-requests-test' } });
  tokens.editor = await login(worker, EDITOR);
  tokens.service = await login(worker, SERVICE);
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
  ['id beyond 64 bits', 'GET', '/api/posts/99999999999999999999999', {}, 400, 'bad_request'],
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
];

test(`a table of ${CASES.length} bad requests: each gets its 4xx JSON error and makes no event`, { timeout: 120_000 }, async () => {
  assert.ok(CASES.length >= 25);
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
    assert.equal(after.body, before.body, 'the rejected writes changed nothing else');
  } finally {
    s.close();
  }
});

test('the rejected writes changed no data', { timeout: 30_000 }, async () => {
  // None of the rejected PATCH/DELETE reached post 1 or created a post "x".
  const posts = (await read(worker, '/api/posts')).json;
  const list = Array.isArray(posts) ? posts : posts.items;
  assert.ok(list.some((p) => p.id === 1), 'post 1 exists (no DELETE got through)');
  assert.ok(!list.some((p) => p.title === 'x'), 'no post "x" was created or renamed');
});
