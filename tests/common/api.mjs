// Helpers for talking to a test instance: JSON requests with a token, login,
// the status route, bounded polling, and hand-made JWTs for the tests of
// forged, expired and unsigned tokens.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long any single request of a test may take. */
export const REQUEST_TIMEOUT_MS = 10_000;

/**
 * One request. `body`: an object is sent as JSON (content-type
 * application/json unless headers say otherwise), a string or Buffer as is.
 * Returns {status, headers, text, json, ms} (json undefined when the body is
 * not JSON); never throws on an HTTP status.
 */
export async function request(worker, method, path, { token, body, headers = {}, timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
  const h = { ...headers };
  let payload;
  if (body !== undefined) {
    if (typeof body === 'string' || body instanceof Uint8Array) {
      payload = body;
    } else {
      payload = JSON.stringify(body);
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
    }
  }
  if (token) h.authorization = `Bearer ${token}`;
  const started = performance.now();
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(`${worker.url}${path}`, { method, headers: h, body: payload, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    if (res.status === 503 && PROXY_CUT.test(text) && attempt <= PROXY_CUT_RETRIES) {
      proxyCuts.count++;
      continue;
    }
    const ms = performance.now() - started;
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    return { status: res.status, headers: res.headers, text, json, ms };
  }
}

/**
 * The answer of `wrangler dev`'s proxy (its ProxyWorker, in front of the
 * Worker) when its own request to the Worker fails on the network, mostly a
 * pooled connection that workerd had just closed: plain text, where every
 * error of the Worker is JSON. Despite its words nothing restarts (the
 * proxy compares the Worker's address and path with the address alone, so
 * every failed request to a path other than `/` gets it). In every case we
 * traced, the Worker had not taken the request, or had refused it (a body
 * over the limit). Production has no such proxy. `request` sends
 * such a request again, at most PROXY_CUT_RETRIES times, and counts it in
 * `proxyCuts.count`; any other answer, and a third cut in a row, is the
 * test's to judge.
 */
export const PROXY_CUT = /^Your worker restarted mid-request\./;
const PROXY_CUT_RETRIES = 2;
/** How many requests this process sent again after PROXY_CUT. */
export const proxyCuts = { count: 0 };

export const get = (worker, path, opts) => request(worker, 'GET', path, opts);
export const post = (worker, path, body, opts = {}) => request(worker, 'POST', path, { ...opts, body });
export const patch = (worker, path, body, opts = {}) => request(worker, 'PATCH', path, { ...opts, body });
export const del = (worker, path, opts) => request(worker, 'DELETE', path, opts);

/** A short description of a response for assertion messages. */
export function show(res) {
  return `${res.status} ${res.text.slice(0, 400)}`;
}

/** Asserts the status and returns the parsed JSON body. */
export function expectStatus(res, status, what = '') {
  assert.equal(res.status, status, `${what} expected ${status}, got ${show(res)}`);
  return res.json;
}

/** Asserts a JSON error {"error":{"code","message"}} with this status (and code, if given). */
export function expectError(res, status, code, what = '') {
  const statuses = Array.isArray(status) ? status : [status];
  assert.ok(statuses.includes(res.status), `${what}: expected ${statuses.join('|')}, got ${show(res)}`);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/, `${what}: content-type of the error`);
  assert.ok(res.json && typeof res.json.error === 'object', `${what}: body is not {"error":{...}}: ${res.text.slice(0, 300)}`);
  assert.equal(typeof res.json.error.code, 'string', `${what}: error.code`);
  assert.equal(typeof res.json.error.message, 'string', `${what}: error.message`);
  assert.ok(res.json.error.message.length > 0, `${what}: empty error.message`);
  if (code) assert.equal(res.json.error.code, code, `${what}: error.code`);
  return res.json.error;
}

/** POST /api/auth/login; returns the whole response. */
export function loginRequest(worker, { email, password }, opts = {}) {
  return post(worker, '/api/auth/login', { email, password }, opts);
}

/** Logs in and returns the token (asserting 200 {token, expiresAt}). */
export async function login(worker, creds) {
  const res = await loginRequest(worker, creds);
  const body = expectStatus(res, 200, `login of ${creds.email}`);
  assert.equal(typeof body.token, 'string', 'login: token');
  return body.token;
}

/** GET /api/status as JSON. */
export async function status(worker) {
  return expectStatus(await get(worker, '/api/status'), 200, 'GET /api/status');
}

/**
 * Polls check() (sync or async) every intervalMs until it returns a truthy
 * value, which is returned; fails after timeoutMs with the last value seen.
 */
export async function waitUntil(check, { timeoutMs = 10_000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() >= deadline) throw new Error(`${what} not reached within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    await sleep(intervalMs);
  }
}

/** The x-invalidation-event header of a write, as a number (asserting it is one). */
export function eventIdOf(res) {
  const raw = res.headers.get('x-invalidation-event');
  assert.match(raw ?? '', /^[0-9]+$/, `x-invalidation-event header of ${show(res)}`);
  return Number(raw);
}

// --- JWTs made by hand ---------------------------------------------------

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** The decoded header and payload of a JWT (no verification). */
export function decodeJwt(token) {
  const [h, p] = token.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url')), payload: JSON.parse(Buffer.from(p, 'base64url')) };
}

/** An HS256 JWT of this payload signed with this secret (header overridable; alg HS384/HS512 sign accordingly). */
export function signJwt(payload, secret, header = { alg: 'HS256', typ: 'JWT' }) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const hash = { HS384: 'sha384', HS512: 'sha512' }[header.alg] ?? 'sha256';
  const sig = createHmac(hash, secret).update(input).digest();
  return `${input}.${b64url(sig)}`;
}

/** An unsigned JWT: header {alg: "none"} and an empty signature. */
export function unsignedJwt(payload) {
  return `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify(payload))}.`;
}

/** Seconds since the epoch. */
export const nowSecs = () => Math.floor(Date.now() / 1000);

// --- content and invalidation ---------------------------------------------

/** The entities of a list response: a JSON array, or {items: [...]}. */
export function itemsOf(json) {
  if (Array.isArray(json)) return json;
  if (json && Array.isArray(json.items)) return json.items;
  throw new assert.AssertionError({ message: `not a list: ${JSON.stringify(json)?.slice(0, 300)}` });
}

/** GET that asserts 200 and returns {json, cache (x-cache), res}. */
export async function read(worker, path) {
  const res = await get(worker, path);
  assert.equal(res.status, 200, `GET ${path}: ${show(res)}`);
  return { json: res.json, cache: res.headers.get('x-cache'), res };
}

/** POST /api/cache/invalidate with this token; asserts 200 and returns the body. */
export async function invalidate(worker, token, body) {
  const res = await post(worker, '/api/cache/invalidate', body, { token });
  const json = expectStatus(res, 200, `invalidate ${JSON.stringify(body)}`);
  assert.equal(json.ok, true, `invalidate ok: ${res.text}`);
  assert.equal(typeof json.eventId, 'number', `invalidate eventId: ${res.text}`);
  return json;
}

/** Sorted copy of a list of strings, for set comparisons. */
export const sorted = (list) => [...list].sort();

// --- requests sent at the same moment --------------------------------------

/**
 * Sends several requests at the same moment: all of them pipelined on one
 * HTTP/1.1 connection, in a single write, so that they leave within a
 * fraction of a millisecond (fetch() spends a few ms setting up each call,
 * which on a loaded machine spreads 50 of them over 100 ms; 50 sockets
 * written in a loop can be preempted halfway). The server still answers
 * them one after the other, in order.
 * `connections` > 1 spreads the requests over that many connections (the
 * i-th request on connection i % connections), all opened first and then
 * written one after the other, each in a single write: the way to have the
 * server work on them concurrently (a stampede), since it answers the
 * requests of one connection one at a time.
 * `requests`: [{method, path, token?, body?, headers?}] (body sent as JSON,
 * headers an object of extra request headers). Resolves with
 * {sentMs, responses: [{status, text, headers, ms}]} (text: the body, headers:
 * an object with lower-case names, ms: when it was in, from the start of
 * sending; responses in the order of `requests`)
 * once every response is in; rejects after timeoutMs or if a connection
 * ends early.
 */
export async function sendAtOnce(worker, requests, { timeoutMs = 30_000, connections = 1 } = {}) {
  const { connect } = await import('node:net');
  const { port, hostname } = new URL(worker.url);
  const count = Math.max(1, Math.min(connections, requests.length));
  const groups = Array.from({ length: count }, () => []);
  requests.forEach((r, i) => groups[i % count].push(i));
  const sockets = groups.map(() => connect({ host: hostname, port: Number(port) }));
  const out = new Array(requests.length);
  const timer = setTimeout(() => {
    const got = out.filter(Boolean).length;
    for (const s of sockets) s.destroy(new Error(`${requests.length - got} of ${requests.length} responses not in within ${timeoutMs} ms`));
  }, timeoutMs);
  try {
    await Promise.all(sockets.map((socket) => new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    })));
    const wires = groups.map((group) => Buffer.concat(group.map((index, i) => {
      const { method, path, token, body, headers = {} } = requests[index];
      const payload = body === undefined ? '' : JSON.stringify(body);
      const last = i === group.length - 1;
      const head = [`${method} ${path} HTTP/1.1`, `host: ${hostname}:${port}`, ...(last ? ['connection: close'] : []),
        ...(token ? [`authorization: Bearer ${token}`] : []),
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
        // No content-length on a request without a body (a GET): with one,
        // workerd gives the request an empty body.
        ...(body === undefined && method === 'GET' ? [] : [`content-length: ${Buffer.byteLength(payload)}`]),
        ...(payload ? ['content-type: application/json'] : [])];
      return Buffer.from(`${head.join('\r\n')}\r\n\r\n${payload}`);
    })));
    let started;
    const responses = Promise.all(sockets.map((socket, g) => new Promise((resolve, reject) => {
      const group = groups[g];
      let buf = Buffer.alloc(0);
      let got = 0;
      socket.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          const parsed = parseResponse(buf);
          if (!parsed) break;
          out[group[got]] = { ...parsed.response, ms: performance.now() - started };
          got += 1;
          buf = buf.subarray(parsed.length);
          if (got === group.length) { resolve(); return; }
        }
      });
      socket.once('error', reject);
      socket.once('close', () => reject(new Error(`connection closed after ${got} of ${group.length} responses`)));
    })));
    started = performance.now();
    for (let g = 0; g < count; g++) sockets[g].write(wires[g]);
    const sentMs = performance.now() - started;
    await responses;
    return { sentMs, responses: out };
  } finally {
    clearTimeout(timer);
    for (const s of sockets) s.destroy();
  }
}

/** One HTTP/1.1 response at the start of buf (content-length or chunked), or null if incomplete. */
function parseResponse(buf) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = buf.subarray(0, end).toString('latin1');
  const status = Number(/^HTTP\/1\.[01] ([0-9]{3})/.exec(head)?.[1] ?? 0);
  const headers = {};
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let at = end + 4;
  const length = /\r\ncontent-length: *([0-9]+)/i.exec(head);
  if (length) {
    const n = Number(length[1]);
    if (buf.length < at + n) return null;
    return { response: { status, text: buf.subarray(at, at + n).toString('utf8'), headers }, length: at + n };
  }
  if (!/\r\ntransfer-encoding: *chunked/i.test(head)) return { response: { status, text: '', headers }, length: at };
  const parts = [];
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', at);
    if (lineEnd < 0) return null;
    const size = parseInt(buf.subarray(at, lineEnd).toString('latin1'), 16);
    if (buf.length < lineEnd + 2 + size + 2) return null;
    if (size === 0) return { response: { status, text: Buffer.concat(parts).toString('utf8'), headers }, length: lineEnd + 4 };
    parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

/** The content types, each with a table and routes of its own. */
export const CONTENT_TYPES = ['posts', 'pages', 'categories', 'pictures', 'translations', 'types'];

/**
 * The JSON of each path (default: every list and the feed) as D1 has it:
 * every content type is invalidated first (not mirrored), so that each read
 * is a miss. For comparing data before and after requests that must change
 * nothing; the invalidations themselves make events.
 */
export async function originSnapshot(worker, serviceToken, paths = [...CONTENT_TYPES.map((t) => `/api/${t}`), '/api/feed']) {
  for (const type of CONTENT_TYPES) await invalidate(worker, serviceToken, { type, mirror: false });
  const out = {};
  for (const path of paths) {
    const { json, cache } = await read(worker, path);
    assert.equal(cache, 'miss', `${path} read from D1 after the invalidation`);
    out[path] = json;
  }
  return out;
}
