// A mirror catching up after an outage gets its backlog in batches: a
// sender with several entries due sends up to 100 of them in one request
// (`{"deliveries": [...]}`), which the receiver applies in order with one
// storage write, so that its streams get the whole backlog in a chunk or
// two rather than one event every round trip. An older receiver, which
// refuses the batch body, gets single deliveries; a batch with a bad entry
// is refused whole.
//
// The receiver B is a real `wrangler dev` instance behind a counting proxy
// of this test on 127.0.0.1 (tests/common/test_server.mjs), which can also
// stand for B being down (503) while B's stream stays open. The older
// receiver is a stand-in server of this test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerInstance, startWorker } from '../common/harness.mjs';
import { TestServer, proxyTo } from '../common/test_server.mjs';
import { ADMIN, SERVICE } from '../common/accounts.mjs';
import { connect } from '../common/sse.mjs';
import { login, invalidate, get, post, status, waitUntil, expectError } from '../common/api.mjs';

/** Parks an entry at its first failure, so that an outage fills the parked list at once. */
const PARK_AT_ONCE = { MIRROR_MAX_ATTEMPTS: '1' };
/** The README's most deliveries in one batch. */
const MAX_BATCH = 100;
/** The backlog of the catch-up test: the bench's "mirror catch-up" size. */
const BACKLOG = 50;

let b; // the receiver
let proxy; // in front of B, counting its requests
let onB; // a stream on B

before(async () => {
  b = new WorkerInstance({ name: 'B', vars: { INSTANCE_ID: 'batch-b' } });
  await b.start();
  proxy = await proxyTo(() => b.url).start();
  onB = await connect(`${b.url}/api/stream`, { follow: true });
});

after(async () => {
  onB?.close();
  await proxy?.stop();
  await b?.dispose();
});

/** The mirror at `url` as the sender `s` lists it. */
async function mirrorOf(s, token, url) {
  const res = await get(s, '/api/cache/mirrors', { token });
  assert.equal(res.status, 200, res.text);
  return res.json.mirrors.find((m) => m.url === url);
}

/** Writes `ids` on `s` while its mirror at `url` is down, and waits until all are parked (beside `already` parked before). */
async function parkWrites(s, admin, url, ids, already = 0) {
  for (const id of ids) await invalidate(s, admin, { type: 'posts', id });
  await waitUntil(async () => {
    const m = await mirrorOf(s, admin, url);
    return m.pending === 0 && (m.parkedCount ?? m.parked.length) >= ids.length + already;
  }, { what: `${ids.length} entries parked`, timeoutMs: 30_000 });
}

/** POST /api/cache/mirrors/retry on `s`, asserting that `count` came back. */
async function retryParked(s, admin, count) {
  const res = await post(s, '/api/cache/mirrors/retry', {}, { token: admin });
  assert.equal(res.status, 200, res.text);
  assert.ok(res.json.requeued >= count, `requeued ${res.json.requeued} of ${count}`);
}

/** Whether a recorded request's body is a batch. */
const isBatch = (r) => JSON.parse(r.body || '{}').deliveries !== undefined;

test(`a backlog of ${BACKLOG} parked entries reaches a live receiver in a few requests, every event once and in order, in a few chunks`, { timeout: 120_000 }, async () => {
  const s = await startWorker({ name: 'S', vars: { INSTANCE_ID: 'batch-s', CACHE_MIRRORS: proxy.url, ...PARK_AT_ONCE } });
  try {
    const admin = await login(s, ADMIN);
    const ids = Array.from({ length: BACKLOG }, (_, i) => `backlog-${i}`);
    proxy.down = true;
    await parkWrites(s, admin, proxy.url, ids);
    proxy.down = false;

    const chunksBefore = (await status(b)).streamChunks;
    const from = proxy.requests.length;
    await retryParked(s, admin, BACKLOG);
    const seen = () => onB.ofType().map((e) => String(e.json?.entityId)).filter((id) => id.startsWith('backlog-'));
    await onB.waitUntil(() => seen().length >= BACKLOG, 30_000, `${BACKLOG} events on B`);
    await waitUntil(async () => (await mirrorOf(s, admin, proxy.url)).pending === 0, { what: 'the queue empty', timeoutMs: 15_000 });
    await proxy.settled();
    const requests = proxy.invalidations(from);
    const chunks = (await status(b)).streamChunks - chunksBefore;
    console.log(`# ${BACKLOG} entries caught up in ${requests.length} invalidate requests (${requests.filter(isBatch).length} batches; ${proxy.describe(from)}), ${chunks} chunks on B's one stream`);
    assert.deepEqual(seen(), ids, 'every event once, in order');
    assert.ok(requests.length <= 5, `${requests.length} requests for ${BACKLOG} entries`);
    assert.ok(chunks <= BACKLOG / 5, `${chunks} chunks for ${BACKLOG} events`);
    assert.ok((await mirrorOf(s, admin, proxy.url)).delivered >= BACKLOG);
  } finally {
    await s.dispose();
  }
});

