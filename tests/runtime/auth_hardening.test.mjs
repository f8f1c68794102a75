// What a public login endpoint meets, and what it answers:
// - concurrent guesses from one address: the limiter counts an attempt from
//   before its password is hashed, so 500 at once get at most 10 guesses;
// - an IPv6 client is one address per /64; a human account has a limit of
//   its own (20 failures a minute, from any number of addresses);
// - the service account's right credentials are never refused by the
//   limiter, and a weak SERVICE_PASSWORD is a configuration error;
// - every login path costs one PBKDF2 of the same iteration count (an
//   unknown email, the service account, a real account);
// - tokens carry this deployment's INSTANCE_ID as `aud`; another audience,
//   none, or an `iat` over a minute ahead is refused;
// - 2,000 failed logins do not flush the cache log.
// wrangler dev passes a request's `cf-connecting-ip` header through to the
// Worker (Cloudflare sets it itself in production), so each test picks its
// client address with that header.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { startWorker, TEST_SECRETS } from '../common/harness.mjs';
import { ADMIN, EDITOR, EDITOR2, SERVICE, AUTH_USERS, hashPassword } from '../common/accounts.mjs';
import {
  login, loginRequest, get, invalidate, expectStatus, expectError, sendAtOnce, signJwt, nowSecs,
} from '../common/api.mjs';

const INSTANCE_ID = 'auth-hardening';
let worker;
before(async () => { worker = await startWorker({ vars: { INSTANCE_ID } }); });
after(async () => { await worker?.dispose(); });

/** A login from `addr` (the client address the Worker sees). */
const from = (addr) => ({ headers: { 'cf-connecting-ip': addr } });
/** An email no account has: each call another, so that no account limit is reached. */
let strangers = 0;
const stranger = () => `nobody-${process.pid}-${++strangers}@polycache.test`;

const statuses = (responses) => responses.reduce((n, r) => ({ ...n, [r.status]: (n[r.status] ?? 0) + 1 }), {});

test('500 concurrent bad logins from one address: at most 10 are checked, the rest answer 429', { timeout: 90_000 }, async () => {
  const addr = '203.0.113.50';
  const requests = Array.from({ length: 500 }, () => ({
    method: 'POST', path: '/api/auth/login', headers: { 'cf-connecting-ip': addr },
    body: { email: stranger(), password: 'guess' },
  }));
  // Over 100 connections, so that the Worker works on many at once.
  const { responses } = await sendAtOnce(worker, requests, { connections: 100, timeoutMs: 60_000 });
  const counts = statuses(responses);
  const guesses = counts[401] ?? 0;
  console.log(`# 500 concurrent bad logins from one address: ${guesses} checked (401), ${counts[429] ?? 0} refused (429): ${JSON.stringify(counts)}`);
  assert.deepEqual(Object.keys(counts).sort(), ['401', '429'], `only 401 and 429: ${JSON.stringify(counts)}`);
  assert.ok(guesses <= 10, `${guesses} guesses got past the limit of 10`);
  assert.ok(guesses >= 1, 'the first attempts are checked');
});

test('an IPv6 client rotating the last 64 bits of its address is one address', { timeout: 60_000 }, async () => {
  const prefix = '2001:db8:77:1';
  const random16 = () => randomBytes(2).toString('hex');
  for (let i = 1; i <= 10; i++) {
    const addr = `${prefix}:${random16()}:${random16()}:${random16()}:${i}`;
    expectError(await loginRequest(worker, { email: stranger(), password: 'guess' }, from(addr)), 401, 'unauthenticated', `failure ${i} from ${addr}`);
  }
  const limited = await loginRequest(worker, { email: stranger(), password: 'guess' }, from(`${prefix}:ffff:1:2:3`));
  expectError(limited, 429, 'too_many_requests', '11th failure from the same /64');
  // The same prefix written another way is the same /64.
  expectError(await loginRequest(worker, { email: stranger(), password: 'guess' }, from('2001:0db8:0077:0001::9')), 429, 'too_many_requests', 'the /64 in long form');
  // The next /64 is another client.
  expectError(await loginRequest(worker, { email: stranger(), password: 'guess' }, from('2001:db8:77:2::1')), 401, 'unauthenticated', 'another /64');
});

