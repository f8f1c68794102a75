// Login: the AUTH_USERS accounts (PBKDF2 hashes) and the SERVICE_EMAIL pair
// get HS256 tokens with their role; bad credentials are a JSON 401 and are
// counted in the cache log, which does not hold the password tried; more than
// 10 failed logins from one address within a minute answer 429 with
// retry-after, and successful logins do not count (but are refused too
// once the address is limited).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { EDITOR, EDITOR2, ADMIN, SERVICE } from '../common/accounts.mjs';
import { login, loginRequest, get, expectStatus, expectError, decodeJwt, nowSecs } from '../common/api.mjs';

let worker;
before(async () => { worker = await startWorker({ vars: { INSTANCE_ID: 'login-test' } }); });
after(async () => { await worker?.dispose(); });

test('every account logs in and gets an HS256 token with its role and an expiry', { timeout: 30_000 }, async () => {
  for (const account of [EDITOR, EDITOR2, ADMIN, SERVICE]) {
    const body = expectStatus(await loginRequest(worker, account), 200, `login of ${account.email}`);
    assert.match(body.token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a signed JWT');
    const { header, payload } = decodeJwt(body.token);
    assert.equal(header.alg, 'HS256');
    assert.equal(payload.role, account.role, `role of ${account.email}`);
    assert.ok(Number.isInteger(payload.exp) && payload.exp > nowSecs(), 'exp in the future');
    // expiresAt is the token's exp in milliseconds, as the README says and as
    // the mirror's token cache and the CLI compare it with Date.now().
    assert.equal(typeof body.expiresAt, 'number', `expiresAt is a number: ${JSON.stringify(body.expiresAt)}`);
    assert.equal(body.expiresAt, payload.exp * 1000, `expiresAt ${body.expiresAt} is exp ${payload.exp} in ms`);
    // The role of the answer is the account's, as the token says.
    assert.equal(body.role, account.role, `role in the answer for ${account.email}`);
  }
});

test('login is not fooled by case or whitespace in the password, nor by another account\'s password', { timeout: 30_000 }, async () => {
  expectError(await loginRequest(worker, { email: EDITOR.email, password: EDITOR.password.toUpperCase() }), 401, 'unauthenticated', 'upper-case password');
  expectError(await loginRequest(worker, { email: EDITOR.email, password: `${EDITOR.password} ` }), 401, 'unauthenticated', 'password with a space');
  expectError(await loginRequest(worker, { email: EDITOR.email, password: EDITOR2.password }), 401, 'unauthenticated', 'another account\'s password');
});

test('a failed login is a warn record in the cache log with the client address, and the password tried is nowhere in the log', { timeout: 30_000 }, async () => {
  const admin = await login(worker, ADMIN);
  const logs = async (since) => {
    const res = await get(worker, `/api/cache/logs?since=${since}&limit=2000`, { token: admin });
    return { ...expectStatus(res, 200, 'GET /api/cache/logs'), text: res.text };
  };
  const { lastSeq } = await logs(0);
  const tried = `tried-${process.pid}-${Date.now()}-Pa55`;
  const started = Date.now();
  expectError(await loginRequest(worker, { email: EDITOR.email, password: tried }), 401, 'unauthenticated', 'failed login');
  // Every record kept, not only the new one: no password, tried or right, appears anywhere.
  const all = (await logs(0)).text;
  for (const secret of [tried, EDITOR.password, ADMIN.password]) {
    assert.ok(!all.includes(secret), `${secret} appears in the cache log`);
  }
  const { records } = await logs(lastSeq);
  const failed = records.filter((r) => r.msg === 'login failed');
  assert.equal(failed.length, 1, `one "login failed" record: ${JSON.stringify(records)}`);
  const [record] = failed;
  // What the Hub logs for failures: one record a minute, pino's keys, its
  // seq, the count, and the addresses the limiter counts with their counts.
  assert.deepEqual(Object.keys(record).sort(), ['addrs', 'count', 'level', 'minute', 'msg', 'name', 'otherAddrs', 'seq', 'time'], JSON.stringify(record));
  assert.equal(record.level, 40, 'a warning');
  assert.equal(record.name, 'cache');
  assert.ok(record.seq > lastSeq);
  assert.ok(record.time >= started - 1000 && record.time <= Date.now() + 1000, `time ${record.time} is now`);
  // wrangler dev reports the loopback address as cf-connecting-ip. The
  // minute's earlier failures (none in this file) would be counted too.
  assert.ok(record.count >= 1 && record.addrs['127.0.0.1'] >= 1, `the client address: ${JSON.stringify(record)}`);
  assert.equal(record.minute, Math.floor(record.time / 60_000) * 60_000, 'the minute counted');
});

test('the 11th failed login within a minute is 429 with retry-after; successful logins do not count', { timeout: 60_000 }, async () => {
  // A fresh instance: the failures above must not count toward this limit.
  const fresh = await startWorker({ vars: { INSTANCE_ID: 'login-limit-test' } });
  try {
    for (let i = 1; i <= 10; i++) {
      // Rotating X-Forwarded-For must not make the attempts look like other clients.
      const res = await loginRequest(fresh, { email: EDITOR.email, password: `wrong-${i}` }, { headers: { 'x-forwarded-for': `10.0.0.${i}` } });
      expectError(res, 401, 'unauthenticated', `failed login ${i}`);
      // Interleaved successes: they must neither count nor reset the count.
      if (i < 10) expectStatus(await loginRequest(fresh, i % 2 ? EDITOR : SERVICE), 200, `successful login after ${i} failures`);
    }
    const limited = await loginRequest(fresh, { email: EDITOR.email, password: 'wrong-11' });
    expectError(limited, 429, 'too_many_requests', '11th failed login');
    const retryAfter = limited.headers.get('retry-after');
    assert.match(retryAfter ?? '', /^[0-9]+$/, 'retry-after is a number of seconds');
    assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, `retry-after ${retryAfter} within the minute`);
    // The limit holds for the address, whatever is tried: were a right password
    // let through, 429 against 200 would tell a guesser which guess was right.
    expectError(await loginRequest(fresh, { email: ADMIN.email, password: 'wrong' }), 429, 'too_many_requests', 'next failed login');
    expectError(await loginRequest(fresh, EDITOR), 429, 'too_many_requests', 'a right password while limited');
  } finally {
    await fresh.dispose();
  }
});

test('without JWT_SECRET, login fails with a configuration error naming it, never an unsigned token', { timeout: 60_000 }, async () => {
  const bad = await startWorker({ vars: { INSTANCE_ID: 'no-secret-test', JWT_SECRET: null }, requireHealthy: false });
  try {
    const res = await loginRequest(bad, EDITOR);
    assert.equal(res.status, 500, `login without JWT_SECRET: ${res.status} ${res.text}`);
    assert.equal(res.json?.error?.code, 'configuration');
    assert.match(res.json.error.message, /JWT_SECRET/);
    assert.equal(res.json.token, undefined);
  } finally {
    await bad.dispose();
  }
});
