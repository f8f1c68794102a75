// The stand-in origin (tests/common/origin.mjs) answers as the runtime tests
// of origin mode expect: each route's status, body and headers, writes
// refused without the editor's token, the PNG's exact bytes, and the control
// methods (count, failNext, down/up, hang, adminEdit) doing what they say.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { inflateSync } from 'node:zlib';
import { startOrigin, productImage, EDITOR_TOKEN, VIEWER_TOKEN, ROUTES, MAX_LOGGED_REQUESTS } from '../common/origin.mjs';

let origin;

/** Polls check() every 10 ms, for at most 2 s. */
async function waitFor(check) {
  for (let i = 0; i < 200 && !check(); i++) await sleep(10);
  assert.ok(check(), 'condition within 2 s');
}
before(async () => { origin = await startOrigin(); });
after(async () => { await origin.close(); });

const editor = { authorization: `Bearer ${EDITOR_TOKEN}`, 'content-type': 'application/json' };

async function call(method, path, { headers = {}, body, timeoutMs = 5000 } = {}) {
  const res = await fetch(`${origin.url}${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    redirect: 'manual', signal: AbortSignal.timeout(timeoutMs),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  let json;
  try { json = JSON.parse(bytes.toString('utf8')); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, bytes, json };
}

test('vars(): ORIGIN_URL is its address, CACHE_ROUTES its table, CACHE_DEPENDENCIES has products depend on reviews', () => {
  const vars = origin.vars();
  assert.equal(vars.ORIGIN_URL, origin.url);
  assert.match(origin.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.deepEqual(JSON.parse(vars.CACHE_ROUTES), ROUTES);
  assert.deepEqual(JSON.parse(vars.CACHE_DEPENDENCIES), { products: ['reviews'] });
  for (const r of ROUTES) assert.match(r.type, /^[a-z][a-z0-9_]*$/, `type of ${r.path}`);
});

test('products: 10 seeded, listed, one by id, 404 in its own shape, a counter header on every answer', async () => {
  const list = await call('GET', '/v1/products');
  assert.equal(list.status, 200);
  assert.match(list.headers.get('content-type'), /^application\/json/);
  assert.deepEqual(list.json.items.map((p) => p.id), ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
  const one = await call('GET', '/v1/products/3');
  assert.deepEqual(Object.keys(one.json).sort(), ['id', 'price', 'reviewCount', 'title', 'updatedAt']);
  assert.equal(one.json.title, 'Product 3');
  const a = Number(list.headers.get('x-shop-request'));
  assert.equal(Number(one.headers.get('x-shop-request')), a + 1, 'x-shop-request counts the answers');
  const missing = await call('GET', '/v1/products/999');
  assert.equal(missing.status, 404);
  assert.match(missing.json.message, /999/);
  assert.equal((await call('GET', '/v1/products?limit=2')).json.items.length, 2);
});

test('writes: 401 without a token, 403 for the viewer, and nothing changes; the editor creates (201 {id}), patches, puts and deletes (204)', async () => {
  const before = (await call('GET', '/v1/products/1')).json;
  const anon = await call('PATCH', '/v1/products/1', { headers: { 'content-type': 'application/json' }, body: { title: 'x' } });
  assert.equal(anon.status, 401);
  assert.equal(typeof anon.json.message, 'string');
  const viewer = await call('PATCH', '/v1/products/1', { headers: { ...editor, authorization: `Bearer ${VIEWER_TOKEN}` }, body: { title: 'x' } });
  assert.equal(viewer.status, 403);
  assert.equal((await call('POST', '/v1/products', { body: { title: 'x', price: 1 } })).status, 401);
  assert.deepEqual((await call('GET', '/v1/products/1')).json, before, 'refused writes changed nothing');

  const created = await call('POST', '/v1/products', { headers: editor, body: { title: 'Lamp', price: 25 } });
  assert.equal(created.status, 201);
  assert.match(created.json.id, /^[0-9]+$/);
  assert.equal(created.headers.get('location'), `/v1/products/${created.json.id}`);
  const id = created.json.id;
  const patched = await call('PATCH', `/v1/products/${id}`, { headers: editor, body: { price: 30 } });
  assert.deepEqual([patched.status, patched.json.title, patched.json.price], [200, 'Lamp', 30]);
  assert.equal((await call('PUT', `/v1/products/${id}`, { headers: editor, body: { title: 'Desk lamp' } })).status, 422, 'PUT needs every field');
  assert.equal((await call('PUT', `/v1/products/${id}`, { headers: editor, body: { title: 'Desk lamp', price: 31 } })).json.title, 'Desk lamp');
  assert.equal((await call('PATCH', `/v1/products/${id}`, { headers: editor, body: { price: -1 } })).status, 422);
  const bad = await fetch(`${origin.url}/v1/products/${id}`, { method: 'PATCH', headers: editor, body: '{not json' });
  assert.equal(bad.status, 400);
  const gone = await call('DELETE', `/v1/products/${id}`, { headers: editor });
  assert.equal(gone.status, 204);
  assert.equal(gone.bytes.length, 0);
  assert.equal((await call('GET', `/v1/products/${id}`)).status, 404);
});

test('reviews: listed per product, a POST adds one (201 {id}) and raises the product\'s reviewCount', async () => {
  assert.deepEqual((await call('GET', '/v1/products/2/reviews')).json, { items: [] });
  const anon = await call('POST', '/v1/products/2/reviews', { headers: { 'content-type': 'application/json' }, body: { rating: 5 } });
  assert.equal(anon.status, 401);
  const added = await call('POST', '/v1/products/2/reviews', { headers: editor, body: { rating: 4, text: 'good' } });
  assert.equal(added.status, 201);
  assert.match(added.json.id, /^[0-9]+$/);
  assert.equal((await call('GET', '/v1/products/2')).json.reviewCount, 1);
  assert.equal((await call('GET', '/v1/products/2/reviews')).json.items[0].text, 'good');
  assert.equal((await call('POST', '/v1/products/2/reviews', { headers: editor, body: { rating: 9 } })).status, 422);
});

test('images: a valid PNG whose bytes are exactly productImage(id), every byte value in it', async () => {
  const res = await call('GET', '/v1/images/4');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/png');
  assert.ok(res.bytes.equals(productImage('4')), 'the bytes of productImage');
  assert.ok(!res.bytes.equals(productImage('5')), 'each id its own image');
  assert.deepEqual([...res.bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(new Set(res.bytes).size, 256, 'every byte value occurs');
  // The IDAT chunk inflates to 8 rows of 1 + 8 * 3 bytes: a real image.
  const at = res.bytes.indexOf('IDAT');
  const len = res.bytes.readUInt32BE(at - 4);
  assert.equal(inflateSync(res.bytes.subarray(at + 4, at + 4 + len)).length, 8 * 25);
  assert.equal((await call('GET', '/v1/images/999')).status, 404);
});

test('greeting: Vary: Accept-Language, the language picked from the header', async () => {
  const fr = await call('GET', '/v1/greeting', { headers: { 'accept-language': 'fr-CH, fr;q=0.9, en;q=0.8' } });
  assert.equal(fr.headers.get('vary'), 'Accept-Language');
  assert.deepEqual(fr.json, { lang: 'fr', greeting: 'Bonjour' });
  assert.equal((await call('GET', '/v1/greeting', { headers: { 'accept-language': 'de' } })).json.greeting, 'Hallo');
  assert.equal((await call('GET', '/v1/greeting')).json.greeting, 'Hello');
});

test('session sets a cookie; account is private; live is no-store; redirect is a 302 to the products; version and / are outside the table', async () => {
  const session = await call('GET', '/v1/session');
  assert.match(session.headers.get('set-cookie'), /^shop_session=s\d+; Path=\/; HttpOnly/);
  const account = await call('GET', '/v1/account', { headers: { cookie: 'shop_session=abc' } });
  assert.match(account.headers.get('cache-control'), /\bprivate\b/);
  assert.equal(account.json.user, 'shop_session=abc');
  assert.equal((await call('GET', '/v1/live')).headers.get('cache-control'), 'no-store');
  const redirect = await call('GET', '/v1/redirect');
  assert.equal(redirect.status, 302);
  assert.equal(redirect.headers.get('location'), `${origin.url}/v1/products`);
  assert.equal((await call('GET', '/v1/version')).json.version, '1.4.2');
  assert.deepEqual((await call('GET', '/')).json.routes, ROUTES.map((r) => r.path));
  assert.ok(!ROUTES.some((r) => r.path === '/v1/version' || r.path === '/'), 'version and / are not in the table');
  assert.equal((await call('GET', '/v1/nothing')).status, 404);
  assert.equal((await call('POST', '/v1/greeting', { headers: editor, body: {} })).status, 405);
});

test('count(): by method and path (query ignored unless given), by RegExp; resetCounts() empties the log', async () => {
  origin.resetCounts();
  await call('GET', '/v1/products/1?x=1');
  await call('GET', '/v1/products/1');
  await call('HEAD', '/v1/products/1');
  await call('PATCH', '/v1/products/1', { headers: editor, body: { price: 12 } });
  assert.equal(origin.count('GET', '/v1/products/1'), 2);
  assert.equal(origin.count('GET', '/v1/products/1?x=1'), 1);
  assert.equal(origin.count(null, '/v1/products/1'), 4);
  assert.equal(origin.count('*', /^\/v1\/products\/1\?/), 1);
  assert.equal(origin.count('HEAD', null), 1);
  const r = origin.requests.at(-1);
  assert.equal(r.method, 'PATCH');
  assert.equal(r.headers.authorization, `Bearer ${EDITOR_TOKEN}`);
  assert.equal(typeof r.at, 'number');
  origin.resetCounts();
  assert.equal(origin.count(null, null), 0);
});

test(`requests keeps the last ${MAX_LOGGED_REQUESTS} only`, () => {
  const fake = { method: 'GET', url: '/v1/live', headers: {} };
  for (let i = 0; i < MAX_LOGGED_REQUESTS + 5; i++) origin.log(fake);
  assert.equal(origin.requests.length, MAX_LOGGED_REQUESTS);
  origin.resetCounts();
});

test('failNext(n, status): the next n requests answer it and change nothing, then the origin answers again', async () => {
  origin.failNext(2, 503);
  const a = await call('PATCH', '/v1/products/6', { headers: editor, body: { title: 'never' } });
  const b = await call('GET', '/v1/products/6');
  assert.deepEqual([a.status, b.status], [503, 503]);
  assert.equal(b.json.message, 'injected failure');
  const c = await call('GET', '/v1/products/6');
  assert.equal(c.status, 200);
  assert.equal(c.json.title, 'Product 6', 'the failed write was not applied');
});

test('answers announce their length; chunked = true sends them without it', async () => {
  const res = await call('GET', '/v1/products/1');
  assert.equal(Number(res.headers.get('content-length')), res.bytes.length);
  origin.chunked = true;
  try {
    const chunked = await call('GET', '/v1/products/1');
    assert.equal(chunked.headers.get('content-length'), null);
    assert.equal(chunked.headers.get('transfer-encoding'), 'chunked');
    assert.deepEqual(chunked.json, res.json);
  } finally {
    origin.chunked = false;
  }
});

test('latencyMs delays each answer', async () => {
  origin.latencyMs = 150;
  const t0 = performance.now();
  await call('GET', '/v1/products/1');
  const ms = performance.now() - t0;
  origin.latencyMs = 0;
  assert.ok(ms >= 140, `answered after ${ms.toFixed(0)} ms`);
});

test('down(): connections open and in flight are cut, connecting is refused, on the same port nothing else answers; up(): the same port answers again with the same data', async () => {
  const port = origin.port;
  origin.adminEdit('7', { title: 'kept across down/up' });
  // A kept-alive connection (as a proxy pools them) is closed by down():
  // otherwise a pooled request would still reach a "dead" origin.
  const pooled = connect(port, '127.0.0.1');
  const closed = new Promise((resolve) => pooled.once('close', resolve));
  pooled.on('error', () => {});
  const answered = new Promise((resolve) => pooled.once('data', resolve));
  pooled.write('GET /v1/products/7 HTTP/1.1\r\nhost: x\r\nconnection: keep-alive\r\n\r\n');
  await answered;
  // A request in flight (the origin slow) is cut, not answered later.
  origin.latencyMs = 400;
  const inFlight = fetch(`${origin.url}/v1/products/7`, { signal: AbortSignal.timeout(3000) }).then((r) => r.status, (e) => e.cause?.code ?? e.name);
  await waitFor(() => origin.count('GET', '/v1/products/7') === 2);
  await origin.down();
  origin.latencyMs = 0;
  assert.match(String(await inFlight), /UND_ERR_SOCKET|ECONNRESET/, 'the request in flight was cut');
  const pooledClosed = await Promise.race([closed.then(() => true), sleep(1000).then(() => false)]);
  pooled.destroy();
  assert.ok(pooledClosed, 'down() closed a kept-alive connection');
  // A new connection (fetch could pick a pooled socket that the server
  // has just destroyed, which fails differently).
  const code = await new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.setTimeout(2000, () => { sock.destroy(); resolve('timeout'); });
    sock.once('connect', () => { sock.destroy(); resolve('connected'); });
    sock.once('error', (e) => resolve(e.code));
  });
  assert.equal(code, 'ECONNREFUSED', 'a down origin refuses connections');
  await origin.up();
  assert.equal(origin.port, port);
  assert.equal((await call('GET', '/v1/products/7')).json.title, 'kept across down/up');
});

test('hang: accepted and logged, never answered (a client times out); hang = false drops the held requests and answers again', async () => {
  origin.resetCounts();
  origin.hang = true;
  const t0 = performance.now();
  const err = await call('GET', '/v1/products/1', { timeoutMs: 300 }).then(() => null, (e) => e);
  assert.equal(err?.name, 'TimeoutError', 'the client gave up');
  assert.ok(performance.now() - t0 >= 290);
  assert.equal(origin.count('GET', '/v1/products/1'), 1, 'the request arrived');
  // A held request is dropped (its socket destroyed) when hang ends.
  const held = await new Promise((resolve) => {
    fetch(`${origin.url}/v1/products/2`, { signal: AbortSignal.timeout(5000) }).then(() => resolve('answered'), (e) => resolve(e.cause?.code ?? e.name));
    setTimeout(() => { origin.hang = false; }, 200);
  });
  assert.match(held, /ECONNRESET|UND_ERR_SOCKET|SocketError|TypeError/, `a held request is dropped: ${held}`);
  assert.equal((await call('GET', '/v1/products/1')).status, 200, 'answers again');
});

test('adminEdit changes data without HTTP (no request logged); unknown ids and bad fields throw', async () => {
  origin.resetCounts();
  const p = origin.adminEdit(8, { title: 'Edited in the admin panel' });
  assert.equal(p.title, 'Edited in the admin panel');
  assert.equal(origin.count(null, null), 0);
  assert.equal((await call('GET', '/v1/products/8')).json.title, 'Edited in the admin panel');
  assert.throws(() => origin.adminEdit(999, { title: 'x' }), /not found/);
  assert.throws(() => origin.adminEdit(8, { title: '' }), /title/);
});

test('notify(): POSTs {type, id, action} to <url>/api/cache/invalidate with the bearer token', async () => {
  const seen = [];
  const target = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      seen.push({ method: req.method, path: req.url, auth: req.headers.authorization, body: JSON.parse(body) });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true,"eventId":7}');
    });
  });
  await new Promise((resolve) => target.listen(0, '127.0.0.1', resolve));
  try {
    const res = await origin.notify(`http://127.0.0.1:${target.address().port}`, 'tok', { type: 'products', id: 8 });
    assert.deepEqual(res.json, { ok: true, eventId: 7 });
    assert.deepEqual(seen, [{ method: 'POST', path: '/api/cache/invalidate', auth: 'Bearer tok', body: { type: 'products', id: '8', action: 'update' } }]);
  } finally {
    target.closeAllConnections();
    await new Promise((resolve) => target.close(resolve));
  }
});