test('21 failures on one account from 21 addresses: the 21st answers 429, and so does its right password', { timeout: 60_000 }, async () => {
  // The email as people type it: case and spaces do not make another account.
  const spellings = [EDITOR.email, EDITOR.email.toUpperCase(), ` ${EDITOR.email} `];
  for (let i = 1; i <= 20; i++) {
    const res = await loginRequest(worker, { email: spellings[i % 3], password: `wrong-${i}` }, from(`198.51.100.${i}`));
    expectError(res, 401, 'unauthenticated', `failure ${i} on the account`);
  }
  const limited = await loginRequest(worker, { email: EDITOR.email, password: 'wrong-21' }, from('198.51.100.21'));
  expectError(limited, 429, 'too_many_requests', '21st failure on the account');
  const retryAfter = Number(limited.headers.get('retry-after'));
  assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${retryAfter}`);
  // A right password is refused too: 200 against 429 would tell a guesser which guess was right.
  expectError(await loginRequest(worker, EDITOR, from('198.51.100.22')), 429, 'too_many_requests', 'the right password of a limited account');
  // Other accounts are not limited by it.
  expectStatus(await loginRequest(worker, EDITOR2, from('198.51.100.23')), 200, 'another account');
});

test('with its address over the limit, the service account\'s right login is 200, a human\'s right login 429', { timeout: 60_000 }, async () => {
  const addr = '192.0.2.77';
  for (let i = 1; i <= 10; i++) {
    expectError(await loginRequest(worker, { email: stranger(), password: 'guess' }, from(addr)), 401, 'unauthenticated', `failure ${i}`);
  }
  expectError(await loginRequest(worker, { email: stranger(), password: 'guess' }, from(addr)), 429, 'too_many_requests', 'the address is limited');
  const service = expectStatus(await loginRequest(worker, SERVICE, from(addr)), 200, 'the service account from a limited address');
  assert.equal(service.role, 'service');
  expectError(await loginRequest(worker, ADMIN, from(addr)), 429, 'too_many_requests', 'a human\'s right login from a limited address');
  // A wrong service password is a guess like any other.
  expectError(await loginRequest(worker, { email: SERVICE.email, password: `${SERVICE.password}x` }, from(addr)), 429, 'too_many_requests', 'a wrong service password');
});

test('an empty, a long and a non-ASCII password are checked like any other: 401, never a 5xx', { timeout: 30_000 }, async () => {
  // Nine failures from one address: under its limit.
  for (const [what, password] of [['empty', ''], ['60,000 characters', 'x'.repeat(60_000)], ['non-ASCII', 'pässwörd 🔑']]) {
    for (const email of [EDITOR2.email, stranger(), SERVICE.email]) {
      expectError(await loginRequest(worker, { email, password }, from('192.0.2.200')), 401, 'unauthenticated', `${what} password for ${email}`);
    }
  }
});

test('tokens carry this deployment\'s INSTANCE_ID as aud: another aud, none, or an iat over 60 s ahead is refused', { timeout: 30_000 }, async () => {
  const token = await login(worker, ADMIN);
  const [, payload] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url'));
  assert.equal(claims.aud, INSTANCE_ID, `aud of an issued token: ${JSON.stringify(claims)}`);
  const logs = (t) => get(worker, '/api/cache/logs?limit=1', { token: t });
  const now = nowSecs();
  const base = { sub: ADMIN.email, role: 'admin', iat: now, exp: now + 600 };
  // The control: a token made by hand with the right audience is accepted.
  expectStatus(await logs(signJwt({ ...base, aud: INSTANCE_ID }, TEST_SECRETS.JWT_SECRET)), 200, 'right aud');
  expectStatus(await logs(signJwt({ ...base, aud: INSTANCE_ID, iat: now + 30 }, TEST_SECRETS.JWT_SECRET)), 200, 'iat 30 s ahead');
  for (const [what, claimsOf] of [
    ['another deployment\'s aud', { ...base, aud: 'production' }],
    ['no aud', base],
    ['aud a list without ours', { ...base, aud: ['production'] }],
    ['iat 120 s ahead', { ...base, aud: INSTANCE_ID, iat: now + 120 }],
  ]) {
    expectError(await logs(signJwt(claimsOf, TEST_SECRETS.JWT_SECRET)), 401, 'unauthenticated', what);
  }
});

test('2,000 failed logins from 2,000 addresses leave an earlier invalidation in the cache log', { timeout: 120_000 }, async () => {
  const admin = await login(worker, ADMIN);
  const { eventId } = await invalidate(worker, admin, { type: 'posts', id: 'before-the-flood' });
  const started = Date.now();
  const requests = Array.from({ length: 2000 }, (_, i) => ({
    method: 'POST', path: '/api/auth/login', headers: { 'cf-connecting-ip': `10.${(i >> 8) & 255}.${i & 255}.9` },
    body: { email: stranger(), password: 'guess' },
  }));
  const { responses } = await sendAtOnce(worker, requests, { connections: 50, timeoutMs: 100_000 });
  const counts = statuses(responses);
  console.log(`# 2,000 failed logins from 2,000 addresses in ${Date.now() - started} ms: ${JSON.stringify(counts)}`);
  const odd = responses.filter((r) => r.status !== 401).slice(0, 3).map((r) => `${r.status} ${r.text}`);
  assert.deepEqual(counts, { 401: 2000 }, `each address failed once; others: ${odd.join(' | ')}\n${worker.notes()}`);
  const res = expectStatus(await get(worker, '/api/cache/logs?since=0&limit=2000', { token: admin }), 200, 'logs');
  const records = res.records;
  const failures = records.filter((r) => r.msg === 'login failed');
  const counted = failures.reduce((n, r) => n + (r.count ?? 1), 0);
  console.log(`# the cache log after them: ${records.length} records, ${failures.length} of them login failures counting ${counted}`);
  assert.ok(records.some((r) => r.msg === 'invalidate' && r.eventId === eventId), `the invalidation ${eventId} is still in the log`);
  assert.ok(counted >= 2000, `the failures are all counted: ${counted}`);
  assert.ok(failures.length <= 20, `${failures.length} records for the failures`);
});

