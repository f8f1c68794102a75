// Mirroring when things go wrong, as the README's "Mirroring" promises it:
// a dead mirror (nothing listening, or a server that accepts and never
// answers) holds up no other mirror; a mirror that never answers fails
// after 10 s and is retried; any other 4xx parks at once; the sender falls
// back to TEST_EMAIL/TEST_PASSWORD; pending entries survive a restart of
// the sender; one login serves many deliveries, a rotated JWT_SECRET costs
// exactly one new login, and a token is used until a minute before it
// expires.
//
// The receiver B is a real `wrangler dev` instance. Between a sender and B
// sits a small HTTP proxy of this test on 127.0.0.1 that forwards every
// request unchanged and records it (method, path, status, the login's
// email), so that the test can count logins; for the expiry test it can
// shorten the `expiresAt` of a login answer, as a receiver issuing short
// tokens would. The never-answering mirror is a Node server that reads each
// request and never responds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkerInstance, freePort } from '../common/harness.mjs';
import { TestServer, proxyTo } from '../common/test_server.mjs';
import { ADMIN, EDITOR, SERVICE } from '../common/accounts.mjs';
import { connect } from '../common/sse.mjs';
import { login, invalidate, get, waitUntil } from '../common/api.mjs';

/** Quick retries, as in mirror.test.mjs (the defaults are 1 s to 5 min). */
const FAST_RETRY = { MIRROR_RETRY_BASE_MS: '100', MIRROR_RETRY_CAP_MS: '500' };
/**
 * For senders whose dead mirror must stay pending for a minute: 100 attempts
 * (the most MIRROR_MAX_ATTEMPTS allows) with waits of up to 2 s last well
 * over that, where 500 ms would park the head after about 25 s.
 */
const SLOW_ENOUGH_RETRY = { MIRROR_RETRY_BASE_MS: '100', MIRROR_RETRY_CAP_MS: '2000', MIRROR_MAX_ATTEMPTS: '100' };
/** The README's mirror timeout. */
const TIMEOUT_MS = 10_000;

/** A server that reads every request and never answers it. */
function neverAnswers() {
  return new TestServer('never-answers', () => new Promise(() => {}));
}

let b; // the receiver
let a; // sender: mirrors [proxyB -> B, a refused port, a never-answering server]
let c; // sender with only TEST_EMAIL/TEST_PASSWORD: mirror proxyC -> B
let d; // sender that logs in to B as an editor: B answers its deliveries 403
let proxyB; let proxyC; let silent; let refusedUrl;
let adminA; let adminB; let adminC; let adminD;
let onB;

before(async () => {
  const portB = await freePort();
  const urlB = `http://127.0.0.1:${portB}`;
  proxyB = await proxyTo(() => urlB).start();
  proxyC = proxyTo(() => urlB);
  proxyC.port = await freePort(); // not listening until the restart test says so
  silent = await neverAnswers().start();
  refusedUrl = `http://127.0.0.1:${await freePort()}`; // nothing listens there
  b = new WorkerInstance({ name: 'B', port: portB, vars: { INSTANCE_ID: 'faults-b' } });
  a = new WorkerInstance({
    name: 'A',
    vars: { INSTANCE_ID: 'faults-a', CACHE_MIRRORS: [proxyB.url, refusedUrl, silent.url].join(','), ...SLOW_ENOUGH_RETRY },
  });
  c = new WorkerInstance({
    name: 'C',
    vars: {
      INSTANCE_ID: 'faults-c', CACHE_MIRRORS: proxyC.url, ...SLOW_ENOUGH_RETRY, MIRROR_RETRY_CAP_MS: '1000',
      SERVICE_EMAIL: null, SERVICE_PASSWORD: null, TEST_EMAIL: SERVICE.email, TEST_PASSWORD: SERVICE.password,
    },
  });
  d = new WorkerInstance({
    name: 'D',
    vars: {
      INSTANCE_ID: 'faults-d', CACHE_MIRRORS: urlB, ...FAST_RETRY, MIRROR_MAX_ATTEMPTS: '100',
      SERVICE_EMAIL: EDITOR.email, SERVICE_PASSWORD: EDITOR.password,
    },
  });
  await Promise.all([a.start(), b.start(), c.start(), d.start()]);
  [adminA, adminB, adminC, adminD] = await Promise.all([a, b, c, d].map((w) => login(w, ADMIN)));
  onB = await connect(`${b.url}/api/stream`);
});

