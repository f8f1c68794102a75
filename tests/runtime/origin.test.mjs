// Origin mode on the memory backend: polycache in front of the stand-in shop
// API (tests/common/origin.mjs). Reads through the route table are cached
// (hit, miss, bypass as the README says), writes through polycache reach
// the shop and invalidate on success, the shop's own changes invalidate
// through the webhook, paths outside the table pass through uncached, and
// no request makes polycache fetch any host but ORIGIN_URL's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { request as httpRequest } from 'node:http';
import { startWorker, TEST_SECRETS } from '../common/harness.mjs';
import { get, request, show, expectStatus, eventIdOf, itemsOf } from '../common/api.mjs';
import { streamPool } from '../common/sse.mjs';
import { startCli } from '../common/cli.mjs';
import { startOrigin, productImage, EDITOR_TOKEN, VIEWER_TOKEN } from '../common/origin.mjs';

const INSTANCE = 'origin-test';
const EDITOR = { authorization: `Bearer ${EDITOR_TOKEN}` };
let origin;
let worker;
const streams = streamPool(() => worker.url);

before(async () => {
  origin = await startOrigin();
  worker = await startWorker({ name: 'origin', vars: { ...origin.vars(), INSTANCE_ID: INSTANCE } });
});
after(async () => {
  streams.closeAll();
  await worker?.dispose();
  await origin?.close();
});

/** GET through polycache: {status, cache (x-cache), json, text, headers}. */
async function read(path, headers = {}) {
  const res = await get(worker, path, { headers });
  return { ...res, cache: res.headers.get('x-cache') };
}

/** Reads `path` until it is a hit (at most 3 reads), so a test starts from a warm entry. */
async function warm(path) {
  for (let i = 0; i < 3; i++) {
    const res = await read(path);
    if (res.cache === 'hit') return res;
  }
  assert.fail(`${path} never became a hit`);
}

/**
 * A long-lived service token for the shop's webhook, as its owner mints it:
 * `polycache token mint --name shop --instance <INSTANCE_ID>` with
 * JWT_SECRET in the environment; the token alone on stdout.
 */
async function shopToken() {
  const configDir = mkdtempSync(join(tmpdir(), 'polycache-cli-'));
  try {
    const run = await startCli(['token', 'mint', '--name', 'shop', '--instance', INSTANCE], {
      configDir, env: { JWT_SECRET: TEST_SECRETS.JWT_SECRET },
    }).done;
    assert.equal(run.code, 0, `polycache token mint: ${run.stderr}`);
    return run.stdout.trim();
  } finally {
    rmSync(configDir, { recursive: true, force: true });
  }
}

test('GET /api/health says origin mode; GET /api/cache/routes lists the table and never the origin\'s address', async () => {
  const health = expectStatus(await get(worker, '/api/health'), 200, 'health');
  assert.equal(health.mode, 'origin');
  const res = await get(worker, '/api/cache/routes');
  const routes = expectStatus(res, 200, 'routes');
  assert.equal(routes.mode, 'origin');
  assert.deepEqual(routes.routes.map((r) => [r.path, r.type]), origin.routes.map((r) => [r.path, r.type]));
  const greeting = routes.routes.find((r) => r.path === '/v1/greeting');
  assert.deepEqual([greeting.public, greeting.vary], [true, ['accept-language']]);
  assert.equal(routes.routes.find((r) => r.path === '/v1/products').public, false, 'public defaults to false');
  assert.ok(!res.text.includes(String(origin.port)), `the origin's address is not shown: ${res.text}`);
});

test('a second GET is a hit with the same body and headers, and the origin saw one request', async () => {
  origin.resetCounts();
  const miss = await read('/v1/products/1');
  const hit = await read('/v1/products/1');
  assert.deepEqual([miss.status, miss.cache, hit.status, hit.cache], [200, 'miss', 200, 'hit'], `${show(miss)} / ${show(hit)}`);
  assert.deepEqual(hit.json, miss.json);
  assert.equal(hit.json.title, 'Product 1');
  assert.equal(origin.count('GET', '/v1/products/1'), 1, 'the origin was asked once');
  assert.match(hit.headers.get('content-type'), /^application\/json/);
  // The origin's own headers come from the stored answer: the hit shows the
  // request counter of the miss.
  assert.equal(hit.headers.get('x-shop-request'), miss.headers.get('x-shop-request'));
  assert.ok(hit.headers.get('x-polycache-edge'), 'x-polycache-edge on a hit');
  const list = await read('/v1/products');
  assert.equal(itemsOf(list.json).length, 10, 'the list of the 10 products');
});

