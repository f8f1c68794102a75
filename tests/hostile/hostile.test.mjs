// The hostile-traffic tier: what a public deployment meets, as a bounded
// stream of random requests (methods, paths, ids, headers, tokens, bodies of
// every shape and size up to 4 MB, logins, streams, mirror deliveries, admin
// routes). Every answer must be a 2xx/3xx/4xx (a 5xx is a bug), every error
// the JSON error shape with its content-type, no request meant to be refused
// may be taken, and the Worker's log must show no panic. Afterwards a write,
// a read, a stream and a mirror delivery (to a second instance) still work,
// and no data changed.
//
// It runs against the built Worker in workerd without wrangler dev's proxy:
// the bench's runtime host (bench/lib/runtime-host.mjs: Miniflare with
// build/, local D1 with the migrations, KV, Durable Objects, wrangler.toml's
// vars plus ours, a socket straight to our Worker). Under `wrangler dev`,
// once workerd closed a connection whose upload was still arriving (a 413
// past 64 KiB, a client gone mid-body), the dev proxy (its ProxyWorker)
// answered other requests of the flood itself: text/plain 503s and 500s, GETs
// never answered, once wrangler died; the Worker's own log had the right
// status for them. Production has no such proxy, so its faults are not the
// deployment's, and the tier failed one run in two on them.
//
// The run is replayable: it prints its seed; POLYCACHE_HOSTILE_SEED=<seed>
// sends the same requests again (the order in which concurrent answers come
// back may differ). POLYCACHE_HOSTILE_REQUESTS changes the count (10,000).
// `make test` runs it as a tier of its own (scripts/test.sh).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, TEST_SECRETS } from '../common/harness.mjs';
import { ADMIN, EDITOR, SERVICE } from '../common/accounts.mjs';
import {
  login, read, post, status, expectStatus, eventIdOf, itemsOf, originSnapshot,
  decodeJwt, signJwt, unsignedJwt, nowSecs,
} from '../common/api.mjs';
import { connect } from '../common/sse.mjs';
import {
  CONCURRENCY, RuntimeInstance, watchCrashes, flood, problemOf as problemOfAnswer, describe as describeRequest, reportOf,
  ABSENT_IDS, BAD_IDS, METHODS, JSON_TYPES, OTHER_MEDIA, badBody, filler,
} from './flood.mjs';

const REQUESTS = Number(process.env.POLYCACHE_HOSTILE_REQUESTS ?? 10_000);
const SEED = Number(process.env.POLYCACHE_HOSTILE_SEED ?? Math.floor(Math.random() * 2 ** 32));
/** The whole flood must be done within this; it takes about a minute. */
const BUDGET_MS = 150_000;
/** The Worker's body limit (413 past it; README "Security"). */
const BODY_LIMIT = 64 * 1024;

const INSTANCE_ID = 'hostile-test';
// A receiver of this instance's mirror deliveries, for the check afterwards.
let receiver;
let worker;
const tokens = {};
/** Where the Worker's output goes, as it comes. */
const LOG_FILE = join(tmpdir(), `polycache-hostile-${SEED}-${process.pid}.log`);
/** The watch over the Worker's log: crashes, clients gone. */
let watch;
/** Whether every test passed: the log file is removed then. */
let passed = false;

before(async () => {
  const receiverPort = await freePort();
  receiver = new RuntimeInstance({ name: 'receiver', port: receiverPort, vars: { INSTANCE_ID: 'hostile-receiver' } });
  worker = new RuntimeInstance({
    name: 'hostile',
    vars: {
      INSTANCE_ID,
      CACHE_MIRRORS: `http://127.0.0.1:${receiverPort}`,
      MIRROR_RETRY_BASE_MS: '100',
      MIRROR_RETRY_CAP_MS: '500',
    },
  });
  await Promise.all([receiver.start(), worker.start()]);
  // The whole log goes to a file, kept when the run fails.
  watch = watchCrashes(worker.child, LOG_FILE);
  tokens.editor = await login(worker, EDITOR);
  tokens.service = await login(worker, SERVICE);
  tokens.admin = await login(worker, ADMIN);
  Object.assign(tokens, badTokens(tokens.editor));
});

after(async () => {
  await Promise.all([worker?.dispose(), receiver?.dispose()]);
  await watch?.close(!passed);
  if (!passed) console.log(`hostile: the Worker's whole log is in ${LOG_FILE}`);
});

