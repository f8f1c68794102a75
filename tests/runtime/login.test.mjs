// Login: the AUTH_USERS accounts (PBKDF2 hashes) and the SERVICE_EMAIL pair
// get HS256 tokens with their role; bad credentials are a JSON 401; more than
// 10 failed logins from one address within a minute answer 429 with
// retry-after, and successful logins do not count (but are refused too
// once the address is limited).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { EDITOR, EDITOR2, ADMIN, SERVICE } from '../common/accounts.mjs';
import { loginRequest, expectStatus, expectError, decodeJwt, nowSecs } from '../common/api.mjs';

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
    const expiresAt = typeof body.expiresAt === 'number' ? body.expiresAt : Date.parse(body.expiresAt);
    assert.ok(Number.isFinite(expiresAt), `expiresAt is a time: ${body.expiresAt}`);
    // expiresAt names the same moment as exp (ms or s since the epoch, or a date string).
    const expiresMs = expiresAt < 1e11 ? expiresAt * 1000 : expiresAt;
    assert.ok(Math.abs(expiresMs - payload.exp * 1000) < 2000, `expiresAt ${body.expiresAt} matches exp ${payload.exp}`);
  }
});

test('login is not fooled by case or whitespace in the password, nor by another account\'s password', { timeout: 30_000 }, async () => {
  expectError(await loginRequest(worker, { email: EDITOR.email, password: EDITOR.password.toUpperCase() }), 401, 'unauthenticated', 'upper-case password');
  expectError(await loginRequest(worker, { email: EDITOR.email, password: `${EDITOR.password} ` }), 401, 'unauthenticated', 'password with a space');
  expectError(await loginRequest(worker, { email: EDITOR.email, password: EDITOR2.password }), 401, 'unauthenticated', 'another account\'s password');
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
