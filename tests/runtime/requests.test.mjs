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
import { PROXY_CUT, del, expectError, get, login, patch, post } from '../common/api.mjs';

let worker;
let editor;

before(async () => {
  worker = await startWorker({ name: 'requests', vars: { INSTANCE_ID: 'requests-test' } });
  editor = await login(worker, EDITOR);
});
after(async () => { await worker?.dispose(); });

/** The body the test streams, and the size of each chunk written. */
const BODY_BYTES = 90 * 1024 * 1024;
const CHUNK_BYTES = 8 * 1024;
/**
 * The first SLOW_BYTES go one chunk per SLOW_PACE_MS (400 KiB/s), the rest
 * as fast as the connection takes them: see "Why paced" below.
 */
const SLOW_BYTES = 2 * 1024 * 1024;
const SLOW_PACE_MS = 20;
/** How long the whole upload may take before the test gives up on it. */
const UPLOAD_MS = 30_000;
/**
 * How much the client may have written when an upload refused early ends:
 * the 64 KiB the Worker reads, plus what the sockets and wrangler's proxy
 * buffer meanwhile (up to 8 MiB measured at full speed). A Worker that reads
 * the whole body lets the client write all 90 MB.
 */
const EARLY_BYTES = 32 * 1024 * 1024;
/**
 * How much workerd's peak resident memory may grow while refusing the body.
 * Buffering it whole costs at least the body (90 MB); reading it with a
 * bound costs a few chunks, plus whatever the runtime allocates meanwhile.
 */
const PEAK_GROWTH_LIMIT_BYTES = 24 * 1024 * 1024;
/** Uploads tried until one reads the Worker's answer whole (see "Why paced"). */
const UPLOAD_ATTEMPTS = 3;

/** Peak resident memory (VmHWM) of the instance's workerd processes, in bytes. */
function workerdPeakRss() {
  return worker.processes().filter((p) => p.comm.startsWith('workerd')).reduce((sum, p) => {
    try {
      const kb = /VmHWM:\s+([0-9]+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'))?.[1];
      return sum + Number(kb ?? 0) * 1024;
    } catch { return sum; /* gone meanwhile */ }
  }, 0);
}

/** The process ids of the instance's workerd processes, to tell a restart. */
function workerdPids() {
  return worker.processes().filter((p) => p.comm.startsWith('workerd')).map((p) => p.pid).sort();
}

/**
 * Streams up to `total` bytes of a JSON-looking body with chunked encoding
 * (no content-length) to `path`, paced at first and then only as fast as
 * the connection takes it, and stops writing at the first response. Returns {status, text,
 * sent, ms} once the response is read whole, or {cut, status?, sent, ms} when
 * the connection ends first (`cut`: what ended it).
 */
function streamChunked(path, total) {
  return new Promise((resolve) => {
    const started = performance.now();
    let sent = 0;
    let res = null;
    let text = '';
    const req = httpRequest(`${worker.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    });
    const finish = (outcome) => {
      clearTimeout(timer);
      req.destroy();
      resolve({ ...outcome, status: res?.statusCode, sent, ms: performance.now() - started });
    };
    const timer = setTimeout(() => finish({ cut: `no answer within ${UPLOAD_MS} ms` }), UPLOAD_MS);
    req.on('response', (r) => {
      res = r;
      r.setEncoding('utf8');
      r.on('data', (d) => { text += d; });
      r.on('end', () => finish({ text }));
      r.on('close', () => { if (!r.complete) finish({ cut: 'the response was cut' }); });
    });
    req.on('error', (e) => { if (!res) finish({ cut: e.code ?? e.message }); });
    const chunk = Buffer.alloc(CHUNK_BYTES, 'a');
    const pump = () => {
      while (!res && sent < total) {
        sent += chunk.length;
        const drained = req.write(chunk);
        if (sent < SLOW_BYTES) {
          const later = () => setTimeout(pump, SLOW_PACE_MS);
          if (drained) later(); else req.once('drain', later);
          return;
        }
        if (!drained) { req.once('drain', pump); return; }
      }
      if (!res) req.end();
    };
    req.write('{"email":"');
    pump();
  });
}

/** A one-line account of an upload's outcome. */
function describe(u) {
  const what = u.cut ? `cut (${u.cut}${u.status ? ` after status ${u.status}` : ''})`
    : `${u.status}${PROXY_CUT.test(u.text) ? ' from wrangler\'s proxy' : ''}`;
  return `${what} after ${Math.round(u.ms)} ms, ${(u.sent / 2 ** 20).toFixed(1)} MiB sent`;
}

// Why paced: the Worker answers 413 after 64 KiB and stops reading, and
// workerd's HTTP server then closes the connection once 64 KiB more of the
// body (or 1 s) have come. Under `wrangler dev` that server is the Worker's
// and wrangler's proxy pumps this client's body into it: at full speed the
// 64 KiB come at once, the close resets the proxy's connection before the
// proxy has read the 413, and this client gets the proxy's 503 (PROXY_CUT) or
// a reset instead (15 uploads of 16 at full speed here). A client that
// starts at 400 KiB/s leaves the proxy 160 ms to read the 413 and stops
// writing when it comes. Production has no such proxy in front of the
// Worker. An upload that is cut all the same is tried again, but it must have
// ended early like the rest: a Worker that read the body whole would take all
// 90 MB.
test('a 90 MB chunked body to the login is refused with 413 once past 64 KiB, and workerd does not hold it', { timeout: 120_000 }, async () => {
  const pidsBefore = workerdPids();
  const peakBefore = workerdPeakRss();
  assert.ok(peakBefore > 0, 'workerd found under /proc');
  const uploads = [];
  let refused = null;
  while (!refused && uploads.length < UPLOAD_ATTEMPTS) {
    const u = await streamChunked('/api/auth/login', BODY_BYTES);
    uploads.push(u);
    console.log(`# chunked 90 MB login, upload ${uploads.length}: ${describe(u)}`);
    if (u.sent >= EARLY_BYTES) break;
    if (!u.cut && !PROXY_CUT.test(u.text)) refused = u;
  }
  const peakAfter = workerdPeakRss();
  const growth = peakAfter - peakBefore;
  console.log(`# workerd peak RSS ${(peakBefore / 2 ** 20).toFixed(1)} -> ${(peakAfter / 2 ** 20).toFixed(1)} MiB (+${(growth / 2 ** 20).toFixed(1)} MiB)`
    + ` over ${uploads.length} upload(s); workerd pids ${pidsBefore.join(',')} -> ${workerdPids().join(',')}`);
  const late = uploads.find((u) => u.sent >= EARLY_BYTES);
  assert.ok(!late, `an upload did not end early: ${late && describe(late)}`);
  assert.ok(refused, `no upload read the Worker's answer in ${UPLOAD_ATTEMPTS}:\n${worker.notes()}`);
  assert.equal(refused.status, 413, refused.text.slice(0, 300));
  assert.equal(JSON.parse(refused.text).error.code, 'payload_too_large', refused.text);
  assert.ok(growth < PEAK_GROWTH_LIMIT_BYTES, `workerd's peak RSS grew by ${growth} bytes`);
  assert.deepEqual(workerdPids(), pidsBefore, 'workerd was not restarted');
  // The instance is still well and answers the next small body. The proxy's
  // own request to the Worker may still fail once on a connection the
  // refusal closed: `request` asks again after the proxy's PROXY_CUT.
  const next = await post(worker, '/api/auth/login', { email: 'nobody@polycache.test', password: 'x' });
  expectError(next, 401, 'unauthenticated');
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