test('a weak SERVICE_PASSWORD is a configuration error naming it, and its value is not shown', { timeout: 60_000 }, async () => {
  const weak = await startWorker({ vars: { INSTANCE_ID: 'weak-service', SERVICE_PASSWORD: 'service-password' }, requireHealthy: false });
  try {
    const res = await loginRequest(weak, ADMIN);
    assert.equal(res.status, 500, `login with a weak SERVICE_PASSWORD: ${res.status} ${res.text}`);
    assert.equal(res.json?.error?.code, 'configuration');
    assert.match(res.json.error.message, /SERVICE_PASSWORD/);
    assert.ok(!res.text.includes('service-password'), res.text);
  } finally {
    await weak.dispose();
  }
});

/** The median of a list of numbers. */
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

test('an unknown email and the service account cost one PBKDF2 like a real account; PBKDF2 runs at native speed', { timeout: 120_000 }, async () => {
  // One account at the iteration count production uses, so that the
  // derivation dominates every answer.
  const SLOW = { email: 'slow@polycache.test', password: 'slow-password-1' };
  const iterations = 100_000;
  const users = [...JSON.parse(AUTH_USERS), { email: SLOW.email, role: 'editor', password: hashPassword(SLOW.password, 'salt-slow', iterations) }];
  const slow = await startWorker({ vars: { INSTANCE_ID: 'auth-timing', AUTH_USERS: JSON.stringify(users) } });
  try {
    const kinds = {
      'real account, wrong password': { email: SLOW.email, password: 'wrong' },
      'unknown email': () => ({ email: stranger(), password: 'wrong' }),
      'service account, right password': SERVICE,
      'service account, wrong password': { email: SERVICE.email, password: 'wrong' },
    };
    const ms = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
    const native = [];
    let n = 0;
    // Interleaved rounds, each login from its own address, so that load on the
    // machine falls on every kind alike and no limit is reached.
    for (let round = 0; round < 7; round++) {
      for (const [kind, creds] of Object.entries(kinds)) {
        n += 1;
        const res = await loginRequest(slow, typeof creds === 'function' ? creds() : creds, from(`100.64.${round}.${n}`));
        assert.ok([200, 401].includes(res.status), `${kind}: ${res.status} ${res.text}`);
        ms[kind].push(res.ms);
      }
      const t = performance.now();
      pbkdf2Sync('x', 'salt-slow', iterations, 32, 'sha256');
      native.push(performance.now() - t);
    }
    const medians = Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, Math.round(median(v))]));
    const nativeMs = median(native);
    console.log(`# login medians (ms) at ${iterations} iterations: ${JSON.stringify(medians)}; native PBKDF2 in this process ${nativeMs.toFixed(1)} ms`);
    const real = medians['real account, wrong password'];
    // The failures must not tell an unknown email or the service account's
    // email from a real account's: each takes the limiter's round trips to
    // the Hub and one PBKDF2.
    for (const kind of ['unknown email', 'service account, wrong password']) {
      assert.ok(medians[kind] >= real * 0.6, `${kind} answers in ${medians[kind]} ms, a real account in ${real} ms: told apart by time`);
    }
    // The service account's right login skips the limiter (its Hub round
    // trips), which tells the caller nothing the 200 does not; it still
    // derives one PBKDF2, so it takes at least about what PBKDF2 alone takes.
    const service = medians['service account, right password'];
    assert.ok(service >= nativeMs * 0.6, `the service account's right login answers in ${service} ms, one native PBKDF2 takes ${nativeMs.toFixed(1)} ms: no PBKDF2 on that path`);
    // PBKDF2 through WebCrypto runs natively: about the native cost, not a
    // multiple of it as in wasm.
    assert.ok(real <= nativeMs * 2.5 + 15, `a login at ${iterations} iterations takes ${real} ms, native PBKDF2 ${nativeMs.toFixed(1)} ms`);
  } finally {
    await slow.dispose();
  }
});
