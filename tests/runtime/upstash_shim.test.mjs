// The Upstash REST shim (tests/upstash-shim/) speaks the protocol as Upstash
// documents it: the backend suite trusts it to stand in for Upstash, so it
// is checked here against the documented shapes, over a real redis-server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstash } from '../common/redis.mjs';

let up;
before(async () => { up = await startUpstash({ token: 'shim-test-token' }); });
after(async () => { await up?.dispose(); });

test('a command is a JSON array POSTed to the base URL, answered {"result"}', async () => {
  const set = await up.shim.post('/', ['SET', 'k', 'v', 'EX', 100]);
  assert.equal(set.status, 200);
  assert.deepEqual(set.json, { result: 'OK' });
  assert.deepEqual((await up.shim.post('/', ['GET', 'k'])).json, { result: 'v' });
  assert.deepEqual((await up.shim.post('/', ['GET', 'absent'])).json, { result: null });
  assert.deepEqual((await up.shim.post('/', ['INCRBY', 'n', 137])).json, { result: 137 });
  assert.deepEqual((await up.shim.post('/', ['MGET', 'k', 'absent'])).json, { result: ['v', null] });
  assert.ok(await up.redis.client.call('TTL', 'k') > 90, 'EX reached redis');
});

test('a failed command is 400 {"error"}', async () => {
  const res = await up.shim.post('/', ['INCR', 'k']);
  assert.equal(res.status, 400);
  assert.match(res.json.error, /^ERR value is not an integer/);
  const bad = await up.shim.post('/', 'not json');
  assert.equal(bad.status, 400);
  assert.equal(typeof bad.json.error, 'string');
});

test('a wrong or missing token is 401 {"error"}; ?_token= works too', async () => {
  const wrong = await up.shim.post('/', ['GET', 'k'], { token: 'nope' });
  assert.equal(wrong.status, 401);
  assert.deepEqual(wrong.json, { error: 'Unauthorized' });
  const none = await fetch(`${up.shim.url}/`, { method: 'POST', body: '["GET","k"]' });
  assert.equal(none.status, 401);
  await none.arrayBuffer();
  const query = await fetch(`${up.shim.url}/get/k?_token=${up.shim.token}`);
  assert.deepEqual(await query.json(), { result: 'v' });
});

test('path-style commands, and a POST body as the last argument', async () => {
  const res = await fetch(`${up.shim.url}/set/pathkey`, {
    method: 'POST', headers: { authorization: `Bearer ${up.shim.token}` }, body: '{"json":true}',
  });
  assert.deepEqual(await res.json(), { result: 'OK' });
  const get = await fetch(`${up.shim.url}/get/pathkey`, { headers: { authorization: `Bearer ${up.shim.token}` } });
  assert.deepEqual(await get.json(), { result: '{"json":true}' });
});

test('/pipeline answers one {"result"}/{"error"} per command, in order', async () => {
  const res = await up.shim.post('/pipeline', [['SET', 'p1', 'x'], ['INCR', 'p1'], ['SET', 'p2', 2], ['INCR', 'p2']]);
  assert.equal(res.status, 200);
  assert.equal(res.json.length, 4);
  assert.deepEqual(res.json[0], { result: 'OK' });
  assert.match(res.json[1].error, /not an integer/);
  assert.deepEqual(res.json.slice(2), [{ result: 'OK' }, { result: 3 }]);
});

test('/multi-exec runs atomically; a discarded transaction is one {"error"}', async () => {
  const res = await up.shim.post('/multi-exec', [['HINCRBY', 'h', 'a', 1], ['HINCRBY', 'h', 'b', 1], ['HGETALL', 'h']]);
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, [{ result: 1 }, { result: 1 }, { result: ['a', '1', 'b', '1'] }]);
  // A runtime error inside a transaction fails that command only, as in Redis.
  const partial = await up.shim.post('/multi-exec', [['SET', 'm', 'x'], ['INCR', 'm']]);
  assert.equal(partial.status, 200);
  assert.deepEqual(partial.json[0], { result: 'OK' });
  assert.match(partial.json[1].error, /not an integer/);
  // An unknown command discards the whole transaction.
  const discarded = await up.shim.post('/multi-exec', [['SET', 'm', 'y'], ['NOSUCHCOMMAND']]);
  assert.equal(discarded.status, 400);
  assert.equal(typeof discarded.json.error, 'string');
  assert.deepEqual((await up.shim.post('/', ['GET', 'm'])).json, { result: 'x' });
});

test('EVAL, SCRIPT LOAD and EVALSHA pass through; an unknown sha is NOSCRIPT', async () => {
  const script = "return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}";
  const evald = await up.shim.post('/', ['EVAL', script, 1, 'counter', 'hello']);
  assert.deepEqual(evald.json, { result: ['counter', 'hello', 1] });
  const [load, run] = (await up.shim.post('/pipeline', [['SCRIPT', 'LOAD', script], ['EVALSHA', '0'.repeat(40), 0]])).json;
  assert.match(load.result, /^[0-9a-f]{40}$/);
  assert.match(run.error, /^NOSCRIPT/);
  assert.deepEqual((await up.shim.post('/', ['EVALSHA', load.result, 1, 'counter', 'again'])).json,
    { result: ['counter', 'again', 2] });
});

test('every response carries an increasing upstash-sync-token, which requests may send back', async () => {
  const a = await up.shim.post('/', ['PING']);
  const b = await up.shim.post('/', ['PING'], { headers: { 'upstash-sync-token': a.headers.get('upstash-sync-token') } });
  const ta = a.headers.get('upstash-sync-token');
  const tb = b.headers.get('upstash-sync-token');
  assert.match(ta, /^shim-\d+$/);
  assert.ok(Number(tb.slice(5)) > Number(ta.slice(5)), `${ta} < ${tb}`);
  assert.ok((await up.shim.stats()).syncTokensReceived >= 1);
});

test('Upstash-Encoding: base64 encodes strings except OK', async () => {
  const set = await up.shim.post('/', ['SET', 'b', 'bar'], { headers: { 'upstash-encoding': 'base64' } });
  assert.deepEqual(set.json, { result: 'OK' });
  const get = await up.shim.post('/', ['GET', 'b'], { headers: { 'upstash-encoding': 'base64' } });
  assert.deepEqual(get.json, { result: Buffer.from('bar').toString('base64') });
});

test('with redis-server gone the shim answers 500 {"error"} instead of hanging', async () => {
  await up.redis.stop();
  const res = await up.shim.post('/', ['GET', 'k']);
  assert.equal(res.status, 500);
  assert.match(res.json.error, /redis unavailable/);
});
