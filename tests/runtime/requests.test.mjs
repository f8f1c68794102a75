// What a public deployment gets from strangers' requests, and must refuse
// cheaply and exactly (README, "Security"):
// - a body without a length (Transfer-Encoding: chunked) is read with a
//   running bound: 90 MB sent to the unauthenticated login is refused with
//   413 once 64 KiB have arrived, and workerd's memory does not grow by the
//   body's size;
// - an id above 2^53 - 1 (JavaScript's last exact integer, which D1's
//   parameters go through) is a row that does not exist: 404, never the row
//   it would round to.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { startWorker } from '../common/harness.mjs';
import { EDITOR } from '../common/accounts.mjs';
import { del, expectError, get, login, patch, post } from '../common/api.mjs';

let worker;
let editor;

before(async () => {
  worker = await startWorker({ name: 'requests', vars: { INSTANCE_ID: 'requests-test' } });
  editor = await login(worker, EDITOR);
});
after(async () => { await worker?.dispose(); });

/** The body the test streams, and the size of each chunk written. */
const BODY_BYTES = 90 * 1024 * 1024;
const CHUNK_BYTES = 256 * 1024;
/** How long the whole upload may take before the test gives up on it. */
const UPLOAD_MS = 60_000;
/**
 * How much workerd's peak resident memory may grow while refusing the body.
 * Buffering it whole costs at least the body (90 MB); reading it with a
 * bound costs a few chunks, plus whatever the runtime allocates meanwhile.
 */
const PEAK_GROWTH_LIMIT_BYTES = 24 * 1024 * 1024;

/** Peak resident memory (VmHWM) of the instance's workerd processes, in bytes. */
function workerdPeakRss() {
  return worker.processes().filter((p) => p.comm.startsWith('workerd')).reduce((sum, p) => {
    try {
      const kb = /VmHWM:\s+([0-9]+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'))?.[1];
      return sum + Number(kb ?? 0) * 1024;
    } catch { return sum; /* gone meanwhile */ }
  }, 0);
}

/**
 * Streams up to `total` bytes of a JSON-looking body with chunked encoding
 * (no content-length) to `path`, writing only as fast as the connection
 * takes it, and stops at the first response. Returns {status, text, sent, ms}.
 */
function streamChunked(path, total) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let sent = 0;
    let answered = false;
    const req = httpRequest(`${worker.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${UPLOAD_MS} ms; ${sent} bytes sent`)), UPLOAD_MS);
    req.on('response', (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        clearTimeout(timer);
        req.destroy();
        resolve({ status: res.statusCode, text, sent, ms: performance.now() - started });
      });
    });
    req.on('error', (e) => { if (!answered) { clearTimeout(timer); reject(e); } });
    const chunk = Buffer.alloc(CHUNK_BYTES, 'a');
    const pump = () => {
      while (!answered && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) { req.once('drain', pump); return; }
      }
      if (!answered) req.end();
    };
    req.write('{"email":"');
    pump();
  });
}

test('a 90 MB chunked body to the login is refused with 413 once past 64 KiB, and workerd does not hold it', { timeout: 120_000 }, async () => {
  const peakBefore = workerdPeakRss();
  assert.ok(peakBefore > 0, 'workerd found under /proc');
  const res = await streamChunked('/api/auth/login', BODY_BYTES);
  const peakAfter = workerdPeakRss();
  const growth = peakAfter - peakBefore;
  console.log(`# chunked 90 MB login: ${res.status} after ${Math.round(res.ms)} ms, ${(res.sent / 2 ** 20).toFixed(1)} MiB sent; `
    + `workerd peak RSS ${(peakBefore / 2 ** 20).toFixed(1)} -> ${(peakAfter / 2 ** 20).toFixed(1)} MiB (+${(growth / 2 ** 20).toFixed(1)} MiB)`);
  assert.equal(res.status, 413, res.text.slice(0, 300));
  const error = JSON.parse(res.text).error;
  assert.equal(error.code, 'payload_too_large', res.text);
  assert.ok(res.sent < BODY_BYTES, `answered before the whole body was sent (${res.sent} bytes sent)`);
  assert.ok(growth < PEAK_GROWTH_LIMIT_BYTES, `workerd's peak RSS grew by ${growth} bytes`);
  // The instance is still well and answers the next small body.
  expectError(await post(worker, '/api/auth/login', { email: 'nobody@polycache.test', password: 'x' }), 401, 'unauthenticated');
});

test('a chunked body within the limit is still read whole', async () => {
  const body = JSON.stringify({ email: EDITOR.email, password: EDITOR.password });
  const res = await new Promise((resolve, reject) => {
    const req = httpRequest(`${worker.url}/api/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, timeout: 10_000,
    }, (r) => { let t = ''; r.on('data', (d) => { t += d; }); r.on('end', () => resolve({ status: r.statusCode, text: t })); });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    // In three chunks, split inside a string, as a client streaming it would.
    for (const part of [body.slice(0, 5), body.slice(5, 20), body.slice(20)]) req.write(part);
    req.end();
  });
  assert.equal(res.status, 200, res.text);
  assert.equal(typeof JSON.parse(res.text).token, 'string');
});

/** 2^53: the first integer after which JavaScript numbers skip some. */
const TWO_53 = 9007199254740992n;

test('ids above 2^53 - 1 answer 404 like any id with no row, and never reach the row they would round to', { timeout: 60_000 }, async () => {
  // A row at 2^53 itself, where 2^53 + 1 rounds to as a JS number. Written
  // behind the API's back, as another writer of the database could.
  const title = `The row at 2^53 ${Date.now()}`;
  await worker.d1(`INSERT INTO posts (id, title, body, created_at, updated_at) VALUES (${TWO_53}, '${title}', '', 0, 0)`);
  const above = [TWO_53 + 1n, TWO_53 + 2n, 9223372036854775807n, 9223372036854775808n, 10n ** 30n];
  for (const id of above) {
    for (const path of [`/api/posts/${id}`, `/api/post/${id}`]) {
      expectError(await get(worker, path), 404, 'not_found', `GET ${path}`);
      expectError(await patch(worker, path, { title: 'Rounded' }, { token: editor }), 404, 'not_found', `PATCH ${path}`);
    }
    for (const type of ['pages', 'categories', 'pictures', 'translations', 'types']) {
      expectError(await get(worker, `/api/${type}/${id}`), 404, 'not_found', `GET /api/${type}/${id}`);
    }
  }
  expectError(await del(worker, `/api/posts/${TWO_53 + 1n}`, { token: editor }), 404, 'not_found', 'DELETE');
  // A body's reference above 2^53 - 1 is a reference to nothing.
  expectError(await post(worker, '/api/posts', { title: 'Referencing', body: '', categoryId: Number(TWO_53 + 1n) }, { token: editor }),
    422, 'unprocessable', 'POST with categoryId 2^53 + 1');
  const rows = await worker.d1(`SELECT title FROM posts WHERE id = ${TWO_53}`);
  assert.match(rows, new RegExp(title.replace(/[()^]/g, '\\$&')), 'the row at 2^53 is untouched and still there');
  // The last exact id is an id like any other: absent, 404.
  expectError(await get(worker, `/api/posts/${TWO_53 - 1n}`), 404, 'not_found', 'GET 2^53 - 1');
});
