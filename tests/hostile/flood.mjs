// What both parts of the hostile-traffic tier share (hostile.test.mjs: D1
// mode; origin.test.mjs: origin mode): the runtime host they flood, the
// watch over its log for crashes, a seeded PRNG, the junk requests are made
// of, sending one request as a hostile client does, what is wrong with an
// answer, and the flood itself (CONCURRENCY requests at a time within a
// time budget, with its statuses and problems). Each part brings its own
// requests and its own view of which answers are polycache's.
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, freePort, TEST_SECRETS } from '../common/harness.mjs';
import { NodeChild } from '../../bench/lib/systems.mjs';

/** Requests in flight at once: enough to overlap, few enough for a 2-core machine. */
export const CONCURRENCY = 12;
/** How long one request may take before it counts as a hang. */
export const REQUEST_TIMEOUT_MS = 20_000;
/** How long a stream is read before it is closed: long enough for its first bytes. */
const STREAM_READ_MS = 300;
/**
 * How a request whose body is over the limit may end besides a 413: the
 * Worker answers 413 without reading the rest, and workerd closes the
 * connection under the client while it is still sending, as any server does
 * with an upload it refuses; the client may then see the reset before the
 * 413. Counted apart ("upload cut").
 */
export const CUT_UPLOAD = /ECONNRESET|EPIPE|aborted|socket hang up/;
/** Problems kept per kind, as examples for the report. */
const EXAMPLES_PER_KIND = 3;

// --- the runtime host and its log -------------------------------------------------

/**
 * Lines of the runtime's output that mean the Worker crashed or failed
 * unexpectedly: a Rust panic (console_error_panic_hook prints "panicked
 * at"), a wasm trap, an uncaught JS error (workerd's "Uncaught exception",
 * or with --verbose "Uncaught (in promise)"), an internal error logged by
 * src/error.rs, or an error banner.
 */
const CRASH = /panicked at|RuntimeError|unreachable executed|Uncaught|internal error:|\[ERROR\]|✘/;

/**
 * The one uncaught error that is not a crash: workerd reports "Network
 * connection lost." without a stack (none of our JavaScript is on it) when
 * it moves a stream's bytes to a client that is gone, once per such stream.
 * The flood cuts streams, and they stay registered until a write (or the
 * next heartbeat) finds them gone; a write to all of them then logs one line
 * each (with --verbose: "info: uncaught exception; source = Uncaught (in
 * promise); stack = Error: Network connection lost.", no frame after it).
 * Counted and printed apart; any other uncaught error fails the run.
 */
