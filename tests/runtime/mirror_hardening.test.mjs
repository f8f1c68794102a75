// Mirroring against what a public deployment meets: a sender whose state
// was wiped (its event ids start over), identical deliveries in flight at
// once, a mirror dead for thousands of writes, a mirror removed from
// CACHE_MIRRORS, hundreds of parked entries (listing and retry), and
// mirrors that answer badly: plain http:// to another host, a redirect, an
// endless body, no answer at all.
//
// The receivers are real `wrangler dev` instances; the bad mirrors are
// servers of this test on 127.0.0.1 (tests/common/test_server.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkerInstance, startWorker, freePort } from '../common/harness.mjs';
import { ADMIN, SERVICE } from '../common/accounts.mjs';
import { connect } from '../common/sse.mjs';
import { login, invalidate, get, post, expectError, waitUntil } from '../common/api.mjs';
import { startUpstash } from '../common/redis.mjs';
import { TestServer } from '../common/test_server.mjs';

/** Quick retries (the defaults are 1 s to 5 min). */
const FAST_RETRY = { MIRROR_RETRY_BASE_MS: '100', MIRROR_RETRY_CAP_MS: '500' };
/** The README's mirror timeout. */
const TIMEOUT_MS = 10_000;
/** The README's bound on a mirror's answer. */
const BODY_LIMIT = 64 * 1024;
/** The README's storage batch: Durable Object storage takes at most 128 keys per call. */
const STORAGE_BATCH = 128;

let b; // the receiver, memory backend
let bu; // a receiver with the upstash backend
let up; // the Upstash shim in front of redis-server
let onB;

before(async () => {
  up = await startUpstash();
  b = new WorkerInstance({ name: 'B', vars: { INSTANCE_ID: 'hard-b' } });
  bu = new WorkerInstance({ name: 'BU', vars: { INSTANCE_ID: 'hard-bu', CACHE_BACKEND: 'upstash', ...up.vars() } });
  await Promise.all([b.start(), bu.start()]);
  onB = await connect(`${b.url}/api/stream`, { follow: true });
});

after(async () => {
  onB?.close();
  await Promise.all([b?.dispose(), bu?.dispose()]);
  await up?.dispose();
});