/**
 * Tokens that must all be refused (401), made from a real editor token's
 * claims: every way a token can be wrong.
 */
function badTokens(editor) {
  const { payload } = decodeJwt(editor);
  const secret = TEST_SECRETS.JWT_SECRET;
  const admin = { ...payload, role: 'admin' };
  const [h, , sig] = editor.split('.');
  return {
    algNone: unsignedJwt(admin),
    wrongSecret: signJwt(admin, 'another-secret-0123456789abcdef0123456789'),
    expired: signJwt({ ...payload, iat: nowSecs() - 7200, exp: nowSecs() - 3600 }, secret),
    noExp: signJwt((({ exp, ...rest }) => rest)(payload), secret),
    hs512: signJwt(payload, secret, { alg: 'HS512', typ: 'JWT' }),
    tampered: `${h}.${Buffer.from(JSON.stringify(admin)).toString('base64url')}.${sig}`,
    // Issued a day from now: a token nobody issued yet.
    futureIat: signJwt({ ...payload, iat: nowSecs() + 86_400, exp: nowSecs() + 90_000 }, secret),
    // Signed with this deployment's secret for another deployment.
    otherAudience: signJwt({ ...payload, aud: 'another-deployment' }, secret),
    unknownRole: signJwt({ ...payload, role: 'root' }, secret),
    hugeExp: signJwt({ ...payload, exp: 1e300 }, secret),
    negativeIat: signJwt({ ...payload, iat: -1 }, secret),
    stringExp: signJwt({ ...payload, exp: String(payload.exp) }, secret),
    arrayPayload: signJwt([payload], secret),
    garbage: 'not.a.jwt',
    empty: '',
    long: `${h}.${'A'.repeat(20_000)}.${sig}`,
  };
}

// --- what the requests are made of -----------------------------------------------

const CONTENT = ['posts', 'pages', 'categories', 'pictures', 'translations', 'types'];
// Type names match in any case, by design.
const ALIASES = ['post', 'page', 'category', 'picture', 'translation', 'type', 'Posts', 'PAGES'];
const OTHER_TYPES = ['feed', 'auth', 'widgets', 'posts%00', 'posts%0A', 'p%6Fsts', '..', '.', '%2e%2e', 'posts;', 'posts%2F1', 'ポスト', '%F0%9F%92%A9', '%FF%FE', '%ZZ', '%', '__proto__', 'constructor'];
const EVENT_IDS = ['', '0', '1', '-1', '2', '999999999', '9007199254740993', '18446744073709551616', '1e3', '1.5', 'abc', ' 3', '3 ',
  '0x10', '-0', 'null', '\u00e9', '9'.repeat(2000), '1,2', '+1'];
const STREAM_TYPES = ['posts', 'posts,pages', 'feed', 'widgets', '', ',', ',,,,', 'posts,', 'POSTS', 'post', 'posts%0Adata:%20x', 'posts%00',
  Array(500).fill('posts').join(','), Array(50).fill('widgets').join(','), '%ZZ', 'auth', 'types,translations,pictures'];
/** A body as a client of the API would send it (these are taken when the token may write). */
function plausibleBody(r) {
  return JSON.stringify(r.pick([{ title: 'hostile' }, { title: 'hostile', body: 'b' }, { name: 'hostile' }, { body: 'x' }]));
}

/** A mirror delivery or manual purge that must be refused: each is wrong in one way. */
function badInvalidation(r) {
  const type = r.pick(CONTENT);
  // Numbers JSON.stringify cannot write (it makes 1e400 null, a valid "no eventId").
  if (r.chance(0.1)) return r.pick([`{"type":"${type}","origin":"elsewhere","eventId":1e400}`, `{"type":"${type}","origin":"elsewhere","eventId":18446744073709551616}`]);
  return JSON.stringify(r.pick([
    { type: 'widgets' },
    { type: `${type}\nevent: reset` },
    { type: `${type}\u0000` },
    { type: '' },
    { type: 5 },
    { type: null },
    {},
    { type, colour: 'red' },
    { type, action: 'explode' },
    { type, action: 5 },
    { type, id: { nested: true } },
    { type, id: [1, 2] },
    { type, id: true },
    { type, id: '' },
    { type, id: 'x'.repeat(129) },
    { type, id: 'a\nb' },
    { type, origin: INSTANCE_ID, eventId: 1 },
    { type, origin: INSTANCE_ID },
    { type, eventId: 5 },
    { type, origin: 'elsewhere', eventId: -1 },
    { type, origin: 'elsewhere', eventId: 1.5 },
    { type, origin: 'elsewhere', eventId: 'five' },
    { type, origin: '', eventId: 1 },
    { type, origin: 'x'.repeat(129), eventId: 1 },
    { type, origin: 'a\u0007b', eventId: 1 },
    { type, origin: 7, eventId: 1 },
    { type, mirror: 'yes' },
    { type, mirror: false, epoch: 'x', origin: 'elsewhere', eventId: 1, extra: 1 },
  ]));
}