const CLIENT_GONE = /Uncaught(?: \(in promise\); stack =)? Error: Network connection lost\.?\s*$/;
/** A line without its terminal colours, should any come. */
const plain = (line) => line.replace(/\x1b\[[0-9;]*m/g, '');

/** Calls onLine for every complete line written to the child's stdout and stderr from now on. */
function watchLines(child, onLine) {
  for (const stream of [child.stdout, child.stderr]) {
    let carry = '';
    stream.on('data', (d) => {
      const lines = (carry + d).split('\n');
      carry = lines.pop().slice(-10_000);
      for (const line of lines) onLine(line);
    });
  }
}

/**
 * Watches a runtime's output from now on: every line goes to `file` (the
 * host keeps only its last 20 KB), each crash is kept with the lines before
 * it (at most 20), and streams whose client had gone are counted.
 * close(keep): ends the file, and removes it unless `keep`.
 */
export function watchCrashes(child, file) {
  const watch = { crashes: [], clientsGone: 0, file };
  const recent = [];
  const log = createWriteStream(file);
  watchLines(child, (line) => {
    log.write(`${line}\n`);
    if (CLIENT_GONE.test(plain(line))) watch.clientsGone += 1;
    else if (CRASH.test(line) && watch.crashes.length < 20) watch.crashes.push([...recent, `>>> ${line}`].join('\n    ').slice(0, 3000));
    recent.push(line.slice(0, 300));
    if (recent.length > 6) recent.shift();
  });
  watch.close = async (keep) => {
    await new Promise((resolve) => log.end(resolve));
    if (!keep) rmSync(file, { force: true });
  };
  return watch;
}

/**
 * The bench's runtime host (bench/lib/runtime-host.mjs) with a new state
 * directory and the test secrets, in the shape the tier needs: url, the
 * child's output (`child`), dispose().
 */
export class RuntimeInstance {
  constructor({ name, port, vars }) {
    this.name = name;
    this.port = port;
    this.vars = { ...TEST_SECRETS, ...vars };
    this.stateDir = mkdtempSync(join(tmpdir(), 'polycache-hostile-state-'));
    this.host = null;
  }

  get url() { return `http://127.0.0.1:${this.port}`; }

  get child() { return this.host?.child; }

  async start() {
    this.port ??= await freePort();
    // --verbose: workerd then logs an uncaught rejection too, which the crash check reads.
    this.host = new NodeChild(this.name, join(ROOT, 'bench/lib/runtime-host.mjs'),
      ['--port', String(this.port), '--state', this.stateDir, '--vars', JSON.stringify(this.vars), '--migrate', '--verbose']);
    await this.host.start();
    return this;
  }

  async dispose() {
    await this.host?.stop();
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

// --- a seeded PRNG ------------------------------------------------------------
// mulberry32: a few lines, seeded by one 32-bit number that the run prints.
// A property-testing library (fast-check) would bring shrinking and its own
// runner, neither of which fits a concurrent stream of requests replayed
// from one printed seed.

export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const pick = (list) => list[int(list.length)];
  const chance = (p) => next() < p;
  /** One of [weight, value] pairs, by weight. */
  const weighted = (pairs) => {
    let r = next() * pairs.reduce((s, [w]) => s + w, 0);
    for (const [w, v] of pairs) { r -= w; if (r < 0) return v; }
    return pairs[pairs.length - 1][1];
  };
  return { next, int, pick, chance, weighted };
}

// --- what the requests are made of -----------------------------------------------

// Ids no row has (or that are no id at all): 2^53 + 1 rounds to 2^53 in a double.
export const ABSENT_IDS = ['987654', '2147483648', '4294967297', '9007199254740992', '9007199254740993', '9007199254740995',
  '9223372036854775807', '9223372036854775808', '18446744073709551616', '99999999999999999999999999'];
export const BAD_IDS = ['0', '-1', '-0', '1.5', '1e3', '0x10', '+1', ' 1', '1 ', '%201', '1%0A', '%00', 'abc', 'null', 'NaN', 'Infinity',
  '-9223372036854775808', '%EF%BC%91', '%31', '1%2F2', '1;drop', "1'", '1%22', `${'9'.repeat(5000)}`, '٣', '%E2%80%8B1'];
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'];
export const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', ' application/json ', 'application/json;;;'];
export const OTHER_MEDIA = [undefined, '', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
  'application/jsonx', 'text/json', 'application/json-patch+json', 'application/*', '*/*', 'json', '\u00e9'];

/** Bodies that no route may take, whatever the token: not JSON, not an object, or of the wrong shape. */
export function badBody(r) {
  return r.weighted([
    [4, () => '{"title": '],
    [2, () => 'not json'],
    [2, () => ''],
    [2, () => 'null'],
    [2, () => '[]'],
    [2, () => '"a string"'],
    [2, () => '123'],
    [2, () => '{"title": 5}'],
    [2, () => '{"colour": "red"}'],
    [2, () => '{"title": "x", "colour": "red"}'],
    [2, () => '{"title": "x", "categoryId": "abc"}'],
    [2, () => '{"title": "x", "categoryId": 1e400}'],
    [2, () => '{"title": "x", "categoryId": 9007199254740993}'],
    [2, () => '{"title": "x", "categoryId": -1}'],
    [2, () => '{"title": "x", "id": 1}'],
    [1, () => '\ufeff{"title": "x"}'],
    [1, () => '{"title": "x",}'],
    [1, () => '{"title": "x"} trailing'],
    [1, () => '{"title": "\\ud800"}'],
    [1, () => Buffer.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
    [1, () => `{"title": ${'['.repeat(5000)}${']'.repeat(5000)}}`],
    [1, () => `{"title": "x", ${Array.from({ length: 2000 }, (_, i) => `"k${i}": ${i}`).join(', ')}}`],
    [1, () => '{"title": "x", "title": 7}'],
    [1, () => '{"__proto__": {"title": "x"}}'],
    [1, () => JSON.stringify({ title: 'x'.repeat(70 * 1024) })],
  ])();
}

/** A body of `bytes` bytes, big or small, mostly filler. */
export function filler(bytes) {
  const head = '{"title": "';
  return `${head}${'x'.repeat(Math.max(0, bytes - head.length - 2))}"}`;
}

// --- sending ------------------------------------------------------------------

/**
 * Sends one request over node:http, which leaves paths, methods and headers
 * as given (fetch would normalise them) and sends a body without
 * content-length as chunked. A stream is read for STREAM_READ_MS, then cut.
 * Resolves with {status, headers, text} or {error}.
 */
export function send(base, agent, req) {
  return new Promise((resolve) => {
    const headers = { ...req.headers };
    if (req.contentType !== undefined && req.body !== undefined) headers['content-type'] = req.contentType;
    const body = req.body === undefined ? undefined : Buffer.from(req.body);
    if (body && !req.chunked) headers['content-length'] = String(body.length);
    // Named, not left to node:http, which sends a DELETE's, OPTIONS' or
    // TRACE's body with neither framing header: the server then reads those
    // bytes as the next request on the connection.
    if (body && req.chunked) headers['transfer-encoding'] = 'chunked';
    let settled = false;
    let timer;
    let answered = 0; // the status, once the answer's head came
    const done = (v) => { if (!settled) { settled = true; clearTimeout(timer); resolve(v); } };
    // A body the Worker refuses before reading it all goes on a connection of
    // its own, which the server closes after its 413: on a shared keep-alive
    // socket that close would reset whichever request came next on it.
    const own = req.oversized || req.hangUp;
    const out = httpRequest({ host: base.hostname, port: base.port, method: req.method, path: req.path, headers, agent: own ? false : agent }, (res) => {
      answered = res.statusCode;
      const chunks = [];
      let size = 0;
      const finish = () => done({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
      res.on('data', (c) => { if (size < 64 * 1024) { chunks.push(c); size += c.length; } });
      res.on('end', finish);
      res.on('error', (e) => done({ error: `reading the answer: ${e.message}` }));
      // A stream never ends: take what arrived, then hang up as a client
      // would. By its content-type too: a GET of /api/stream that the
      // generator made as one of polycache's paths opens a stream as well.
      const eventStream = /^text\/event-stream/.test(res.headers['content-type'] ?? '');
      if ((req.stream || eventStream) && res.statusCode === 200) {
        setTimeout(() => { finish(); res.destroy(); out.destroy(); }, STREAM_READ_MS);
      }
    });
    out.on('error', (e) => done({ error: e.message }));
    timer = setTimeout(() => {
      out.destroy();
      done({ error: answered ? `the answer did not end within ${REQUEST_TIMEOUT_MS} ms (status ${answered})` : `no answer within ${REQUEST_TIMEOUT_MS} ms` });
    }, REQUEST_TIMEOUT_MS);
    if (req.hangUp) {
      // Half the body, then gone: the Worker reads a body that never ends.
      out.write(body.subarray(0, body.length >> 1), () => setTimeout(() => { out.destroy(); done({ hungUp: true }); }, 50));
    } else if (body && req.chunked) {
      for (let at = 0; at < body.length; at += 16_384) out.write(body.subarray(at, at + 16_384));
      out.end();
    } else {
      out.end(body);
    }
  });
}

/**
 * What is wrong with this answer to this request, or null. `ours(req, res)`:
 * whether the answer is polycache's own, whose errors must be its JSON error
 * shape (other answers are the platform's or the origin's: only their
 * status is checked here).
 */
export function problemOf(req, res, ours) {
  if (res.hungUp) return null;
  if (res.error && req.oversized && CUT_UPLOAD.test(res.error)) return null;
  if (res.error) return `no answer: ${res.error}`;
  if (res.status >= 500) return `${res.status}`;
  if (!ours(req, res)) return null;
  const type = res.headers['content-type'] ?? '';
  if (res.status >= 400) {
    if (!/^application\/json/.test(type)) return `${res.status} with content-type ${JSON.stringify(type)}`;
    if (req.method === 'HEAD') return null;
    let json;
    try { json = JSON.parse(res.text); } catch { return `${res.status} with a body that is not JSON`; }
    const e = json?.error;
    if (typeof e?.code !== 'string' || typeof e?.message !== 'string' || !e.message) return `${res.status} without {"error":{code,message}}`;
    return null;
  }
  if (req.refuse) return `taken (${res.status}) though it must be refused`;
  if (req.stream && res.status === 200 && !/^text\/event-stream/.test(type)) return `stream with content-type ${JSON.stringify(type)}`;
  return null;
}

/**
 * The request in a line: method, path and the parts that matter, shortened.
 * `nameOf(authorization)`: the name of a token the run made, or undefined.
 */
export function describe(req, nameOf = () => undefined) {
  const cut = (s, n = 160) => (s.length > n ? `${s.slice(0, n)}... (${s.length} chars)` : s);
  const parts = [`${req.method} ${cut(req.path)}`];
  const auth = req.headers.authorization;
  if (auth) parts.push(`auth: ${nameOf(auth) ?? cut(String(auth), 40)}`);
  if (req.headers['last-event-id'] !== undefined) parts.push(`last-event-id: ${cut(String(req.headers['last-event-id']), 40)}`);
  for (const name of req.shown ?? []) if (req.headers[name] !== undefined) parts.push(`${name}: ${cut(JSON.stringify(req.headers[name]), 80)}`);
  if (req.contentType !== undefined && req.body !== undefined) parts.push(`content-type: ${JSON.stringify(req.contentType)}`);
  if (req.body !== undefined) parts.push(`${req.chunked ? 'chunked ' : ''}body: ${cut(Buffer.from(req.body).toString('utf8'), 120)}`);
  return parts.join(', ');
}

/** Adds one problem to `problems` (kind -> {count, examples}). */
export function noteProblem(problems, kind, example) {
  const entry = problems.get(kind) ?? { count: 0, examples: [] };
  entry.count += 1;
  if (entry.examples.length < EXAMPLES_PER_KIND) entry.examples.push(example);
  problems.set(kind, entry);
}

/** The problems as report lines, one per kind with its examples. */
export function reportOf(problems) {
  return [...problems].map(([kind, { count, examples }]) => `${count} x ${kind}\n    ${examples.join('\n    ')}`);
}

/**
 * Sends `count` requests made by `makeRequest(r)`, CONCURRENCY at a time,
 * within `budgetMs`; each answer goes through `problemOf(req, res)` (a
 * problem or null) and `onAnswer(req, res)`. Returns {sent, ms, statuses
 * (status -> count), problems (kind -> {count, examples})}.
 */
export async function flood({ url, count, seed, budgetMs, makeRequest, problemOf: problemOfAnswer, describe: describeReq = describe, onAnswer = () => {} }) {
  const r = prng(seed);
  const base = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const statuses = {};
  const problems = new Map();
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < count && performance.now() - started < budgetMs) {
      next += 1;
      const req = makeRequest(r);
      const res = await send(base, agent, req);
      const key = res.hungUp ? 'hung up' : res.error && req.oversized && CUT_UPLOAD.test(res.error) ? 'upload cut'
        : res.error ? 'no answer' : String(res.status);
      statuses[key] = (statuses[key] ?? 0) + 1;
      onAnswer(req, res);
      const problem = problemOfAnswer(req, res);
      if (!problem) continue;
      const kind = `${problem} on ${req.method} ${req.path.split('?')[0].replace(/\/[^/]*$/, (m) => (/^\/[0-9]/.test(m) ? '/:id' : m)).slice(0, 60)}`;
      noteProblem(problems, kind, `${describeReq(req)} -> ${res.error ?? `${res.status} ${(res.text ?? '').slice(0, 200)}`}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } finally {
    agent.destroy();
  }
  return { sent: next, ms: performance.now() - started, statuses, problems };
}