after(async () => {
  onB?.close();
  await Promise.all([a?.dispose(), b?.dispose(), c?.dispose(), d?.dispose()]);
  await Promise.all([proxyB?.stop(), proxyC?.stop(), silent?.stop()]);
});

/** GET /api/cache/mirrors of `worker`, by URL. */
async function mirrorsOf(worker, token) {
  const res = await get(worker, '/api/cache/mirrors', { token });
  assert.equal(res.status, 200, res.text);
  return Object.fromEntries(res.json.mirrors.map((m) => [m.url, m]));
}

/**
 * Polls GET /api/cache/mirrors of `worker` until the entry of `url` passes
 * `check`; returns it, or fails with the last one seen.
 */
async function waitForMirror(worker, token, url, check, what) {
  let last;
  try {
    return await waitUntil(async () => {
      last = (await mirrorsOf(worker, token))[url];
      return last && check(last) ? last : null;
    }, { what, timeoutMs: 15_000 });
  } catch (e) {
    throw new Error(`${e.message}; ${url} was ${JSON.stringify(last)}`);
  }
}

/** The cache log records of `worker` with this msg (and mirror URL, if given). */
async function logsOf(worker, token, msg, mirror) {
  const res = await get(worker, '/api/cache/logs?limit=2000', { token });
  assert.equal(res.status, 200, res.text);
  return res.json.records.filter((r) => r.msg === msg && (mirror === undefined || r.mirror === mirror));
}

/** The entity ids of B's app-update events that start with `prefix`, in arrival order. */
const seenOnB = (prefix) => onB.ofType().map((e) => String(e.json?.entityId)).filter((id) => id.startsWith(prefix));

const written = []; // what A wrote in the first test: [{id, ackAt, gotAt}]

test('with a mirror that refuses connections and one that never answers, the live mirror still gets every write promptly', { timeout: 90_000 }, async () => {
  // Writes one at a time for longer than the never-answering mirror's 10 s
  // timeout, so that they land while its attempt is in flight; the delay
  // of each is from A's acknowledgement to the event on B's stream.
  const started = Date.now();
  for (let i = 0; Date.now() - started < TIMEOUT_MS + 4_000 && i < 40; i++) {
    const id = `live-${i}`;
    await invalidate(a, adminA, { type: 'posts', id });
    const ackAt = performance.now();
    const got = await onB.waitFor((e) => e.json?.entityId === id, 30_000, `${id} on B`);
    written.push({ id, delayMs: got.at - ackAt });
    await sleep(500);
  }
  const delays = written.map((w) => w.delayMs);
  console.log(`# ${written.length} writes over ${Date.now() - started} ms; delay to B: median ${delays.sort((x, y) => x - y)[delays.length >> 1].toFixed(0)} ms, max ${delays.at(-1).toFixed(0)} ms`);
  // Delivery to a live mirror takes milliseconds; a live mirror waiting on
  // the dead one would wait for its 10 s timeout.
  const slow = written.filter((w) => w.delayMs > 3_000);
  assert.deepEqual(slow.map((w) => `${w.id}: ${w.delayMs.toFixed(0)} ms`), [], 'writes that took more than 3 s to reach B');
  assert.deepEqual(seenOnB('live-'), written.map((w) => w.id), 'B got each write once, in order');

  const m = await mirrorsOf(a, adminA);
  assert.equal(m[proxyB.url].pending, 0, JSON.stringify(m[proxyB.url]));
  assert.ok(m[proxyB.url].delivered >= written.length, JSON.stringify(m[proxyB.url]));
  for (const dead of [refusedUrl, silent.url]) {
    assert.equal(m[dead].pending, written.length, `every write waits for ${dead}: ${JSON.stringify(m[dead])}`);
    assert.deepEqual(m[dead].parked, [], `nothing parked for ${dead}`);
    assert.equal(m[dead].delivered, 0);
  }
  assert.match(m[refusedUrl].lastError, /unreachable/, 'the refused mirror\'s error');
  assert.ok((await logsOf(a, adminA, 'mirror retry', refusedUrl)).length >= 2, 'the refused mirror is retried');
});