/** A valid delivery, sent only with tokens that must be refused. */
function goodInvalidation(r) {
  return JSON.stringify({ type: r.pick(CONTENT), id: String(r.int(100)), origin: 'elsewhere', eventId: 1 + r.int(1000), mirror: false });
}

/** Tokens that must be refused whatever they ask. */
const REFUSED = ['algNone', 'wrongSecret', 'expired', 'noExp', 'hs512', 'tampered', 'futureIat', 'otherAudience',
  'unknownRole', 'hugeExp', 'negativeIat', 'stringExp', 'arrayPayload', 'garbage', 'empty', 'long'];

function authHeader(r, kind) {
  if (kind === 'none') return {};
  if (kind === 'basic') return { authorization: `Basic ${Buffer.from(`${EDITOR.email}:${EDITOR.password}`).toString('base64')}` };
  if (kind === 'oddScheme') return { authorization: r.pick(['Bearer', 'Bearer  ', 'Token x', 'bearer', `Bearer ${tokens.editor} extra`, 'Bearer\ttab']) };
  return { authorization: `Bearer ${tokens[kind]}` };
}

const refusedAuth = (r) => r.pick(['none', 'none', 'basic', 'oddScheme', ...REFUSED]);

function itemPath(r, type, id) { return `/api/${type}/${id}`; }

/**
 * One request: {method, path, headers, body, chunked, refuse, stream}.
 * `refuse`: it must be answered 4xx (an error) and change nothing.
 * The weights keep the slow paths (a login runs PBKDF2; a stream stays
 * open until closed) to a few percent of the run.
 */