test('the query\'s order does not matter: ?limit=3&sort=id and ?sort=id&limit=3 are one entry', async () => {
  origin.resetCounts();
  const a = await read('/v1/products?limit=3&sort=id');
  const b = await read('/v1/products?sort=id&limit=3');
  assert.deepEqual([a.cache, b.cache], ['miss', 'hit']);
  assert.equal(itemsOf(b.json).length, 3);
  assert.equal(origin.count('GET', '/v1/products'), 1);
  const other = await read('/v1/products?limit=4');
  assert.equal(other.cache, 'miss', 'another query is another entry');
  assert.equal(itemsOf(other.json).length, 4);
});

test('a route that lists its query parameters: one it does not list (a cache-buster) is answered from the origin every time and never stored; the listed ones still hit', async () => {
  origin.resetCounts();
  const statusBefore = expectStatus(await get(worker, '/api/status'), 200, 'status');
  const busted = [];
  for (let i = 0; i < 20; i++) busted.push(await read(`/v1/products?limit=2&cb=${Math.random()}`));
  for (const res of busted) {
    assert.deepEqual([res.status, res.cache, res.headers.get('x-polycache-bypass')], [200, 'bypass', 'query'], show(res));
    assert.equal(itemsOf(res.json).length, 2, 'the origin answered the query it was sent');
  }
  assert.equal(origin.count('GET', '/v1/products'), 20, 'each one asked the origin');
  const statusAfter = expectStatus(await get(worker, '/api/status'), 200, 'status');
  console.log(`# 20 reads with a made-up parameter: ${busted.filter((r) => r.cache === 'bypass').length} bypass (query), memory entries ${statusBefore.cacheEntries} -> ${statusAfter.cacheEntries}`);
  assert.equal(statusAfter.cacheEntries, statusBefore.cacheEntries, 'no entry stored for them');
  const routes = expectStatus(await get(worker, '/api/cache/routes'), 200, 'routes');
  assert.deepEqual(routes.routes.find((r) => r.path === '/v1/products').query, ['limit', 'sort']);
  assert.equal(routes.routes.find((r) => r.path === '/v1/greeting').query, null, 'a route without the list keys every query');
  // The listed parameters are cached as before.
  const listed = [await read('/v1/products?sort=id&limit=2'), await read('/v1/products?limit=2&sort=id')];
  assert.deepEqual(listed.map((r) => r.cache), ['miss', 'hit']);
});