test('a mirror that never answers: the attempt fails after 10 s with a timeout error, in GET /api/cache/mirrors and the cache log, and is retried', { timeout: 60_000 }, async () => {
  // The first request the never-answering mirror got (a login: A has no
  // token for it), and the retry A logged when that attempt gave up.
  const first = silent.requests[0];
  assert.ok(first, 'A called the never-answering mirror');
  assert.equal(first.path, '/api/auth/login');
  const [retry] = await waitUntil(async () => {
    const records = await logsOf(a, adminA, 'mirror retry', silent.url);
    return records.length ? records : null;
  }, { what: 'a retry of the never-answering mirror in A\'s cache log', timeoutMs: 2 * TIMEOUT_MS });
  const waited = retry.time - first.at;
  console.log(`# the never-answering mirror's first attempt gave up after ${waited} ms: ${retry.error}`);
  assert.match(retry.error, /no answer within 10 s/);
  assert.ok(waited >= TIMEOUT_MS - 500 && waited <= TIMEOUT_MS + 3_000, `gave up after ${waited} ms, not about 10 s`);
  const m = (await mirrorsOf(a, adminA))[silent.url];
  assert.match(m.lastError, /no answer within 10 s/, JSON.stringify(m));
  assert.deepEqual(m.parked, []);
  // ...and tried again once the first attempt had given up.
  const second = await waitUntil(() => silent.requests[1], { what: 'a second request to the never-answering mirror', timeoutMs: 2 * TIMEOUT_MS });
  assert.ok(second.at >= first.at + TIMEOUT_MS - 500, `the retry came ${second.at - first.at} ms after the first request`);
});

test('one login serves every delivery while the token is good', { timeout: 30_000 }, async () => {
  // Everything the first test delivered went through the proxy.
  await proxyB.settled();
  const logins = proxyB.logins();
  assert.equal(logins.length, 1, `logins: ${proxyB.describe()}`);
  assert.equal(logins[0].email, SERVICE.email);
  const delivered = proxyB.invalidations().filter((r) => r.status === 200);
  assert.ok(delivered.length >= written.length, `${delivered.length} deliveries: ${proxyB.describe()}`);
});

test('after B rotates its JWT_SECRET, A logs in again exactly once and delivers', { timeout: 90_000 }, async () => {
  onB.close();
  b.vars.JWT_SECRET = 'rotated-secret-fedcba9876543210fedcba9876543210';
  await b.restart();
  adminB = await login(b, ADMIN);
  onB = await connect(`${b.url}/api/stream`);
  // The next login answer says the token expires in 66 s, which the next
  // test uses: a minute before that is 6 s from now.
  proxyB.tokenLifetimeMs = 66_000;
  const from = proxyB.requests.length;
  for (const id of ['rotated-1', 'rotated-2', 'rotated-3']) {
    await invalidate(a, adminA, { type: 'posts', id });
    await onB.waitFor((e) => e.json?.entityId === id, 15_000, `${id} on B`);
  }
  assert.deepEqual(seenOnB('rotated-'), ['rotated-1', 'rotated-2', 'rotated-3']);
  await proxyB.settled();
  const calls = proxyB.requests.slice(from).map((r) => `${r.path} ${r.status}`);
  assert.deepEqual(calls, [
    '/api/cache/invalidate 401', // the old token, refused
    '/api/auth/login 200', // once
    '/api/cache/invalidate 200',
    '/api/cache/invalidate 200',
    '/api/cache/invalidate 200',
  ]);
});