/** GET /api/cache/mirrors of `worker` (with `query`), asserted 200. */
async function mirrorsPage(worker, token, query = '') {
  const res = await get(worker, `/api/cache/mirrors${query}`, { token });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

/** The mirrors of `worker` by URL (first page). */
async function mirrorsOf(worker, token) {
  return Object.fromEntries((await mirrorsPage(worker, token)).mirrors.map((m) => [m.url, m]));
}

/** The cache log records of `worker` with this msg. */
async function logsOf(worker, token, msg) {
  const res = await get(worker, '/api/cache/logs?limit=2000', { token });
  assert.equal(res.status, 200, res.text);
  return res.json.records.filter((r) => r.msg === msg);
}

/** The entity ids of B's app-update events that start with `prefix`, in arrival order. */
const seenOnB = (prefix) => onB.ofType().map((e) => String(e.json?.entityId)).filter((id) => id.startsWith(prefix));

test('a sender whose state was wiped mirrors its next writes, which B shows on its stream', { timeout: 120_000 }, async () => {
  const vars = { INSTANCE_ID: 'hard-wiped', CACHE_MIRRORS: b.url, ...FAST_RETRY };
  const first = await startWorker({ name: 'A (first life)', vars });
  try {
    const admin = await login(first, ADMIN);
    for (const id of ['life1-1', 'life1-2', 'life1-3']) await invalidate(first, admin, { type: 'posts', id });
    await onB.waitFor((e) => e.json?.entityId === 'life1-3', 15_000, 'life1-3 on B');
  } finally {
    await first.dispose(); // its state directory goes: a fresh checkout, `rm -rf .state`
  }
  const second = await startWorker({ name: 'A (wiped)', vars });
  try {
    const admin = await login(second, ADMIN);
    const names = ['life2-1', 'life2-2', 'life2-3'];
    for (const id of names) {
      const { eventId } = await invalidate(second, admin, { type: 'posts', id });
      assert.ok(eventId <= 3, `the wiped sender's ids start over (${eventId})`);
    }
    // Delivered (A's outbox is empty) ...
    await waitUntil(async () => (await mirrorsOf(second, admin))[b.url]?.delivered === 3,
      { what: 'three deliveries from the wiped sender', timeoutMs: 15_000 });
    await sleep(500);
    // ... and applied: not acknowledged as repeats of its first life's events.
    const shown = seenOnB('life2-');
    console.log(`# the wiped sender's 3 writes on B's stream: ${shown.length}`);
    assert.deepEqual(shown, names, `B showed the wiped sender's writes: ${onB.describe()}`);
  } finally {
    await second.dispose();
  }
});

for (const [name, receiver] of [['memory', () => b], ['upstash', () => bu]]) {
  test(`two identical deliveries sent at once apply once (${name} backend)`, { timeout: 60_000 }, async () => {
    const worker = receiver();
    const service = await login(worker, SERVICE);
    const stream = worker === b ? onB : await connect(`${worker.url}/api/stream`, { follow: true });
    try {
      let applied = 0;
      for (let round = 0; round < 5; round++) {
        const body = { type: 'pages', id: `twin-${round}`, mirror: false, origin: 'elsewhere', eventId: 500 + round };
        const answers = await Promise.all([invalidate(worker, service, body), invalidate(worker, service, body)]);
        assert.equal(answers[0].eventId, answers[1].eventId, `both answer the one event: ${JSON.stringify(answers)}`);
        assert.deepEqual(answers.map((a) => a.duplicate).sort(), [false, true], JSON.stringify(answers));
        await stream.waitForId(answers[0].eventId);
        applied += 1;
      }
      await invalidate(worker, service, { type: 'pages', id: 'twins-after' });
      await stream.waitFor((e) => e.json?.entityId === 'twins-after', 5_000, 'the next event');
      const events = stream.ofType().filter((e) => String(e.json?.entityId).startsWith('twin-'));
      console.log(`# ${name}: 5 pairs of identical deliveries made ${events.length} events`);
      assert.equal(events.length, applied, stream.describe());
    } finally {
      if (stream !== onB) stream.close();
    }
  });
}

test('a mirror at http:// on another host is refused as configuration (the service password would travel in clear)', { timeout: 60_000 }, async () => {
  const bad = await startWorker({ name: 'http-mirror', vars: { INSTANCE_ID: 'hard-http', CACHE_MIRRORS: 'http://example.com' }, requireHealthy: false });
  try {
    const res = await get(bad, '/api/health');
    expectError(res, 500, 'configuration');
    assert.match(res.json.error.message, /CACHE_MIRRORS/);
    assert.match(res.json.error.message, /https/);
  } finally {
    await bad.dispose();
  }
});

// One sender with four bad mirrors, each its own queue.
test('a redirect, an endless body and a mirror that never answers: no credential leaves, the body is bounded, the timed-out request is cancelled', { timeout: 120_000 }, async () => {
  const password = SERVICE.password;
  // Where the redirects point: records what reaches it, and would accept it.
  const sink = await new TestServer('sink', (req, body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: 'sink-token', expiresAt: Date.now() + 3_600_000, role: 'service' }));
  }).start();
  // Redirects the login (307 keeps method and body: the password).
  const redirectsLogin = await new TestServer('redirects-login', (req, body, res) => {
    res.writeHead(307, { location: `${sink.url}${req.url}` });
    res.end();
  }).start();
  // Grants a token, then redirects the delivery (which carries it).
  const redirectsDelivery = await new TestServer('redirects-delivery', (req, body, res) => {
    if (req.url === '/api/auth/login') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: 'secret-token-of-the-mirror', expiresAt: Date.now() + 3_600_000, role: 'service' }));
      return;
    }
    res.writeHead(307, { location: `${sink.url}${req.url}` });
    res.end();
  }).start();
  // Answers the login with 200 and a body that does not end (256 MiB at most).
  const endless = await new TestServer('endless', (req, body, res, record) => {
    record.sent = 0;
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const pump = () => {
      while (record.sent < 256 * 1024 * 1024) {
        record.sent += chunk.length;
        if (!res.write(chunk)) { res.once('drain', pump); return; }
      }
      res.end();
    };
    res.on('error', () => {});
    pump();
  }).start();
  const silent = await new TestServer('never-answers', () => new Promise(() => {})).start();
  const mirrors = [redirectsLogin, redirectsDelivery, endless, silent];
  const s = await startWorker({
    name: 'S (bad mirrors)',
    vars: { INSTANCE_ID: 'hard-bad-mirrors', CACHE_MIRRORS: mirrors.map((m) => m.url).join(','), MIRROR_RETRY_BASE_MS: '30000', MIRROR_RETRY_CAP_MS: '30000' },
  });
  try {
    const admin = await login(s, ADMIN);
    await invalidate(s, admin, { type: 'posts', id: 'bad-1' });

    // Redirects: each mirror's attempt fails, and nothing reaches the sink.
    const redirected = await waitUntil(async () => {
      const m = await mirrorsOf(s, admin);
      const both = [m[redirectsLogin.url], m[redirectsDelivery.url]];
      return both.every((x) => x.lastError || x.delivered) ? both : null;
    }, { what: 'both redirecting mirrors tried', timeoutMs: 20_000 });
    const leaked = sink.requests.map((r) => ({ path: r.path, authorization: r.headers.authorization ?? null, password: r.body.includes(password) }));
    console.log(`# requests that followed a redirect to the sink: ${JSON.stringify(leaked)}; errors: ${redirected.map((x) => x.lastError).join(' | ')}`);
    assert.deepEqual(leaked.filter((r) => r.authorization || r.password), [], 'a credential reached the redirect target');
    assert.deepEqual(redirected.map((x) => x.delivered), [0, 0], 'a redirect is no delivery');
    for (const x of redirected) assert.match(x.lastError ?? x.parked[0]?.lastError, /redirect/i, JSON.stringify(x));

    // The endless body: the attempt fails at the bound, soon, and the
    // mirror's connection is closed having sent little.
    const endlessAttempt = await waitUntil(async () => {
      const x = (await mirrorsOf(s, admin))[endless.url];
      return x.lastError ? x : null;
    }, { what: 'the endless mirror tried', timeoutMs: 20_000 });
    const first = endless.requests[0];
    await waitUntil(() => first.closedAt, { what: 'the endless answer\'s connection closed', timeoutMs: 20_000 });
    console.log(`# endless body: ${first.sent} bytes sent before the connection closed after ${first.closedAt - first.at} ms; error: ${endlessAttempt.lastError}`);
    assert.ok(first.sent < 16 * 1024 * 1024, `the sender read on: ${first.sent} bytes sent`);
    assert.match(endlessAttempt.lastError, new RegExp(`${BODY_LIMIT / 1024} KiB`), endlessAttempt.lastError);
    assert.ok(first.closedAt - first.at < TIMEOUT_MS - 2_000, `the body was read until the timeout: ${first.closedAt - first.at} ms`);
    const health = await get(s, '/api/health');
    assert.equal(health.status, 200, 'the sender still answers');

    // The never-answering mirror: its connection is closed at the timeout.
    const hung = await waitUntil(() => silent.requests[0], { what: 'a request to the never-answering mirror', timeoutMs: 10_000 });
    await waitUntil(() => hung.closedAt, { what: 'the never-answered connection closed', timeoutMs: TIMEOUT_MS + 8_000 })
      .catch((e) => { throw new Error(`${e.message}: the timed-out request was abandoned, not cancelled`); });
    const waited = hung.closedAt - hung.at;
    console.log(`# the never-answered connection was closed ${waited} ms after its request`);
    assert.ok(waited >= TIMEOUT_MS - 500 && waited <= TIMEOUT_MS + 3_000, `closed after ${waited} ms`);
  } finally {
    await s.dispose();
    await Promise.all([sink, ...mirrors].map((m) => m.stop()));
  }
});

