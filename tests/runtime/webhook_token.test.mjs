// Long-lived tokens for an app's webhook: `polycache token mint` (the CLI
// binary, run as a user runs it) makes a token that `POST
// /api/cache/invalidate` accepts without a login, for its own deployment and
// secret only; `polycache token revoke` prints the REVOKED_TOKENS that
// refuses it once the Worker restarts with it, while other tokens go on
// working.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWorker, TEST_SECRETS } from '../common/harness.mjs';
import { SERVICE } from '../common/accounts.mjs';
import { CLI_BIN, startCli } from '../common/cli.mjs';
import { streamPool } from '../common/sse.mjs';
import { post, login, invalidate, status, expectStatus, expectError, decodeJwt } from '../common/api.mjs';

const INSTANCE = 'webhook-token';
/** What an app's admin panel sends when it changed product 7 itself. */
const CHANGE = { type: 'posts', id: '7', action: 'update' };
const TEN_YEARS_SECS = 3650 * 86_400;

let worker;
const scratch = mkdtempSync(join(tmpdir(), 'polycache-webhook-'));
const streams = streamPool(() => worker.url);

/**
 * `polycache token ...args` with this JWT_SECRET (undefined: none) and no
 * REVOKED_TOKENS; asserts exit 0 and returns {stdout, stderr}.
 */
async function cli(args, { secret = TEST_SECRETS.JWT_SECRET } = {}) {
  const env = { JWT_SECRET: secret, REVOKED_TOKENS: '' };
  const res = await startCli(['token', ...args], { configDir: scratch, env }).done;
  assert.equal(res.code, 0, `polycache token ${args.join(' ')}: exit ${res.code}\nstdout: ${res.stdout}\nstderr: ${res.stderr}`);
  return res;
}

/** Mints a token; returns {token, jti} after checking what mint printed. */
async function mint(name, { instance = INSTANCE, secret } = {}) {
  const { stdout, stderr } = await cli(['mint', '--name', name, '--instance', instance], { secret });
  // Only the token on stdout, so that TOKEN=$(polycache token mint ...) works.
  assert.match(stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, `stdout is the token alone: ${JSON.stringify(stdout)}`);
  const token = stdout.trim();
  const claims = decodeJwt(token).payload;
  assert.match(stderr, new RegExp(`^token ${claims.jti} "${name}" \\(service\\) for ${instance}, valid until 20\\d\\d-`), stderr);
  return { token, jti: claims.jti, claims };
}

/** POST /api/cache/invalidate with this token: the whole response. */
const notify = (token, body = CHANGE) => post(worker, '/api/cache/invalidate', body, { token });

let shop; // the token the shop's admin panel keeps
let cron; // another app's token

before(async () => {
  assert.ok(existsSync(CLI_BIN), `${CLI_BIN} is missing: build it with \`cargo build -p polycache-cli\``);
  worker = await startWorker({ name: 'webhook-token', vars: { INSTANCE_ID: INSTANCE } });
  shop = await mint('shop-admin');
  cron = await mint('nightly import');
});

after(async () => {
  streams.closeAll();
  await worker?.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

test('a minted token is a ten-year service token for its deployment, and invalidates through the webhook with an event on the stream', { timeout: 30_000 }, async () => {
  const { claims } = shop;
  assert.equal(claims.role, 'service');
  assert.equal(claims.aud, INSTANCE);
  assert.equal(claims.sub, 'token:shop-admin');
  assert.equal(claims.exp - claims.iat, TEN_YEARS_SECS);
  assert.notEqual(shop.jti, cron.jti, 'each token has its own id');

  const stream = await streams.open();
  const res = await notify(shop.token);
  const body = expectStatus(res, 200, 'invalidate with a minted token');
  const event = await stream.waitForId(body.eventId);
  assert.equal(event.json.type, 'posts');
  assert.equal(event.json.entityId, '7');
  assert.equal(event.json.action, 'update');
  assert.ok(event.json.types.includes('posts'), JSON.stringify(event.json));
});

test('a token minted for another INSTANCE_ID or with another secret is 401 and changes nothing', { timeout: 30_000 }, async () => {
  const elsewhere = await mint('shop-admin', { instance: 'another-deployment' });
  const forged = await mint('shop-admin', { secret: 'not-the-worker-secret-0123456789abcdef' });
  const before = (await status(worker)).lastEventId;
  expectError(await notify(elsewhere.token), 401, 'unauthenticated', 'a token for another deployment');
  expectError(await notify(forged.token), 401, 'unauthenticated', 'a token signed with another secret');
  assert.equal((await status(worker)).lastEventId, before, 'no event');
});

test('after a restart with REVOKED_TOKENS from `token revoke`, that token is 401 token_revoked; other tokens work', { timeout: 90_000 }, async () => {
  // revoke needs no secret: it reads the id from the token.
  const { stdout } = await cli(['revoke', shop.token], { secret: undefined });
  assert.equal(stdout, `${shop.jti}\n`, 'REVOKED_TOKENS is the environment\'s (none) plus this id');

  worker.vars.REVOKED_TOKENS = stdout.trim();
  await worker.restart();

  const before = (await status(worker)).lastEventId;
  const refused = expectError(await notify(shop.token), 401, 'token_revoked', 'the revoked token');
  assert.ok(refused.message.includes(shop.jti), `the message names the token's id: ${refused.message}`);
  assert.equal((await status(worker)).lastEventId, before, 'a revoked token invalidates nothing');

  await invalidate(worker, cron.token, { ...CHANGE, id: '8' });
  await invalidate(worker, await login(worker, SERVICE), { ...CHANGE, id: '9' });
});

test('a REVOKED_TOKENS that is not a list of token ids fails every request with a configuration error naming it', { timeout: 90_000 }, async () => {
  worker.vars.REVOKED_TOKENS = `${shop.jti},not a token id`;
  worker.requireHealthy = false;
  await worker.restart();
  const error = expectError(await notify(cron.token), 500, 'configuration', 'a malformed REVOKED_TOKENS');
  assert.match(error.message, /^setting REVOKED_TOKENS: .*got "not a token id"/, error.message);
});