/** A request through node:http (the raw socket one, rawRequest, is below), which sends headers that fetch refuses (Expect): {status, headers, text}. */
function nodeRequest(method, path, headers, body) {
  const url = new URL(path, worker.url);
  return new Promise((resolve, reject) => {
    const out = httpRequest({ host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers, timeout: 15_000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    out.on('timeout', () => out.destroy(new Error(`${method} ${path}: no answer in 15 s`)));
    out.on('error', reject);
    out.end(body);
  });
}

// Product 10 is this test's own: the others read and write their own ids.
test('Expect: 100-continue from a client is not passed to the origin, whose 100 Continue would come back as its answer: reads and writes answer as without it', async () => {
  origin.resetCounts();
  const read = await nodeRequest('GET', '/v1/products/10', { expect: '100-continue' });
  assert.equal(read.status, 200, read.text);
  assert.equal(String(JSON.parse(read.text).id), '10');
  const body = JSON.stringify({ price: 41 });
  const write = await nodeRequest('PATCH', '/v1/products/10', { expect: '100-continue', ...EDITOR, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }, body);
  assert.equal(write.status, 200, write.text);
  assert.equal(JSON.parse(write.text).price, 41);
  const seen = origin.requests.filter((r) => r.path.startsWith('/v1/products/10'));
  assert.deepEqual(seen.map((r) => [r.method, r.headers.expect]), [['GET', undefined], ['PATCH', undefined]]);
  // The Worker is still whole: the next plain read answers.
  assert.equal((await get(worker, '/v1/products/10')).status, 200);
});

test('Vary: two Accept-Language values are two entries, each with its own language', async () => {
  origin.resetCounts();
  const fr1 = await read('/v1/greeting', { 'accept-language': 'fr' });
  const de1 = await read('/v1/greeting', { 'accept-language': 'de' });
  const fr2 = await read('/v1/greeting', { 'accept-language': 'fr' });
  const de2 = await read('/v1/greeting', { 'accept-language': 'de' });
  assert.deepEqual([fr1.cache, de1.cache, fr2.cache, de2.cache], ['miss', 'miss', 'hit', 'hit']);
  assert.deepEqual([fr2.json.greeting, de2.json.greeting], ['Bonjour', 'Hallo']);
  assert.equal(origin.count('GET', '/v1/greeting'), 2);
  assert.match(fr2.headers.get('vary') ?? '', /accept-language/i, 'the origin\'s Vary is passed on');
});

test('a binary body (PNG) is byte-exact through a miss and a hit', async () => {
  const expected = productImage('3');
  for (const want of ['miss', 'hit']) {
    const res = await worker.fetch('/v1/images/3', { signal: AbortSignal.timeout(10_000) });
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-cache'), want);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.equal(bytes.length, expected.length, `${want}: length`);
    assert.ok(bytes.equals(expected), `${want}: the PNG's bytes`);
  }
});

test('bypass: set-cookie, private, no-store, and authorization or cookie on a non-public route: x-cache bypass, the origin asked every time', async () => {
  const cases = [
    ['/v1/session', {}, 'the answer sets a cookie', 'set-cookie'],
    ['/v1/account', {}, 'cache-control: private', 'no-store'],
    ['/v1/live', {}, 'cache-control: no-store', 'no-store'],
    ['/v1/products/2', { authorization: 'Bearer someone' }, 'a request with authorization', 'credentials'],
    ['/v1/products/2', { cookie: 'shop_session=abc' }, 'a request with a cookie', 'credentials'],
  ];
  for (const [path, headers, why, reason] of cases) {
    origin.resetCounts();
    const a = await read(path, headers);
    const b = await read(path, headers);
    assert.deepEqual([a.status, a.cache, b.status, b.cache], [200, 'bypass', 200, 'bypass'], `${why}: ${show(b)}`);
    assert.equal(b.headers.get('x-polycache-bypass'), reason, `${why}: the reason given`);
    assert.equal(origin.count('GET', path), 2, `${why}: the origin asked twice`);
  }
  const session = await read('/v1/session');
  assert.match(session.headers.get('set-cookie') ?? '', /^shop_session=s\d+/, 'the cookie reaches the client');
  const account = await read('/v1/account', { cookie: 'shop_session=abc' });
  assert.equal(account.json.user, 'shop_session=abc', 'the cookie reaches the origin');
  // The credentialed bypass did not fill the entry for everyone else.
  origin.resetCounts();
  const anon = await read('/v1/products/2');
  assert.equal(anon.cache, 'miss');
});

test('a public route with a cookie or authorization is cached and shared', async () => {
  origin.resetCounts();
  const a = await read('/v1/greeting', { 'accept-language': 'en', cookie: 'shop_session=abc' });
  const b = await read('/v1/greeting', { 'accept-language': 'en', authorization: 'Bearer someone' });
  const c = await read('/v1/greeting', { 'accept-language': 'en' });
  assert.deepEqual([a.cache, b.cache, c.cache], ['miss', 'hit', 'hit']);
  assert.equal(c.json.greeting, 'Hello');
  assert.equal(origin.count('GET', '/v1/greeting'), 1);
});

test('only 2xx and 404 are cached: a 500 passes through and the next GET asks the origin again; a 404 is a hit; a 302 is passed on, not followed', async () => {
  origin.resetCounts();
  origin.failNext(1, 500);
  const failed = await read('/v1/products/4');
  assert.equal(failed.status, 500, show(failed));
  assert.equal(failed.json?.message, 'injected failure', 'the origin\'s own answer');
  assert.notEqual(failed.cache, 'hit');
  const next = await read('/v1/products/4');
  assert.deepEqual([next.status, next.cache], [200, 'miss'], show(next));
  assert.equal((await read('/v1/products/4')).cache, 'hit');
  assert.equal(origin.count('GET', '/v1/products/4'), 2);

  const missing = [await read('/v1/products/999'), await read('/v1/products/999')];
  assert.deepEqual(missing.map((r) => [r.status, r.cache]), [[404, 'miss'], [404, 'hit']]);
  assert.match(missing[1].json.message, /999/, 'the origin\'s 404 body');

  origin.resetCounts();
  // redirect: manual, as a client that looks at the 302 itself.
  const redirect = async () => {
    const res = await worker.fetch('/v1/redirect', { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    return { status: res.status, headers: res.headers, cache: res.headers.get('x-cache') };
  };
  const redirects = [await redirect(), await redirect()];
  for (const r of redirects) {
    assert.equal(r.status, 302, `GET /v1/redirect: ${r.status}`);
    // On the origin's host, so moved to polycache's, as a reverse proxy does.
    assert.equal(r.headers.get('location'), `${worker.url}/v1/products`);
    assert.notEqual(r.cache, 'hit');
  }
  assert.equal(origin.count('GET', '/v1/products'), 0, 'the redirect was not followed');
  assert.equal(origin.count('GET', '/v1/redirect'), 2, 'a 302 is not cached');
});

test('PATCH through polycache: the origin applies it, x-invalidation-event, the stream hears products/5, the next GET is a miss with the new data', async () => {
  await warm('/v1/products/5');
  const stream = await streams.open();
  const res = await request(worker, 'PATCH', '/v1/products/5', { body: { title: 'Blue lamp' }, headers: EDITOR });
  assert.equal(res.status, 200, show(res));
  assert.equal(res.json.title, 'Blue lamp', 'the origin\'s answer');
  const eventId = eventIdOf(res);
  const ev = await stream.waitForId(eventId);
  assert.equal(ev.json.type, 'products');
  assert.equal(ev.json.entityId, '5');
  assert.equal(ev.json.action, 'update');
  assert.equal(ev.json.origin, INSTANCE);
  const after = await read('/v1/products/5');
  assert.deepEqual([after.cache, after.json.title], ['miss', 'Blue lamp']);
  assert.equal(origin.requests.findLast((r) => r.method === 'PATCH').headers.authorization, EDITOR.authorization, 'the caller\'s authorization reached the origin');
});

test('401 and 403 from the origin pass through and invalidate nothing: the next GET is still a hit', async () => {
  await warm('/v1/products/6');
  for (const [headers, status] of [[{}, 401], [{ authorization: `Bearer ${VIEWER_TOKEN}` }, 403]]) {
    const res = await request(worker, 'PATCH', '/v1/products/6', { body: { title: 'nope' }, headers });
    assert.equal(res.status, status, show(res));
    assert.equal(typeof res.json?.message, 'string', `the origin's own body: ${res.text}`);
    assert.equal(res.headers.get('x-invalidation-event'), null, 'no event');
    const next = await read('/v1/products/6');
    assert.deepEqual([next.cache, next.json.title], ['hit', 'Product 6'], `after a ${status}`);
  }
});

test('a POST create invalidates the list with the id of its JSON answer; DELETE invalidates the entity', async () => {
  await warm('/v1/products');
  const stream = await streams.open();
  const res = await request(worker, 'POST', '/v1/products', { body: { title: 'Desk', price: 120 }, headers: EDITOR });
  assert.equal(res.status, 201, show(res));
  const id = res.json.id;
  const ev = await stream.waitForId(eventIdOf(res));
  assert.deepEqual([ev.json.type, ev.json.entityId, ev.json.action], ['products', id, 'create']);
  const list = await read('/v1/products');
  assert.equal(list.cache, 'miss');
  assert.ok(itemsOf(list.json).some((p) => p.id === id && p.title === 'Desk'), 'the new product is listed');

  await warm(`/v1/products/${id}`);
  const gone = await request(worker, 'DELETE', `/v1/products/${id}`, { headers: EDITOR });
  assert.equal(gone.status, 204, show(gone));
  const del = await stream.waitForId(eventIdOf(gone));
  assert.deepEqual([del.json.entityId, del.json.action], [id, 'delete']);
  const after = await read(`/v1/products/${id}`);
  assert.deepEqual([after.status, after.cache], [404, 'miss']);
});

test('a write the origin answers 500 invalidates anyway (it may have been applied) and passes the 500 on', async () => {
  await warm('/v1/products/7');
  const stream = await streams.open();
  origin.failNext(1, 500);
  const res = await request(worker, 'PATCH', '/v1/products/7', { body: { title: 'maybe' }, headers: EDITOR });
  assert.equal(res.status, 500, show(res));
  assert.equal(res.json?.message, 'injected failure', 'the origin\'s 500');
  await stream.waitFor((e) => e.type === 'app-update' && e.json?.type === 'products' && e.json?.entityId === '7', 5000, 'the event of the failed write');
  assert.equal((await read('/v1/products/7')).cache, 'miss', 'the entry was invalidated');
});

test('a review POST invalidates the products through CACHE_DEPENDENCIES: the product shows its new review count', async () => {
  const before = await warm('/v1/products/8');
  await warm('/v1/products/8/reviews');
  const stream = await streams.open();
  const res = await request(worker, 'POST', '/v1/products/8/reviews', { body: { rating: 5, text: 'great' }, headers: EDITOR });
  assert.equal(res.status, 201, show(res));
  const ev = await stream.waitForId(eventIdOf(res));
  assert.equal(ev.json.type, 'reviews');
  assert.deepEqual([...ev.json.types].sort(), ['products', 'reviews']);
  const product = await read('/v1/products/8');
  assert.deepEqual([product.cache, product.json.reviewCount], ['miss', before.json.reviewCount + 1]);
  const reviews = await read('/v1/products/8/reviews');
  assert.equal(reviews.cache, 'miss');
  assert.equal(itemsOf(reviews.json).at(-1).text, 'great');
});

test('the webhook: an admin edits the shop directly, the cache keeps the old data until the shop calls POST /api/cache/invalidate with its long-lived token', async () => {
  await warm('/v1/products/9');
  origin.adminEdit('9', { title: 'Edited by the admin panel' });
  assert.equal((await read('/v1/products/9')).json.title, 'Product 9', 'still the cached data before the webhook');
  const stream = await streams.open();
  const res = await origin.notify(worker.url, await shopToken(), { type: 'products', id: '9', action: 'update' });
  assert.equal(res.status, 200, res.text);
  const ev = await stream.waitForId(res.json.eventId);
  assert.deepEqual([ev.json.type, ev.json.entityId], ['products', '9']);
  const after = await read('/v1/products/9');
  assert.deepEqual([after.cache, after.json.title], ['miss', 'Edited by the admin panel']);
  const refused = await origin.notify(worker.url, EDITOR_TOKEN, { type: 'products', id: '9' });
  assert.equal(refused.status, 401, `the shop's own token is not polycache's: ${refused.text}`);
});

test('paths outside the table pass through, any method, never cached', async () => {
  origin.resetCounts();
  const a = await read('/v1/version');
  const b = await read('/v1/version');
  assert.deepEqual([a.status, b.status], [200, 200]);
  assert.notEqual(b.cache, 'hit');
  assert.notEqual(a.json.served, b.json.served, 'each answered by the origin');
  const write = await request(worker, 'POST', '/v1/version', { body: {}, headers: EDITOR });
  assert.equal(write.status, 405, `the origin's answer to a write outside the table: ${show(write)}`);
  assert.equal(write.headers.get('x-invalidation-event'), null);
  assert.equal(origin.count(null, '/v1/version'), 3);
});

/**
 * One raw HTTP/1.1 request to the worker, written as given (request target
 * and Host header of the test's choosing); resolves with the status.
 */
function rawRequest(target, host = new URL(worker.url).host) {
  return new Promise((resolve, reject) => {
    const socket = connect(worker.port, '127.0.0.1');
    let head = '';
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer to GET ${target} within 10 s`)));
    socket.on('data', (d) => { head += d.toString('latin1'); });
    socket.once('error', reject);
    socket.once('close', () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0)));
    socket.write(`GET ${target} HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`);
  });
}

test('nothing in a request chooses the host: Host, an absolute-form target or a path starting with // never reach another server', async () => {
  const evil = await startOrigin();
  try {
    const other = `127.0.0.1:${evil.port}`;
    const tries = [
      ['Host header', '/v1/products/1', other],
      ['Host header, outside the table', '/v1/version', other],
      ['absolute-form target', `http://${other}/v1/products/1`, undefined],
      ['a path starting with //', `//${other}/v1/products/1`, undefined],
      ['a path starting with // outside the table', `//${other}/v1/version`, undefined],
      ['a path with a scheme', `/http://${other}/v1/version`, undefined],
    ];
    origin.resetCounts();
    const answers = [];
    for (const [what, target, host] of tries) answers.push(`${what}: ${await rawRequest(target, host)}`);
    assert.equal(evil.count(null, null), 0, `the other server was asked: ${evil.requests.map((r) => r.path)}; answers: ${answers}`);
    assert.ok(origin.count(null, null) >= 3, `the stand-in was asked (${origin.requests.map((r) => r.path)}); answers: ${answers}`);
  } finally {
    await evil.close();
  }
});

// The demo's static files (wrangler.toml's [assets]: /, /index.html,
// /app.js, /styles.css) are answered before the Worker runs, in origin mode
// too: the README says so, and how to hand / to the origin (remove
// [assets]). Any other path outside the table is the origin's.
test('the demo page\'s own files stay polycache\'s in origin mode; every other path is the origin\'s', async () => {
  origin.resetCounts();
  const root = await read('/');
  assert.equal(root.status, 200, show(root));
  assert.match(root.headers.get('content-type') ?? '', /text\/html/, 'the demo page');
  assert.equal(origin.count('GET', '/'), 0);
  const version = await read('/v1/version');
  assert.equal(version.status, 200, show(version));
  assert.equal(origin.count('GET', '/v1/version'), 1);
});

test('HEAD on a route answers the status and headers of the cached GET, without a body, and fills the same entry', async () => {
  origin.resetCounts();
  const head = await request(worker, 'HEAD', '/v1/products/6');
  assert.equal(head.status, 200);
  assert.equal(head.text, '', 'no body');
  assert.match(head.headers.get('content-type') ?? '', /application\/json/);
  assert.ok(['miss', 'hit'].includes(head.headers.get('x-cache')), `x-cache ${head.headers.get('x-cache')}`);
  const got = await read('/v1/products/6');
  assert.equal(got.cache, 'hit', 'the HEAD filled the GET\'s entry');
  assert.equal(got.json.id, '6');
  assert.equal(origin.count('GET', '/v1/products/6'), head.headers.get('x-cache') === 'miss' ? 1 : 0);
  assert.equal(origin.count('HEAD', '/v1/products/6'), 0, 'the origin was asked a GET, never a HEAD');
});

// A route that does not key on Accept-Language although the origin varies
// on it: an answer stored for one language is never served to another.
test('an answer stored for one value of a header the origin varies on is not served for another (vary-mismatch)', async () => {
  const routes = origin.routes.map((r) => (r.path === '/v1/greeting' ? { ...r, vary: [] } : r));
  const other = await startWorker({
    name: 'origin-novary', vars: { ...origin.vars(), CACHE_ROUTES: JSON.stringify(routes), INSTANCE_ID: 'origin-novary' },
  });
  try {
    const lang = (l) => get(other, '/v1/greeting', { headers: { 'accept-language': l } });
    const first = await lang('de');
    assert.deepEqual([first.status, first.headers.get('x-cache'), first.json.lang], [200, 'miss', 'de']);
    const again = await lang('de');
    assert.equal(again.headers.get('x-cache'), 'hit');
    const french = await lang('fr');
    assert.equal(french.json.lang, 'fr', `the French answer, not the stored German one: ${show(french)}`);
    assert.deepEqual([french.headers.get('x-cache'), french.headers.get('x-polycache-bypass')], ['bypass', 'vary-mismatch']);
  } finally {
    await other.dispose();
  }
});