test('a token is used until a minute before it expires, then fetched again', { timeout: 60_000 }, async () => {
  const [lastLogin] = proxyB.logins().slice(-1);
  assert.ok(lastLogin?.expiresAt, 'the previous test\'s login had a shortened expiresAt');
  const freshUntil = lastLogin.expiresAt - 60_000;
  const from = proxyB.requests.length;
  await invalidate(a, adminA, { type: 'posts', id: 'fresh-1' });
  await onB.waitFor((e) => e.json?.entityId === 'fresh-1', 15_000, 'fresh-1 on B');
  await proxyB.settled();
  const early = proxyB.invalidations(from)[0];
  assert.ok(early.at < freshUntil - 500, `fresh-1 was delivered only ${freshUntil - early.at} ms before the token's last minute`);
  assert.equal(proxyB.logins(from).length, 0, `no login for a token more than a minute from expiry: ${proxyB.describe(from)}`);

  await sleep(Math.max(0, freshUntil + 500 - Date.now()));
  const later = proxyB.requests.length;
  await invalidate(a, adminA, { type: 'posts', id: 'fresh-2' });
  await onB.waitFor((e) => e.json?.entityId === 'fresh-2', 15_000, 'fresh-2 on B');
  await proxyB.settled();
  assert.deepEqual(proxyB.requests.slice(later).map((r) => `${r.path} ${r.status}`),
    ['/api/auth/login 200', '/api/cache/invalidate 200'], 'a new login within a minute of expiry');
});

test('another 4xx parks at once: B answers 403 to a sender logged in as an editor, with MIRROR_MAX_ATTEMPTS at 100', { timeout: 30_000 }, async () => {
  const sent = Date.now();
  const { eventId } = await invalidate(d, adminD, { type: 'posts', id: 'forbidden-1' });
  const m = await waitForMirror(d, adminD, b.url, (mirror) => mirror.parked.length, 'a parked entry on D');
  console.log(`# parked ${Date.now() - sent} ms after the write: ${m.parked[0].lastError}`);
  assert.equal(m.pending, 0);
  assert.equal(m.parked.length, 1);
  assert.equal(m.parked[0].eventId, eventId);
  assert.equal(m.parked[0].attempts, 1, 'parked after its first attempt');
  assert.match(m.parked[0].lastError, /HTTP 403/);
  const parkedLog = await logsOf(d, adminD, 'mirror parked');
  assert.equal(parkedLog.length, 1);
  assert.equal(parkedLog[0].attempts, 1);
  assert.deepEqual(await logsOf(d, adminD, 'mirror retry'), [], 'no retry');
});

test('pending entries survive a restart of the sender and are delivered once, in order; the sender logs in with TEST_EMAIL/TEST_PASSWORD when SERVICE_* are unset', { timeout: 120_000 }, async () => {
  // C's mirror (proxyC) is not listening yet: C's writes wait.
  const names = ['restart-1', 'restart-2', 'restart-3'];
  for (const id of names) await invalidate(c, adminC, { type: 'posts', id });
  const waiting = await waitForMirror(c, adminC, proxyC.url, (m) => m.pending === 3 && m.lastError, 'three pending entries with an error on C');
  assert.match(waiting.lastError, /unreachable/);

  await c.restart(); // same port, same state
  adminC = await login(c, ADMIN);
  const back = (await mirrorsOf(c, adminC))[proxyC.url];
  assert.equal(back.pending, 3, `pending after the restart: ${JSON.stringify(back)}`);
  assert.deepEqual(back.parked, []);

  // The mirror comes up; nothing more is written on C.
  await proxyC.start();
  await onB.waitFor((e) => e.json?.entityId === 'restart-3', 20_000, 'restart-3 on B');
  assert.deepEqual(seenOnB('restart-'), names, 'each once, in order');
  const done = await waitForMirror(c, adminC, proxyC.url, (m) => m.pending === 0, 'nothing pending on C');
  assert.equal(done.delivered, 3);
  await proxyC.settled();
  assert.deepEqual(proxyC.logins().map((r) => `${r.email} ${r.status}`), [`${SERVICE.email} 200`],
    'C, without SERVICE_EMAIL/SERVICE_PASSWORD, logged in once with TEST_EMAIL/TEST_PASSWORD');
  await sleep(1_000);
  assert.deepEqual(seenOnB('restart-'), names, 'still once each');
});