function makeRequest(r, ids) {
  const type = () => r.pick(r.chance(0.8) ? CONTENT : ALIASES);
  const make = r.weighted([
    // Reads: lists, items that exist and that do not, ids of every shape.
    [20, () => ({ method: r.pick(['GET', 'GET', 'HEAD']), path: `/api/${type()}${r.chance(0.2) ? `?${r.pick(['x=1', 'a=%ZZ', 'q='.padEnd(3000, 'q'), 'id=1&id=2', '%00'])}` : ''}` })],
    [15, () => ({ method: 'GET', path: itemPath(r, type(), r.weighted([[3, r.pick(ids)], [3, r.pick(ABSENT_IDS)], [4, r.pick(BAD_IDS)]])) })],
    [3, () => ({ method: r.pick(['GET', 'HEAD']), path: r.pick(['/api/feed', '/api/health', '/api/status', '/api/feed?limit=-1']) })],
    // Writes with a token that must be refused: any body.
    [12, () => {
      const method = r.pick(['POST', 'PATCH', 'DELETE', 'PUT']);
      const path = method === 'POST' ? `/api/${type()}` : itemPath(r, type(), r.pick([...ids, ...ABSENT_IDS, ...BAD_IDS]));
      return { method, path, headers: authHeader(r, refusedAuth(r)), body: r.chance(0.5) ? plausibleBody(r) : badBody(r), contentType: r.pick(JSON_TYPES), refuse: true };
    }],
    // Writes with a service token (wrong role): refused.
    [4, () => ({ method: r.pick(['POST', 'PATCH', 'DELETE']), path: itemPath(r, type(), r.pick(ids)), headers: authHeader(r, 'service'), body: plausibleBody(r), contentType: 'application/json', refuse: true })],
    // Writes with a real editor token and a body no route takes, or to ids no row has.
    [14, () => {
      const method = r.pick(['POST', 'PATCH']);
      const path = method === 'POST' ? `/api/${type()}` : itemPath(r, type(), r.pick(ids));
      const media = r.chance(0.75) ? r.pick(JSON_TYPES) : r.pick(OTHER_MEDIA);
      return { method, path, headers: authHeader(r, 'editor'), body: badBody(r), contentType: media, refuse: true };
    }],
    [5, () => {
      const method = r.pick(['PATCH', 'DELETE']);
      return { method, path: itemPath(r, type(), r.pick([...ABSENT_IDS, ...BAD_IDS])), headers: authHeader(r, 'editor'), body: method === 'PATCH' ? plausibleBody(r) : undefined, contentType: 'application/json', refuse: true };
    }],
    // A right body of the wrong media type.
    [3, () => ({ method: 'POST', path: `/api/${type()}`, headers: authHeader(r, 'editor'), body: '{"title":"x"}', contentType: r.pick(OTHER_MEDIA), refuse: true })],
    // Bodies too big, sent at full speed: by content-length, or chunked (no length: only reading tells).
    [3, () => ({ method: r.pick(['POST', 'PATCH']), path: r.pick(['/api/posts', '/api/posts/1', '/api/auth/login', '/api/cache/invalidate']), headers: authHeader(r, r.pick(['editor', 'service', 'none'])),
      body: filler(r.pick([BODY_LIMIT + 1, 100_000, 1_000_000, 4_000_000])), contentType: 'application/json', chunked: r.chance(0.5), refuse: true, oversized: true })],
    // Mirror deliveries and purges: bad bodies with the service token, any body without a valid one.
    [6, () => ({ method: 'POST', path: '/api/cache/invalidate', headers: authHeader(r, r.pick(['service', 'admin'])), body: badInvalidation(r), contentType: r.chance(0.9) ? r.pick(JSON_TYPES) : r.pick(OTHER_MEDIA), refuse: true })],
    [3, () => ({ method: 'POST', path: '/api/cache/invalidate', headers: authHeader(r, r.pick(['editor', ...REFUSED, 'none'])), body: goodInvalidation(r), contentType: 'application/json', refuse: true })],
    // Logins: a few percent (PBKDF2), none with the right password.
    [3, () => ({ method: 'POST', path: '/api/auth/login', body: r.pick([
      JSON.stringify({ email: EDITOR.email, password: `wrong-${r.int(1000)}` }),
      JSON.stringify({ email: SERVICE.email, password: 'wrong' }),
      JSON.stringify({ email: `nobody${r.int(1000)}@polycache.test`, password: 'x' }),
      JSON.stringify({ email: EDITOR.email }),
      JSON.stringify({ email: 5, password: [] }),
      JSON.stringify({ email: 'x'.repeat(10_000), password: 'y'.repeat(10_000) }),
      JSON.stringify({ email: EDITOR.email.toUpperCase(), password: '' }),
      JSON.stringify({ email: `${EDITOR.email}\u0000`, password: EDITOR.password.slice(0, -1) }),
      badBody(r),
    ]), contentType: r.pick(JSON_TYPES), headers: r.chance(0.3) ? { 'cf-connecting-ip': r.pick(['1.2.3.4', '::1', 'garbage', '2001:db8::1', '', 'x'.repeat(500)]) } : {}, refuse: true })],
    // Streams with odd resumption ids and filters, read briefly and closed.
    [4, () => {
      const q = [];
      if (r.chance(0.5)) q.push(`types=${r.pick(STREAM_TYPES)}`);
      if (r.chance(0.3)) q.push(`lastEventId=${encodeURIComponent(r.pick(EVENT_IDS))}`);
      const headers = r.chance(0.5) ? { 'last-event-id': r.pick(EVENT_IDS) } : {};
      return { method: 'GET', path: `/api/stream${q.length ? `?${q.join('&')}` : ''}`, headers, stream: true };
    }],
    // Admin routes: refused tokens, and an admin's with odd queries.
    [4, () => ({ method: r.pick(['GET', 'POST']), path: r.pick(['/api/cache/mirrors', '/api/cache/mirrors/retry', '/api/cache/logs', '/api/cache/hub/reset']), headers: authHeader(r, r.pick(['editor', 'service', ...REFUSED, 'none'])), body: r.chance(0.5) ? '{}' : undefined, contentType: 'application/json', refuse: true })],
    [1, () => ({ method: 'POST', path: '/api/cache/hub/reset', headers: authHeader(r, 'admin'), refuse: true })],
    // A client that hangs up halfway through its body: no answer to check, only the log.
    [1, () => ({ method: r.pick(['POST', 'PATCH']), path: r.pick(['/api/posts', '/api/posts/1', '/api/auth/login', '/api/cache/invalidate']), headers: authHeader(r, r.pick(['editor', 'service', 'none'])),
      body: filler(r.pick([1000, 100_000])), contentType: 'application/json', chunked: true, hangUp: true })],
    [3, () => ({ method: 'GET', path: `/api/cache/${r.pick(['logs', 'mirrors'])}?${r.pick(['since=-1', 'since=abc', 'since=18446744073709551616', 'limit=0', 'limit=-5', 'limit=1000000000', 'since=0&limit=1', 'since=1e3', 'since=&limit=', 'limit=9007199254740993', ''])}`, headers: authHeader(r, 'admin') })],
    // Unknown routes, odd methods, long and percent-encoded paths.
    [6, () => {
      const method = r.pick(METHODS);
      const path = r.pick([`/api/${r.pick(OTHER_TYPES)}`, `/api/${r.pick(OTHER_TYPES)}/1`, '/', '/index.html', '/api', '/api/', '//api//posts', '/api/posts/1/2', '/api/cache', '/api/cache/hub', '/api/auth', '/api/auth/logout', '/API/posts', `/api/${'a'.repeat(r.pick([100, 2000, 8000]))}`, `/api/posts/${'%41'.repeat(1000)}`, '/api/%2e%2e/%2e%2e/etc/passwd', '/api/posts/%2F..%2F1']);
      // `feed` is among the odd names, but GET /api/feed is the feed itself.
      const feed = path === '/api/feed' && ['GET', 'HEAD'].includes(method);
      return { method, path, refuse: !feed };
    }],
    [4, () => ({ method: r.pick(['OPTIONS', 'TRACE', 'PUT', 'PATCH', 'DELETE']), path: r.pick(['/api/health', '/api/status', '/api/feed', '/api/stream', '/api/auth/login', '/api/cache/invalidate', `/api/${type()}`]), refuse: true })],
  ]);
  const req = { headers: {}, ...make() };
  // Any body over the limit (a bad body of 70 KiB too) is refused before it is all read.
  if (req.body !== undefined && Buffer.byteLength(req.body) > BODY_LIMIT) req.oversized = true;
  // A request line carries no spaces or characters past ASCII: those go percent-encoded, as a client sends them.
  req.path = req.path.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));
  // Headers of every kind on any request: long, many, odd.
  if (r.chance(0.08)) req.headers[`x-${r.pick(['long', 'junk', 'polycache-edge', 'forwarded-for'])}`] = 'v'.repeat(r.pick([100, 4000, 12_000]));
  if (r.chance(0.03)) for (let i = 0; i < 60; i++) req.headers[`x-many-${i}`] = String(i);
  if (r.chance(0.05)) req.headers.accept = r.pick(['*/*', 'text/html', 'text/event-stream', '', 'application/json;q=0']);
  if (r.chance(0.03)) req.headers['x-polycache-edge'] = r.pick(['edge:default:0', 'edge:apac:9', '../hub', '']);
  // The same header twice: the Worker sees the values joined by a comma.
  if (r.chance(0.03)) req.headers[r.pick(['authorization', 'last-event-id', 'content-length-like'])] = [r.pick(['Bearer x', '5']), r.pick(['Bearer y', '7'])];
  if (r.chance(0.03) && req.contentType !== undefined) req.contentType = ['application/json', r.pick(['text/plain', 'application/json'])];
  if (r.chance(0.02)) req.headers.expect = '100-continue';
  // A GET with a body.
  if (r.chance(0.02) && req.method === 'GET' && !req.stream) Object.assign(req, { body: '{"title":"x"}', contentType: 'application/json' });
  return req;
}

