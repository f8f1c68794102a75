// `polycache`, the native CLI (crates/cli), run as a user would run it:
// every subcommand against a `wrangler dev` instance (and `graph` and
// `hash-password` offline), checking stdout, stderr and exit codes.
//
// The binary is built by scripts/test.sh before this tier (debug profile:
// it shares the artifacts of the unit tests; tests/common/cli.mjs). Runs
// get the test's own XDG_CONFIG_HOME, so the token file is the test's and a
// developer's own tokens are never read or touched.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pbkdf2Sync } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkerInstance, freePort, ROOT } from '../common/harness.mjs';
import { ADMIN, EDITOR, SERVICE } from '../common/accounts.mjs';
import { CLI_BIN, startCli } from '../common/cli.mjs';
import { connect } from '../common/sse.mjs';
import { login, invalidate, get, post, waitUntil, sendAtOnce, status } from '../common/api.mjs';
import { TestServer } from '../common/test_server.mjs';

const PINO_PRETTY = join(ROOT, 'node_modules', '.bin', 'pino-pretty');
// Quick mirror retries and two attempts, so that entries for the mirror
// that is never up are parked within a second or two.
const MIRROR_VARS = { MIRROR_RETRY_BASE_MS: '100', MIRROR_RETRY_CAP_MS: '500', MIRROR_MAX_ATTEMPTS: '2' };

let worker;
let deadMirror; // a URL where nothing listens
let adminToken;
const scratch = mkdtempSync(join(tmpdir(), 'polycache-cli-'));
let configDirs = 0;

/** A fresh XDG_CONFIG_HOME (an empty token store). */
function freshConfig() {
  const dir = join(scratch, `config-${++configDirs}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
const sharedConfig = freshConfig();

/** Starts `polycache ...args` with the shared token store unless `env` sets another. */
const start = (args, opts = {}) => startCli(args, { configDir: sharedConfig, ...opts });

/** Runs `polycache ...args` to the end. */
const run = (args, opts) => start(args, opts).done;

/** Asserts the exit code, showing the output when it differs. */
function expectExit(res, code, what) {
  assert.equal(res.code, code, `${what}: exit ${res.code} (signal ${res.signal})\nstdout: ${res.stdout}\nstderr: ${res.stderr}`);
}

/** Asserts a failure reported as exactly one line on stderr matching re. */
function expectOneLineError(res, code, re, what) {
  expectExit(res, code, what);
  const lines = res.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${what}: one line on stderr, got:\n${res.stderr}`);
  assert.match(lines[0], re, what);
}

const u = () => ['--url', worker.url];

async function mirrorStatus(w = worker, token = adminToken) {
  const res = await get(w, '/api/cache/mirrors', { token });
  assert.equal(res.status, 200, res.text);
  return res.json.mirrors;
}

before(async () => {
  assert.ok(existsSync(CLI_BIN), `${CLI_BIN} is missing: build it with \`cargo build -p polycache-cli\``);
  deadMirror = `http://127.0.0.1:${await freePort()}`;
  worker = new WorkerInstance({
    name: 'cli',
    vars: { INSTANCE_ID: 'cli-a', CACHE_MIRRORS: deadMirror, ...MIRROR_VARS },
  });
  await worker.start();
  adminToken = await login(worker, ADMIN);
});