test('an older receiver that refuses the batch body gets every entry singly, and is not sent a batch again', { timeout: 120_000 }, async () => {
  let nextId = 1;
  const older = await new TestServer('older receiver', (req, body, res, record) => {
    const answer = (code, json) => { record.status = code; res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(json)); };
    if (older.down) return answer(503, { error: { code: 'unavailable', message: 'down' } });
    if (req.url === '/api/auth/login') return answer(200, { token: 'older-token', expiresAt: Date.now() + 3_600_000, role: 'service' });
    // As a receiver of before batches: its body type refuses unknown fields.
    if (isBatch(record)) return answer(422, { error: { code: 'unprocessable', message: 'unknown field `deliveries`' } });
    return answer(200, { ok: true, eventId: nextId++, types: ['posts'], duplicate: false });
  }).start();
  older.down = true;
  const s = await startWorker({ name: 'S (older mirror)', vars: { INSTANCE_ID: 'batch-s-older', CACHE_MIRRORS: older.url, ...PARK_AT_ONCE } });
  try {
    const admin = await login(s, ADMIN);
    for (const [round, count] of [[1, 6], [2, 4]]) {
      const ids = Array.from({ length: count }, (_, i) => `older-${round}-${i}`);
      older.down = true;
      await parkWrites(s, admin, older.url, ids);
      older.down = false;
      const from = older.requests.length;
      await retryParked(s, admin, count);
      await waitUntil(async () => {
        const m = await mirrorOf(s, admin, older.url);
        return m.pending === 0 && m.parked.length === 0;
      }, { what: `round ${round} delivered`, timeoutMs: 30_000 });
      const calls = older.invalidations(from);
      const singles = calls.filter((r) => !isBatch(r) && r.status === 200).map((r) => JSON.parse(r.body).id);
      const batches = calls.filter(isBatch).length;
      console.log(`# round ${round}: ${count} entries: ${batches} batch requests, ${singles.length} single deliveries`);
      assert.deepEqual(singles, ids, `every entry singly, in order (round ${round})`);
      assert.equal(batches, round === 1 ? 1 : 0, `batches tried in round ${round}`);
    }
    const res = await get(s, '/api/cache/logs?limit=2000', { token: admin });
    const refusals = res.json.records.filter((r) => /refused a batch/.test(r.msg));
    console.log(`# log records of the refusal: ${JSON.stringify(refusals.map((r) => [r.msg, r.fields?.error ?? r.error]))}`);
    assert.equal(refusals.length, 1, 'one log record says so');
  } finally {
    await s.dispose();
    await older.stop();
  }
});