// --- checking ------------------------------------------------------------------

/**
 * Whether the Worker's API answers this path: /api/*. Other paths (after
 * the URL's normalisation: `/api/..` is `/`) are the demo page's static
 * assets (wrangler.toml, [assets]), which a deployment's platform answers
 * before the Worker, its errors not ours to shape; the runtime host serves
 * no asset and hands them to the Worker. Only their status is checked.
 */
const isApi = (path) => new URL(path, 'http://127.0.0.1').pathname.startsWith('/api/');

/** What is wrong with this answer to this request, or null: only /api/* answers are the Worker's to shape. */
const problemOf = (req, res) => problemOfAnswer(req, res, (q) => isApi(q.path));

/** The request in a line, the tokens by the names this run gave them. */
const describe = (req) => describeRequest(req, (auth) => Object.entries(tokens).find(([, t]) => auth === `Bearer ${t}`)?.[0]);

// --- the tier -------------------------------------------------------------------

let beforeFlood;
let afterFlood;
let lastEventIdBefore;
let result;
let flooded = false;
let unchanged = false;

test(`${REQUESTS} hostile requests: no 5xx, every error a JSON error, nothing refused is taken, no panic`, { timeout: BUDGET_MS + 120_000 }, async () => {
  beforeFlood = await originSnapshot(worker, tokens.service);
  lastEventIdBefore = (await status(worker)).lastEventId;
  const ids = itemsOf(beforeFlood['/api/posts']).map((p) => String(p.id));
  assert.ok(ids.length > 0, 'the demo data has posts');

  console.log(`hostile: seed ${SEED} (replay with POLYCACHE_HOSTILE_SEED=${SEED}), ${REQUESTS} requests, ${CONCURRENCY} at a time`);
  result = await flood({ url: worker.url, count: REQUESTS, seed: SEED, budgetMs: BUDGET_MS, makeRequest: (r) => makeRequest(r, ids), problemOf, describe });
  const { sent, ms, statuses, problems } = result;
  console.log(`hostile: ${sent} requests in ${(ms / 1000).toFixed(1)} s (${Math.round(sent / (ms / 1000))}/s); statuses ${JSON.stringify(statuses)}`);
  const report = reportOf(problems);
  if (report.length) console.log(`hostile: problems (seed ${SEED}):\n  ${report.join('\n  ')}`);
  console.log(`# hostile: ${watch.clientsGone} "Network connection lost" lines (streams whose client had gone)`);
  if (watch.crashes.length) console.log(`hostile: crashes in the Worker's log:\n  ${watch.crashes.join('\n  ')}`);

  assert.equal(sent, REQUESTS, `all ${REQUESTS} requests sent within ${BUDGET_MS} ms`);
  assert.deepEqual(report, [], `${report.length} kinds of wrong answers (seed ${SEED})`);
  assert.deepEqual(watch.crashes, [], `the Worker's log shows a crash (seed ${SEED})`);
  flooded = true;
});