after(async () => {
  await worker?.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

test('usage errors exit 2 and say what is wrong', async () => {
  // A name no deployment can have is refused before anything is sent; a
  // well-formed one may be an origin-mode deployment's own type, and is
  // the deployment's to refuse (this one is in D1 mode: see the README).
  const malformed = await run(['invalidate', 'Kittens!', ...u()]);
  expectExit(malformed, 2, 'malformed type');
  assert.match(malformed.stderr, /unknown type "Kittens!"; one of posts, pages/);
  expectExit(await run([]), 2, 'no subcommand');
  expectExit(await run(['frobnicate']), 2, 'unknown subcommand');
  expectExit(await run(['hash-password', '--email', 'a@b.c']), 2, '--email without --role');
  expectExit(await run(['tail', '--count', '0']), 2, 'tail --count 0');
  const badUrl = await run(['logout', '--url', 'ftp://example.com']);
  expectOneLineError(badUrl, 2, /--url "ftp:\/\/example.com" is not an http:\/\/ or https:\/\/ URL/, 'ftp URL');
  const noEmail = await run(['login', ...u()], { env: { POLYCACHE_PASSWORD: 'x' } });
  expectOneLineError(noEmail, 2, /no email: pass --email/, 'login without an email off a terminal');
});

test('--help and every subcommand\'s help are complete', async () => {
  const top = await run(['--help']);
  expectExit(top, 0, '--help');
  const subcommands = ['login', 'logout', 'invalidate', 'tail', 'logs', 'mirrors', 'graph', 'hash-password'];
  for (const sub of subcommands) assert.match(top.stdout, new RegExp(`^  ${sub} +\\S`, 'm'), `${sub} in --help`);
  for (const word of ['POLYCACHE_URL', 'POLYCACHE_TOKEN', 'POLYCACHE_PASSWORD', 'Exit codes', 'Examples']) {
    assert.ok(top.stdout.includes(word), `--help mentions ${word}`);
  }
  for (const sub of subcommands) {
    const help = await run([sub, '--help']);
    expectExit(help, 0, `${sub} --help`);
    assert.match(help.stdout, new RegExp(`Usage: polycache ${sub}`), `${sub} --help usage`);
    assert.match(help.stdout, /Global options:\n\s+--url <URL>/, `${sub} --help global options`);
    // Every option has a description: in long help it is on the next line,
    // so an option line followed by a blank line has none.
    const lines = help.stdout.split('\n');
    const bare = lines.filter((l, i) => /^\s+(-\w, )?--[\w-]+( <\w+>)?$/.test(l) && (lines[i + 1] ?? '').trim() === '');
    assert.deepEqual(bare, [], `${sub} --help: options without a description`);
  }
  const version = await run(['--version']);
  expectExit(version, 0, '--version');
  assert.match(version.stdout, /^polycache \d+\.\d+\.\d+/);
});

test('an unreachable URL fails with exit 1 and says to start the Worker', async () => {
  const nowhere = `http://127.0.0.1:${await freePort()}`;
  const expected = new RegExp(`^polycache: cannot reach ${nowhere.replace(/[.]/g, '\\.')} \\(connection refused\\): is the Worker running\\? try \`make dev\`$`);
  const viaLogin = await run(['login', '--url', nowhere, '--email', ADMIN.email], { env: { POLYCACHE_PASSWORD: 'x' } });
  expectOneLineError(viaLogin, 1, expected, 'login to a closed port');
  const viaInvalidate = await run(['invalidate', 'posts', '--url', nowhere], { env: { POLYCACHE_TOKEN: 'anything' } });
  expectOneLineError(viaInvalidate, 1, expected, 'invalidate on a closed port');
  const viaTail = await run(['tail', '--url', nowhere, '--max-seconds', '20']);
  expectOneLineError(viaTail, 1, expected, 'tail of a closed port');
});

test('a wrong password fails with exit 1, a clear message, and stores nothing', async () => {
  const config = freshConfig();
  const res = await run(['login', ...u(), '--email', ADMIN.email], { env: { XDG_CONFIG_HOME: config, POLYCACHE_PASSWORD: 'not-the-password' } });
  expectOneLineError(res, 1, /login to http:\/\/127\.0\.0\.1:\d+ as admin@polycache\.test refused: wrong email or password/, 'wrong password');
  assert.ok(!existsSync(join(config, 'polycache', 'tokens.json')), 'no token file after a failed login');
});

test('login keeps the token in a 0600 file, never printed; logout forgets it', async () => {
  const config = freshConfig();
  const env = { XDG_CONFIG_HOME: config };
  // The password on stdin (not a terminal), as a script would give it.
  const res = await run(['login', ...u(), '--email', ADMIN.email], { env, input: `${ADMIN.password}\n` });
  expectExit(res, 0, 'login');
  assert.match(res.stdout, new RegExp(`^logged in to ${worker.url} as admin@polycache\\.test \\(admin\\); token kept in .*tokens\\.json until \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC \\(in .+\\)\\n$`));
  const file = join(config, 'polycache', 'tokens.json');
  assert.equal(statSync(file).mode & 0o777, 0o600, 'token file mode');
  assert.equal(statSync(join(config, 'polycache')).mode & 0o777, 0o700, 'token directory mode');
  const stored = JSON.parse(readFileSync(file, 'utf8'));
  const entry = stored.tokens[worker.url];
  assert.equal(entry.email, ADMIN.email);
  assert.match(entry.token, /^ey[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.ok(!res.stdout.includes(entry.token) && !res.stderr.includes(entry.token), 'the token is never printed');

  // The stored token is used: mirrors needs admin.
  expectExit(await run(['mirrors', ...u()], { env }), 0, 'mirrors with the stored token');

  const asJson = await run(['login', ...u(), '--email', ADMIN.email, '--json'], { env, input: `${ADMIN.password}\n` });
  expectExit(asJson, 0, 'login --json');
  const report = JSON.parse(asJson.stdout);
  assert.equal(report.url, worker.url);
  assert.equal(report.role, 'admin');
  assert.equal(typeof report.expiresAt, 'number');
  assert.ok(report.expiresAt > Date.now());
  assert.equal(report.token, undefined, 'no token in --json');

  const out = await run(['logout', ...u()], { env });
  expectExit(out, 0, 'logout');
  assert.match(out.stdout, /forgot the token/);
  const after = await run(['mirrors', ...u()], { env });
  expectOneLineError(after, 1, new RegExp(`not logged in to ${worker.url.replace(/[.]/g, '\\.')}: run \`polycache login --url`), 'after logout');
});

test('invalidate prints the event id and types, and the stream gets that event', async () => {
  const env = { POLYCACHE_TOKEN: adminToken };
  const stream = await connect(`${worker.url}/api/stream`);
  try {
    const res = await run(['invalidate', 'post', '--id', '7', ...u()], { env });
    expectExit(res, 0, 'invalidate');
    const m = res.stdout.match(/^invalidated post 7 \(update\): posts, feed — event (\d+)\n$/);
    assert.ok(m, `invalidate output: ${res.stdout}`);
    const got = await stream.waitForId(Number(m[1]), 10_000);
    assert.equal(got.json.entityId, '7');

    const asJson = await run(['invalidate', 'types', '--json', ...u()], { env });
    expectExit(asJson, 0, 'invalidate --json');
    const body = JSON.parse(asJson.stdout);
    assert.equal(body.ok, true);
    assert.equal(typeof body.eventId, 'number');
    assert.deepEqual([...body.types].sort(), ['categories', 'feed', 'pages', 'posts', 'types']);
    await stream.waitForId(body.eventId, 10_000);
  } finally {
    stream.close();
  }
});

test('invalidate --no-mirror leaves the outbox alone; the service account may invalidate, an editor may not', async () => {
  const entries = async () => (await mirrorStatus()).reduce((n, m) => n + m.pending + m.parked.length, 0);
  const before = await entries();
  const quiet = await run(['invalidate', 'pages', '--no-mirror', ...u()], { env: { POLYCACHE_TOKEN: adminToken } });
  expectExit(quiet, 0, 'invalidate --no-mirror');
  assert.match(quiet.stdout, /, not mirrored\n$/);
  await sleep(1_000);
  assert.equal(await entries(), before, 'nothing was put in the outbox');
  const mirrored = await run(['invalidate', 'pages', ...u()], { env: { POLYCACHE_TOKEN: adminToken } });
  expectExit(mirrored, 0, 'invalidate');
  await waitUntil(async () => (await entries()) === before + 1, { what: 'one more outbox entry' });

  // Logging in on the fly with POLYCACHE_EMAIL and POLYCACHE_PASSWORD.
  const config = freshConfig();
  const service = await run(['invalidate', 'categories', ...u()], { env: { XDG_CONFIG_HOME: config, POLYCACHE_EMAIL: SERVICE.email, POLYCACHE_PASSWORD: SERVICE.password } });
  expectExit(service, 0, 'invalidate as the service account');
  const editor = await run(['invalidate', 'categories', ...u()], { env: { XDG_CONFIG_HOME: config, POLYCACHE_EMAIL: EDITOR.email, POLYCACHE_PASSWORD: EDITOR.password } });
  expectOneLineError(editor, 1, /refused \(.*\): this needs another role; run `polycache login --url .* --email <an account with it>`$/, 'editor invalidating');
  const forged = await run(['invalidate', 'posts', ...u()], { env: { POLYCACHE_TOKEN: 'not-a-token' } });
  expectOneLineError(forged, 1, /refused POLYCACHE_TOKEN/, 'a bad POLYCACHE_TOKEN');
});

test('tail prints the event of a write, as a line and as JSON, and filters by type', async () => {
  const env = { POLYCACHE_TOKEN: adminToken };
  const waitConnected = (t) => waitUntil(() => /^following /m.test(t.out().stderr), { timeoutMs: 20_000, what: 'tail connected' });

  const human = start(['tail', ...u(), '--count', '1', '--max-seconds', '60']);
  await waitConnected(human);
  const { eventId } = await invalidate(worker, adminToken, { type: 'post', id: '9' });
  const h = await human.done;
  expectExit(h, 0, 'tail --count 1');
  assert.match(h.stdout, new RegExp(`^#${eventId} \\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z update post 9 → posts, feed \\(origin cli-a\\)\\n$`));

  const json = start(['tail', ...u(), '--json', '--types', 'pages', '--count', '1', '--max-seconds', '60']);
  await waitConnected(json);
  await invalidate(worker, adminToken, { type: 'posts', id: 'not-a-page' });
  const page = await invalidate(worker, adminToken, { type: 'page', id: '3', action: 'delete' });
  const j = await json.done;
  expectExit(j, 0, 'tail --json --types pages');
  const lines = j.stdout.trim().split('\n');
  assert.equal(lines.length, 1, j.stdout);
  const event = JSON.parse(lines[0]);
  assert.equal(event.event, 'app-update');
  assert.equal(event.id, page.eventId);
  assert.equal(event.type, 'page');
  assert.equal(event.action, 'delete');
  assert.deepEqual(event.types, ['pages', 'feed']);

  // --max-seconds bounds a quiet tail; it ends with success.
  const quiet = await run(['tail', ...u(), '--types', 'auth', '--max-seconds', '2'], { env });
  expectExit(quiet, 0, 'tail --max-seconds');
  assert.equal(quiet.stdout, '');
});

test('tail prints every event of a burst the Edge wrote in a few chunks, once each and in order', async () => {
  const BURST = 20;
  const tail = start(['tail', ...u(), '--json', '--count', String(BURST), '--max-seconds', '90']);
  await waitUntil(() => /^following /m.test(tail.out().stderr), { timeoutMs: 20_000, what: 'tail connected' });
  const before = await status(worker);
  const requests = Array.from({ length: BURST }, (_, i) => ({
    method: 'POST', path: '/api/cache/invalidate', token: adminToken, body: { type: 'posts', id: `burst-${i}`, mirror: false },
  }));
  const { responses } = await sendAtOnce(worker, requests, { connections: 5 });
  assert.deepEqual([...new Set(responses.map((r) => r.status))], [200]);
  const t = await tail.done;
  expectExit(t, 0, `tail --count ${BURST}`);
  const ids = t.stdout.trim().split('\n').map((line) => JSON.parse(line).id);
  assert.deepEqual(ids, Array.from({ length: BURST }, (_, i) => before.lastEventId + i + 1), 'every id once, in order');
  const after = await status(worker);
  const chunks = after.streamChunks - before.streamChunks;
  const events = after.streamEvents - before.streamEvents;
  assert.ok(chunks < events, `several events per chunk reached the CLI (${events} events in ${chunks} chunks)`);
});

test('logs --follow writes logs/cache.json that pino-pretty reads; a second run resumes after the last seq', async () => {
  const dir = join(scratch, 'project');
  const out = join(dir, 'logs', 'cache.json');
  const env = { POLYCACHE_TOKEN: adminToken };
  const follower = start(['logs', ...u(), '--follow', '--out', out, '--interval', '0.2', '--max-seconds', '90'], { env });
  await waitUntil(() => /^following the cache log/m.test(follower.out().stderr), { timeoutMs: 20_000, what: 'logs --follow started' });
  const ids = [];
  for (let i = 0; i < 5; i++) {
    ids.push((await invalidate(worker, adminToken, { type: 'posts', id: `log-${i}` })).eventId);
  }
  const records = () => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
  await waitUntil(() => {
    const seen = new Set(records().filter((r) => r.msg === 'invalidate').map((r) => r.eventId ?? r.id));
    return ids.every((id) => seen.has(id));
  }, { timeoutMs: 20_000, what: `the five invalidations in ${out}` });
  // Ctrl-C stops it; every line in the file is a whole record.
  follower.child.kill('SIGINT');
  const f = await follower.done;
  assert.ok(f.signal === 'SIGINT' || f.code === 130 || f.code === 0, `logs --follow after Ctrl-C: ${f.code} ${f.signal} ${f.stderr}`);

  const text = readFileSync(out, 'utf8');
  assert.ok(text.endsWith('\n'));
  const lines = text.trim().split('\n');
  let lastSeq = 0;
  for (const line of lines) {
    const r = JSON.parse(line);
    assert.deepEqual(Object.keys(r).slice(0, 4), ['level', 'time', 'name', 'msg'], `pino's keys first: ${line}`);
    assert.ok([10, 20, 30, 40, 50, 60].includes(r.level), line);
    assert.equal(typeof r.time, 'number', line);
    assert.equal(r.name, 'cache', line);
    assert.ok(r.seq > lastSeq, `seq increases without repeats: ${line}`);
    lastSeq = r.seq;
  }

  // pino-pretty from npm reads the file: exit 0, every record pretty-printed.
  const pretty = await new Promise((resolve, reject) => {
    const p = spawn(PINO_PRETTY, ['--colorize', 'false'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = ''; let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('error', reject);
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    p.stdin.end(text);
  });
  assert.equal(pretty.code, 0, `pino-pretty exit: ${pretty.stderr}`);
  const headers = pretty.stdout.split('\n').filter((l) => /^\[\d\d:\d\d:\d\d\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) \(cache\): /.test(l));
  assert.equal(headers.length, lines.length, `one pretty record per line:\n${pretty.stdout.slice(0, 2000)}`);
  assert.ok(headers.some((l) => l.endsWith('): invalidate')), 'the invalidate messages');
  assert.ok(!pretty.stdout.includes('{"level"'), 'no line passed through unparsed');

  // A second run appends only what is new, after the file's last seq.
  const { eventId } = await invalidate(worker, adminToken, { type: 'posts', id: 'after-follow' });
  // Its delivery to the dead mirror is logged until the entry is parked; after that the log is quiet.
  await waitUntil(async () => {
    const res = await get(worker, '/api/cache/logs?limit=2000', { token: adminToken });
    assert.equal(res.status, 200, res.text);
    return res.json.records.some((r) => r.msg === 'mirror parked' && r.eventId === eventId) && (await mirrorStatus())[0].pending === 0;
  }, { timeoutMs: 20_000, what: `event ${eventId} parked for the dead mirror` });
  const again = await run(['logs', ...u(), '--out', out, '--json'], { env });
  expectExit(again, 0, 'logs (resume)');
  const summary = JSON.parse(again.stdout);
  assert.ok(summary.appended >= 1 && summary.firstSeq === lastSeq + 1, `resumed after ${lastSeq}: ${again.stdout}`);
  const all = records();
  assert.equal(new Set(all.map((r) => r.seq)).size, all.length, 'no record twice');
  assert.ok(all.some((r) => r.msg === 'invalidate' && (r.eventId ?? r.id) === eventId), 'the new invalidation was appended');
  const fileBefore = readFileSync(out, 'utf8');
  const idle = await run(['logs', ...u(), '--out', out], { env });
  expectExit(idle, 0, 'logs with nothing new');
  assert.equal(idle.stdout, `no new records; ${out} is up to date\n`, 'logs with nothing new says so');
  assert.equal(readFileSync(out, 'utf8'), fileBefore, 'and leaves the file as it was');
});

test('mirrors shows the outbox as a table and JSON, parked entries, and --retry requeues them', async () => {
  const env = { POLYCACHE_TOKEN: adminToken };
  await invalidate(worker, adminToken, { type: 'posts', id: 'for-the-mirror' });
  await waitUntil(async () => (await mirrorStatus())[0].parked.length > 0, { timeoutMs: 20_000, what: 'a parked entry' });
  const table = await run(['mirrors', ...u()], { env });
  expectExit(table, 0, 'mirrors');
  const lines = table.stdout.split('\n');
  assert.match(lines[0], /^MIRROR +PENDING +OLDEST +NEXT TRY +DELIVERED +LAST SUCCESS +PARKED +LAST ERROR$/);
  assert.ok(lines[1].startsWith(`${deadMirror} `), table.stdout);
  assert.match(lines[1], / never /, 'no success yet');
  assert.match(table.stdout, /^parked \(every attempt failed; fix the cause, then `polycache mirrors --retry`\):$/m);
  assert.match(table.stdout, new RegExp(`^  ${deadMirror.replace(/[.]/g, '\\.')}: event \\d+ \\w+.*, 2 attempts, created .*: .+$`, 'm'));

  const asJson = await run(['mirrors', ...u(), '--json'], { env });
  expectExit(asJson, 0, 'mirrors --json');
  const status = JSON.parse(asJson.stdout);
  assert.equal(status.mirrors[0].url, deadMirror);
  const parked = status.mirrors[0].parked.length;
  assert.ok(parked > 0);

  const retried = await run(['mirrors', ...u(), '--retry', '--json'], { env });
  expectExit(retried, 0, 'mirrors --retry');
  assert.ok(JSON.parse(retried.stdout).requeued >= parked, retried.stdout);

  const service = await login(worker, SERVICE);
  const refused = await run(['mirrors', ...u()], { env: { POLYCACHE_TOKEN: service } });
  expectOneLineError(refused, 1, /reading the mirror status: .* refused .*this needs another role/, 'mirrors as the service account');
});

test('mirrors counts every parked entry, says how many more than the first page there are, and --all lists each once', { timeout: 90_000 }, async () => {
  // More parked entries than the Worker's largest page (1,000, what --all
  // asks for) holds, so that --all follows nextCursor; on a mirror that
  // refuses the login with 403, which parks at once.
  const PARKED = 1_100;
  const BATCH = 100; // the most one `{deliveries}` body holds
  const forbidding = await new TestServer('forbidding', (req, body, res) => {
    res.writeHead(403, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'forbidden', message: 'not you' } }));
  }).start();
  const w = new WorkerInstance({ name: 'cli-parked', vars: { INSTANCE_ID: 'cli-parked', CACHE_MIRRORS: forbidding.url } });
  try {
    await w.start();
    const admin = await login(w, ADMIN);
    const written = [];
    for (let i = 0; i < PARKED; i += BATCH) {
      const deliveries = Array.from({ length: BATCH }, (_, k) => ({ type: 'posts', id: `parked-${i + k}` }));
      const res = await post(w, '/api/cache/invalidate', { deliveries }, { token: admin });
      assert.equal(res.status, 200, res.text);
      written.push(...res.json.results.map((r) => r.eventId));
    }
    await waitUntil(async () => {
      const [m] = await mirrorStatus(w, admin);
      return m.pending === 0 && m.parkedCount === PARKED;
    }, { timeoutMs: 30_000, what: `${PARKED} entries parked` });
    const env = { POLYCACHE_TOKEN: admin };
    const url = ['--url', w.url];
    const listed = (stdout) => [...stdout.matchAll(/^ {2}\S+: event (\d+) /gm)].map((m) => Number(m[1]));

    const first = await run(['mirrors', ...url], { env });
    expectExit(first, 0, 'mirrors');
    const lines = first.stdout.trimEnd().split('\n');
    const parkedCell = lines[1].split(/ {2,}/)[6];
    console.log(`# PARKED ${parkedCell}; ${listed(first.stdout).length} listed; last line: ${lines.at(-1)}`);
    assert.equal(parkedCell, String(PARKED), `the PARKED column:\n${first.stdout}`);
    assert.equal(listed(first.stdout).length, 100, 'the first page is listed');
    assert.equal(lines.at(-1), `${PARKED - 100} more parked entries not shown; \`polycache mirrors --all\` lists them all`);
    const firstJson = JSON.parse((await run(['mirrors', ...url, '--json'], { env })).stdout);
    assert.equal(typeof firstJson.nextCursor, 'number', JSON.stringify(firstJson).slice(0, 300));

    const all = await run(['mirrors', ...url, '--all'], { env });
    expectExit(all, 0, 'mirrors --all');
    const ids = listed(all.stdout);
    console.log(`# --all: ${ids.length} listed, ${new Set(ids).size} distinct, of ${written.length} written`);
    assert.deepEqual([...ids].sort((a, b) => a - b), [...written].sort((a, b) => a - b), 'every parked event id, each once');
    assert.doesNotMatch(all.stdout, /not shown/);
    const allJson = JSON.parse((await run(['mirrors', ...url, '--all', '--json'], { env })).stdout);
    assert.equal(allJson.mirrors[0].parked.length, PARKED);
    assert.equal(allJson.nextCursor, null);
  } finally {
    await w.dispose();
    await forbidding.stop();
  }
});

test('across a restart with a new JWT_SECRET, tail resumes with the last event id and logs --follow carries on', async () => {
  const out = join(scratch, 'project', 'logs', 'cache.json');
  const fileRecords = () => readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const inFile = (eventId) => fileRecords().some((r) => r.msg === 'invalidate' && r.eventId === eventId);
  const seqBefore = fileRecords().at(-1).seq;
  // Logs in by itself from the environment, and again when the token is refused.
  const follower = start(['logs', ...u(), '--follow', '--out', out, '--interval', '0.5', '--max-seconds', '150'], {
    env: { XDG_CONFIG_HOME: freshConfig(), POLYCACHE_EMAIL: ADMIN.email, POLYCACHE_PASSWORD: ADMIN.password },
    timeoutMs: 170_000,
  });
  const tail = start(['tail', ...u(), '--count', '2', '--max-seconds', '150'], { timeoutMs: 170_000 });
  try {
    await waitUntil(() => /^following /m.test(tail.out().stderr), { timeoutMs: 20_000, what: 'tail connected' });
    const first = await invalidate(worker, adminToken, { type: 'posts', id: 'before-restart' });
    await waitUntil(() => tail.out().stdout.includes('before-restart'), { timeoutMs: 10_000, what: 'the first event printed' });
    await waitUntil(() => inFile(first.eventId), { timeoutMs: 20_000, what: 'the first event in the log file' });

    // Same port and state (the event log survives); a new JWT_SECRET refuses every old token.
    worker.vars.JWT_SECRET = 'test-secret-rotated-0123456789abcdef0123456789';
    await worker.restart();
    adminToken = await login(worker, ADMIN);
    const second = await invalidate(worker, adminToken, { type: 'posts', id: 'after-restart' });

    const res = await tail.done;
    expectExit(res, 0, 'tail across a restart');
    const printed = res.stdout.trim().split('\n');
    assert.equal(printed.length, 2, res.stdout);
    assert.match(printed[0], new RegExp(`^#${first.eventId} .* posts before-restart → posts, feed`));
    assert.match(printed[1], new RegExp(`^#${second.eventId} .* posts after-restart → posts, feed`));
    assert.match(res.stderr, /^stream dropped \(.+\); reconnecting in .+, to resume after event \d+$/m);
    assert.match(res.stderr, new RegExp(`^reconnected to .*/api/stream, replaying events after ${first.eventId}$`, 'm'));

    // The follower waited out the restart, logged in again, noticed that the
    // restarted Hub's log numbers from 1 again, and appended it.
    await waitUntil(() => inFile(second.eventId), { timeoutMs: 30_000, what: `the write after the restart in ${out}: ${follower.out().stderr}` });
    const notes = follower.out().stderr;
    assert.match(notes, /^cannot reach .*; retrying every 0\.5 s$/m);
    assert.match(notes, /refused the token; logged in again$/m);
    assert.match(notes, /cache log restarted/m);
    const records = fileRecords();
    const restartAt = records.findIndex((r, i) => i > 0 && r.seq <= records[i - 1].seq);
    assert.ok(restartAt > 0 && records[restartAt - 1].seq >= seqBefore, 'the new log follows the old one in the file');
    for (const part of [records.slice(0, restartAt), records.slice(restartAt)]) {
      part.forEach((r, i) => assert.ok(i === 0 || r.seq > part[i - 1].seq, `seq increases within each log: ${JSON.stringify(r)}`));
    }
  } finally {
    tail.child.kill('SIGINT');
    follower.child.kill('SIGINT');
    await Promise.all([tail.done, follower.done]);
  }
});

test('graph shows closures, draws DOT, and names the problem in a bad file (offline)', async () => {
  const table = await run(['graph']);
  expectExit(table, 0, 'graph');
  assert.match(table.stdout, /^types +— +types, posts, pages, categories, feed$/m);
  assert.match(table.stdout, /^pictures +— +pictures, posts, pages, feed$/m);
  assert.match(table.stdout, /^posts +categories, pictures +posts, feed$/m);

  const dot = await run(['graph', '--dot']);
  expectExit(dot, 0, 'graph --dot');
  assert.match(dot.stdout, /^digraph polycache \{$/m);
  assert.match(dot.stdout, /^ {2}"posts" -> "categories";$/m);
  assert.match(dot.stdout, /^ {2}"feed" -> "pages";$/m);
  assert.equal((dot.stdout.match(/" -> "/g) ?? []).length, 9);
  assert.match(dot.stdout, /^\}\n$/m);

  const json = await run(['graph', '--json']);
  expectExit(json, 0, 'graph --json');
  assert.deepEqual(JSON.parse(json.stdout).closures.posts, ['posts', 'feed']);

  const file = (name, text) => { const p = join(scratch, name); writeFileSync(p, text); return p; };
  const good = file('good.json', '{"post":["category"],"category":[],"feed":["posts"]}');
  const ok = await run(['graph', '--check', good]);
  expectExit(ok, 0, 'graph --check good');
  assert.match(ok.stdout, /good\.json: a valid dependency graph/);
  assert.match(ok.stdout, /^categories +— +categories, posts, feed$/m);
  const cases = [
    ['cycle.json', '{"posts":["categories"],"categories":["posts"]}', /cycle: (posts -> categories -> posts|categories -> posts -> categories)/],
    ['unknown.json', '{"posts":["kittens"]}', /unknown type "kittens" in the dependencies of "posts"/],
    ['malformed.json', '{"posts": [', /malformed JSON/],
    ['self.json', '{"posts":["post"]}', /posts depends on itself/],
  ];
  for (const [name, text, re] of cases) {
    const res = await run(['graph', '--check', file(name, text)]);
    expectOneLineError(res, 1, new RegExp(`^polycache: .*${name}: invalid dependency graph: ${re.source}.*; fix it before setting it as CACHE_DEPENDENCIES$`), name);
  }
  const missing = await run(['graph', '--check', join(scratch, 'nope.json')]);
  expectOneLineError(missing, 1, /cannot read .*nope\.json/, 'missing file');
});

test('hash-password makes an AUTH_USERS entry that logs in on a new instance', async () => {
  // From POLYCACHE_PASSWORD, with the default (maximum) iterations.
  const plain = await run(['hash-password'], { env: { POLYCACHE_PASSWORD: 'correct horse' } });
  expectExit(plain, 0, 'hash-password');
  const m = plain.stdout.match(/^pbkdf2_sha256\$100000\$([A-Za-z0-9]{22})\$([A-Za-z0-9+/]{43}=)\n$/);
  assert.ok(m, plain.stdout);
  const key = pbkdf2Sync('correct horse', m[1], 100000, 32, 'sha256').toString('base64');
  assert.equal(m[2], key, 'the key is PBKDF2-SHA256 of the password with the salt');
  const other = await run(['hash-password', '--json'], { env: { POLYCACHE_PASSWORD: 'correct horse' } });
  expectExit(other, 0, 'hash-password --json');
  assert.notEqual(JSON.parse(other.stdout).hash.split('$')[2], m[1], 'a new salt each time');

  // From stdin, as a whole entry; then that entry is the only account of a new instance.
  const email = 'new-admin@polycache.test';
  const password = 'a fresh password';
  const made = await run(['hash-password', '--email', email, '--role', 'admin', '--iterations', '1000'], { input: `${password}\n` });
  expectExit(made, 0, 'hash-password --email --role');
  const entry = JSON.parse(made.stdout);
  assert.deepEqual(Object.keys(entry).sort(), ['email', 'password', 'role']);
  assert.match(entry.password, /^pbkdf2_sha256\$1000\$/);

  const deps = '{"posts":["categories"],"categories":["types"],"feed":["posts"]}';
  const checked = JSON.parse((await run(['graph', '--check', '-', '--json'], { input: deps })).stdout);
  const fresh = new WorkerInstance({ name: 'cli-fresh', vars: { INSTANCE_ID: 'cli-b', AUTH_USERS: JSON.stringify([entry]), CACHE_DEPENDENCIES: deps } });
  try {
    await fresh.start();
    const config = freshConfig();
    const env = { XDG_CONFIG_HOME: config };
    const wrong = await run(['login', '--url', fresh.url, '--email', email], { env, input: 'not it\n' });
    expectExit(wrong, 1, 'login with another password');
    const res = await run(['login', '--url', fresh.url, '--email', email], { env, input: `${password}\n` });
    expectExit(res, 0, 'login with the hashed password');
    assert.match(res.stdout, /\(admin\)/);
    const mirrors = await run(['mirrors', '--url', fresh.url], { env });
    expectExit(mirrors, 0, 'mirrors on the new instance');
    assert.match(mirrors.stdout, /no mirrors: the Worker's CACHE_MIRRORS is empty/);
    // The graph that `graph --check` accepted is the one the Worker runs.
    const inv = await run(['invalidate', 'types', '--json', '--url', fresh.url], { env });
    expectExit(inv, 0, 'invalidate on the new instance');
    assert.deepEqual(JSON.parse(inv.stdout).types, checked.closures.types);
  } finally {
    await fresh.dispose();
  }
});