test('a dead mirror\'s queue stays bounded by collapsing, parked entries are listed in pages and retried beyond 128, a removed mirror\'s entries go', { timeout: 240_000 }, async () => {
  const LIMIT = 400;
  const WRITES = 1_000;
  const refused = `http://127.0.0.1:${await freePort()}`; // nothing listens there
  let accept = false;
  // Refuses the login (403: parks at once) until told to accept.
  const forbidding = await new TestServer('forbidding', (req, body, res) => {
    res.writeHead(accept ? 200 : 403, { 'content-type': 'application/json' });
    if (!accept) { res.end(JSON.stringify({ error: { code: 'forbidden', message: 'not you' } })); return; }
    res.end(JSON.stringify(req.url === '/api/auth/login'
      ? { token: 'tok', expiresAt: Date.now() + 3_600_000, role: 'service' }
      : { ok: true, eventId: 1, types: ['posts'], duplicate: false }));
  }).start();
  const vars = {
    INSTANCE_ID: 'hard-queues', CACHE_MIRRORS: `${refused},${forbidding.url}`,
    MIRROR_QUEUE_LIMIT: String(LIMIT), MIRROR_RETRY_BASE_MS: '60000', MIRROR_RETRY_CAP_MS: '60000',
  };
  const q = new WorkerInstance({ name: 'Q', vars });
  await q.start();
  try {
    let admin = await login(q, ADMIN);
    // Writes of every kind: ids repeat (post 7 again and again), most are
    // distinct, a few are type-wide.
    const types = ['posts', 'pages', 'categories', 'pictures'];
    const written = [];
    for (let i = 0; i < WRITES; i++) {
      const type = types[i % types.length];
      const id = i % 50 === 0 ? null : (i % 3 === 0 ? '7' : `n${i}`);
      written.push({ type, id });
    }
    const started = Date.now();
    for (let i = 0; i < WRITES; i += 10) {
      await Promise.all(written.slice(i, i + 10).map((w) => invalidate(q, admin, { type: w.type, ...(w.id ? { id: w.id } : {}) })));
    }
    console.log(`# ${WRITES} writes in ${Date.now() - started} ms`);
    // Every write was tried once at the forbidding mirror and parked.
    const settled = await waitUntil(async () => {
      const m = await mirrorsOf(q, admin);
      return m[forbidding.url].pending === 0 ? m : null;
    }, { what: 'the forbidding mirror has nothing pending', timeoutMs: 60_000 });
    const dead = settled[refused];
    const parked = settled[forbidding.url];
    console.log(`# after ${WRITES} writes: dead mirror pending ${dead.pending}, parked ${parked.parkedCount ?? parked.parked.length} (limit ${LIMIT})`);
    assert.ok(dead.pending <= LIMIT, `the dead mirror's queue holds ${dead.pending} entries, above ${LIMIT}`);
    assert.ok((parked.parkedCount ?? parked.parked.length) <= LIMIT, `${parked.parkedCount ?? parked.parked.length} parked, above ${LIMIT}`);
    const collapsed = await logsOf(q, admin, 'mirror queue collapsed');
    assert.ok(collapsed.length >= 1 && collapsed.length <= 2 * Math.ceil(WRITES / (LIMIT / 2)), `collapse records: ${collapsed.length}`);

    // Listing: pages of parked entries, each entry once, all of them.
    const page1 = await mirrorsPage(q, admin);
    const first = page1.mirrors.find((m) => m.url === forbidding.url);
    assert.ok(first.parked.length <= 100, `one page lists ${first.parked.length} parked entries`);
    const all = [...first.parked];
    let cursor = page1.nextCursor;
    for (let pages = 1; cursor != null; pages++) {
      assert.ok(pages < 50, 'too many pages');
      const page = await mirrorsPage(q, admin, `?limit=100&cursor=${cursor}`);
      all.push(...page.mirrors.find((m) => m.url === forbidding.url).parked);
      cursor = page.nextCursor;
    }
    const parkedNow = first.parkedCount;
    assert.equal(all.length, parkedNow, 'the pages hold every parked entry');
    assert.equal(new Set(all.map((e) => e.seq)).size, all.length, 'each once');
    expectError(await get(q, '/api/cache/mirrors?limit=0', { token: admin }), 400, 'bad_request');
    expectError(await get(q, '/api/cache/mirrors?cursor=x', { token: admin }), 400, 'bad_request');

    // Nothing written is lost to collapsing: each write is covered by a
    // parked entry of its type with its id, or by a type-wide one.
    const covered = (w) => all.some((e) => e.type === w.type && (e.id == null || e.id === w.id));
    assert.deepEqual(written.filter((w) => !covered(w)).slice(0, 5), [], 'writes no parked entry covers');

    // Retry of more parked entries than one storage call takes.
    assert.ok(parkedNow > STORAGE_BATCH, `${parkedNow} parked: not more than ${STORAGE_BATCH}`);
    accept = true;
    const retried = await post(q, '/api/cache/mirrors/retry', {}, { token: admin });
    assert.equal(retried.status, 200, retried.text);
    assert.ok(retried.json.requeued >= parkedNow, `requeued ${retried.json.requeued} of ${parkedNow}`);
    const done = await waitUntil(async () => {
      const m = (await mirrorsOf(q, admin))[forbidding.url];
      return m.pending === 0 && m.parked.length === 0 ? m : null;
    }, { what: 'every requeued entry delivered', timeoutMs: 60_000 });
    assert.ok(done.delivered >= parkedNow, `delivered ${done.delivered}`);

    // A removed mirror's entries go, from listings and from storage.
    q.vars.CACHE_MIRRORS = forbidding.url;
    await q.restart();
    admin = await login(q, ADMIN);
    const listed = (await mirrorsPage(q, admin)).mirrors.map((m) => m.url);
    assert.deepEqual(listed, [forbidding.url], 'the removed mirror is not listed');
    q.vars.CACHE_MIRRORS = `${refused},${forbidding.url}`;
    await q.restart();
    admin = await login(q, ADMIN);
    const again = (await mirrorsOf(q, admin))[refused];
    assert.equal(again.pending, 0, `the removed mirror's old entries came back: ${again.pending}`);
  } finally {
    await q.dispose();
    await forbidding.stop();
  }
});