test('the refused requests made no event and changed no data (every list and the feed, read from D1)', { timeout: 60_000 }, async () => {
  assert.ok(result, 'the flood ran');
  assert.equal((await status(worker)).lastEventId, lastEventIdBefore, 'no refused request made an event');
  afterFlood = await originSnapshot(worker, tokens.service);
  assert.deepEqual(afterFlood, beforeFlood);
  unchanged = true;
});

test('afterwards a write, a read, a stream and a mirror delivery still work', { timeout: 60_000 }, async () => {
  assert.ok(result, 'the flood ran');
  const here = await connect(`${worker.url}/api/stream`);
  const there = await connect(`${receiver.url}/api/stream`);
  try {
    // A create: it works whatever rows a wrongly taken request may have removed.
    const title = `after the flood ${SEED}`;
    const res = await post(worker, '/api/posts', { title, body: 'written after the hostile requests' }, { token: tokens.editor });
    const created = expectStatus(res, 201, 'POST after the flood');
    const eventId = eventIdOf(res);
    await here.waitForId(eventId, 10_000);
    assert.equal((await read(worker, `/api/posts/${created.id}`)).json.title, title, 'the read sees the write');
    const mirrored = await there.waitFor((e) => e.type === 'app-update' && e.json?.origin === INSTANCE_ID && e.json?.entityId === String(created.id), 20_000, 'the write mirrored to the receiver');
    assert.deepEqual([...mirrored.json.types].sort(), ['feed', 'posts']);
  } finally {
    here.close();
    there.close();
  }
  console.log(`# hostile: ${watch.clientsGone} "Network connection lost" lines in all (streams whose client had gone)`);
  assert.deepEqual(watch.crashes, [], 'the Worker\'s log shows no crash');
  passed = flooded && unchanged;
});