test('a receiver that refuses one entry of a batch gets the others batched; that entry parks alone, and later backlogs are batches again', { timeout: 120_000 }, async () => {
  // A receiver of this version refuses a batch for one bad entry, naming its
  // index as the real B does (the next test): a type it lacks, for example
  // a mirror in origin mode, whose types are its route table's. The sender
  // must not take it for an older receiver and send it everything singly
  // from then on. The stand-in speaks B's protocol so that which entry is
  // bad is up to the test.
  let nextId = 1;
  const poisoned = (delivery) => String(delivery.id).startsWith('poison');
  const newer = await new TestServer('newer receiver', (req, body, res, record) => {
    const answer = (code, json) => { record.status = code; res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(json)); };
    if (newer.down) return answer(503, { error: { code: 'unavailable', message: 'down' } });
    if (req.url === '/api/auth/login') return answer(200, { token: 'newer-token', expiresAt: Date.now() + 3_600_000, role: 'service' });
    const refusal = 'unknown type "posts"';
    const sent = JSON.parse(body || '{}');
    const result = () => ({ ok: true, eventId: nextId++, types: ['posts'], duplicate: false });
    if (sent.deliveries) {
      const bad = sent.deliveries.findIndex(poisoned);
      if (bad >= 0) return answer(422, { error: { code: 'unprocessable', message: `deliveries[${bad}]: ${refusal}` } });
      return answer(200, { results: sent.deliveries.map(result) });
    }
    if (poisoned(sent)) return answer(422, { error: { code: 'unprocessable', message: refusal } });
    return answer(200, result());
  }).start();
  const s = await startWorker({ name: 'S (newer mirror)', vars: { INSTANCE_ID: 'batch-s-newer', CACHE_MIRRORS: newer.url, ...PARK_AT_ONCE } });
  /** The ids the receiver took, in order, batched or singly, from request `from` on. */
  const taken = (from) => newer.invalidations(from).filter((r) => r.status === 200)
    .flatMap((r) => { const sent = JSON.parse(r.body); return sent.deliveries ?? [sent]; }).map((d) => d.id);
  try {
    const admin = await login(s, ADMIN);
    // Round 1: the bad entry in the middle of the backlog. Round 2: it is
    // requeued with the rest by the retry, now at the head.
    for (const [round, ids] of [[1, ['r1-0', 'r1-1', 'r1-2', 'poison', 'r1-4', 'r1-5']], [2, ['r2-0', 'r2-1', 'r2-2', 'r2-3', 'r2-4', 'r2-5', 'r2-6', 'r2-7']]]) {
      newer.down = true;
      await parkWrites(s, admin, newer.url, ids, round - 1);
      newer.down = false;
      const from = newer.requests.length;
      await retryParked(s, admin, ids.length);
      const good = ids.filter((id) => id !== 'poison');
      await waitUntil(async () => {
        const m = await mirrorOf(s, admin, newer.url);
        return m.pending === 0 && m.parkedCount === 1;
      }, { what: `round ${round}: all but the bad entry delivered`, timeoutMs: 30_000 });
      await newer.settled();
      const calls = newer.invalidations(from);
      const batches = calls.filter((r) => isBatch(r) && r.status === 200).length;
      console.log(`# round ${round}: ${ids.length} entries (+ the bad one requeued: ${round > 1}): ${calls.length} requests, ${batches} batches taken, ${calls.filter((r) => r.status === 422).length} refused (${calls.map((r) => `${isBatch(r) ? `batch of ${JSON.parse(r.body).deliveries.length}` : 'single'} ${r.status}`).join(', ')})`);
      assert.deepEqual(taken(from), good, `every good entry once, in order (round ${round})`);
      assert.ok(batches >= 1, `the good entries of round ${round} went in batches, not all singly`);
      assert.ok(calls.length <= 5, `${calls.length} requests in round ${round}`);
      const m = await mirrorOf(s, admin, newer.url);
      assert.deepEqual(m.parked.map((p) => p.id), ['poison'], 'the bad entry alone is parked');
      assert.match(m.parked[0].lastError, /unknown type/);
    }
    const res = await get(s, '/api/cache/logs?limit=2000', { token: admin });
    const records = res.json.records.filter((r) => /refused/.test(r.msg) && /batch/.test(r.msg)).map((r) => r.msg);
    console.log(`# log records: ${JSON.stringify(records)}`);
    assert.ok(records.every((m) => /one entry of a batch/.test(m)), 'never taken for an older receiver');
  } finally {
    await s.dispose();
    await newer.stop();
  }
});

test('a batch with one bad entry is refused whole (422, its index named) and nothing of it is applied', { timeout: 60_000 }, async () => {
  const service = await login(b, SERVICE);
  const delivery = (eventId, type = 'pages') => ({ type, id: `batch-${eventId}`, mirror: false, origin: 'batch-elsewhere', eventId });
  const lastBefore = (await status(b)).lastEventId;
  const bad = await post(b, '/api/cache/invalidate', { deliveries: [delivery(9001), delivery(9002, 'nope'), delivery(9003)] }, { token: service });
  expectError(bad, 422, 'unprocessable');
  console.log(`# the batch with a bad entry: ${bad.status} ${bad.json.error.message}`);
  assert.match(bad.json.error.message, /deliveries\[1\]/);
  assert.equal((await status(b)).lastEventId, lastBefore, 'no event made');
  for (const count of [0, MAX_BATCH + 1]) {
    const res = await post(b, '/api/cache/invalidate', { deliveries: Array.from({ length: count }, (_, i) => delivery(9100 + i)) }, { token: service });
    expectError(res, 422, 'unprocessable', `${count} deliveries`);
  }
  assert.equal((await status(b)).lastEventId, lastBefore, 'no event made');

  // Its good entries were not applied: sent again, they are new events ...
  const good = { deliveries: [delivery(9001), delivery(9003)] };
  const first = await post(b, '/api/cache/invalidate', good, { token: service });
  assert.equal(first.status, 200, first.text);
  assert.deepEqual(first.json.results.map((r) => [r.ok, r.duplicate]), [[true, false], [true, false]], first.text);
  await onB.waitForId(first.json.results[1].eventId, 10_000);
  // ... and once more, acknowledged as repeats of those events.
  const again = await post(b, '/api/cache/invalidate', good, { token: service });
  assert.equal(again.status, 200, again.text);
  assert.deepEqual(again.json.results.map((r) => [r.eventId, r.duplicate]), first.json.results.map((r) => [r.eventId, true]));
  const events = onB.ofType().filter((e) => String(e.json?.entityId).startsWith('batch-'));
  assert.deepEqual(events.map((e) => e.json.entityId), ['batch-9001', 'batch-9003'], onB.describe());
});
