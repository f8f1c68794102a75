// The edge tier when an Edge does not listen (TEST_FAULTS=edge-deaf:<edge>:
// that Edge holds every push of the Hub unanswered for up to its lease, then
// answers without applying it, and keeps renewing its lease), and the Hub's
// cap of 6 pushes in flight (production lets a Durable Object wait on at most
// 6 outgoing requests at once; `wrangler dev` does not enforce it, so the Hub
// caps itself and reports its peak in /api/status).
//
// 1. A deaf Edge in apac, writers in weur, readers in apac: every write is
//    still acknowledged within one lease term + 1.5 s (the Hub waits for the
//    deaf Edge's renewal, which catches it up, or for its lease to run out),
//    apac never serves a value a write acknowledged before the read had
//    overwritten, during the writes or after them, and once the writes stop
//    it catches up and serves hits again.
// 2. 8 Edges (4 regions, 2 shards), one of them deaf, every one with
//    streams: 40 writes from 4 senders keep at most 6 pushes in flight (and
//    reach 6: there are 7 live Edges to push to), every stream gets every
//    event once and in order, the deaf Edge's too (through its renewals),
//    and every write is acknowledged within one lease term + 1.5 s.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startWorker } from '../common/harness.mjs';
import { EDITOR, EDITOR2, ADMIN, SERVICE } from '../common/accounts.mjs';
import { login, get, post, status, waitUntil, expectStatus, show } from '../common/api.mjs';
import { connect } from '../common/sse.mjs';
import { staleReads } from '../common/history.mjs';
import { REGION_HEADER, edgeVars, edgeName, inRegion, latencies, misrouted } from '../common/regions.mjs';
import { runConsistency, titleValue, POSTS, SHARED_POST } from '../perf/consistency.mjs';

const LEASE_SECS = 3;
/** The longest a write may wait for a deaf Edge: its lease term, and 1.5 s of margin (the Edge's 1 s and the machine's). */
const ACK_BOUND_MS = LEASE_SECS * 1000 + 1500;
/** Production's cap on a Durable Object's outgoing requests waiting at once (the Hub's pushes). */
const PUSH_CAP = 6;

/** The Edge named `name` in /api/status, or undefined. */
const edgeIn = (st, name) => (Array.isArray(st.edges) ? st.edges.find((e) => e.name === name) : undefined);

describe('a deaf Edge in apac while writers write in weur', () => {
  const DEAF = edgeName('apac', 0);
  let worker;
  before(async () => {
    worker = await startWorker({
      name: 'edge-deaf',
      vars: { INSTANCE_ID: 'edge-deaf', ...edgeVars({ regions: ['weur', 'enam', 'apac'], leaseSecs: LEASE_SECS, faults: `edge-deaf:${DEAF}` }) },
    });
  });
  after(async () => { await worker?.dispose(); });

  test(`writes are acknowledged within ${ACK_BOUND_MS} ms, apac serves nothing stale and then hits again`, { timeout: 120_000 }, async (t) => {
    const tokens = [await login(worker, EDITOR), await login(worker, EDITOR2), await login(worker, ADMIN)];
    // The deaf Edge must hold a live lease when the writes start, or no write
    // would have to wait for it: a read in apac makes it register.
    const first = await get(worker, `/api/posts/${SHARED_POST}`, { headers: inRegion('apac') });
    assert.equal(first.status, 200, `GET /api/posts/${SHARED_POST} in apac: ${show(first)}`);
    assert.equal(first.headers.get('x-polycache-edge'), DEAF, `a read in apac is served by ${DEAF}`);
    await waitUntil(async () => (edgeIn(await status(worker), DEAF)?.leaseUntil ?? 0) > Date.now(),
      { timeoutMs: 5_000, what: `${DEAF} listed in /api/status edges with a lease in the future` });

    const run = await runConsistency(worker, {
      tokens, runMs: 10_500, readers: 4, regions: { header: REGION_HEADER, writers: 'weur', readers: ['apac'] },
    });
    const lat = latencies(run.writes.map((w) => w.acked - w.sent));
    t.diagnostic(`deaf ${DEAF}: ${run.summary}; write acknowledgements: ${lat.text}`);
    assert.deepEqual(run.failures.slice(0, 10), [], `requests failed (${run.failures.length}); ${run.summary}; wrangler said:\n${worker.notes()}`);
    const wrong = misrouted(run.reads);
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} of ${run.reads.length} reads in apac not served by ${DEAF}`);
    assert.ok(lat.max <= ACK_BOUND_MS, `every write acknowledged within ${ACK_BOUND_MS} ms: ${lat.text}`);
    // The fault was in force: writes waited for the deaf Edge's renewal
    // (every half term), where a push to a listening Edge takes milliseconds.
    assert.ok(lat.max >= 500, `the writes waited for the deaf Edge: ${lat.text}`);
    assert.deepEqual(run.violations.slice(0, 10), [], `stale reads in apac during the writes (${run.violations.length}); ${run.summary}`);
    const [apac] = run.refetchers;
    const ids = apac.events.map((e) => e.json?.id);
    const missing = run.writes.filter((w) => !ids.includes(w.eventId));
    assert.equal(missing.length, 0, `every write's event reached the stream in apac; missing ${missing.length} of ${run.writes.length}: ${apac.sse.describe()}`);
    assert.deepEqual(ids.filter((id, i) => i > 0 && id <= ids[i - 1]).slice(0, 5), [], 'each event once, in increasing order');
    assert.ok(run.writes.length >= 10, `enough writes: ${run.summary}`);
    assert.ok(run.reads.length >= 100, `enough reads: ${run.summary}`);

    // After the writes: apac catches up (at its next renewal) and serves
    // the last values, then hits.
    const reads = [];
    const readInApac = async (p) => {
      const start = performance.now();
      const res = await get(worker, `/api/posts/${p}`, { headers: inRegion('apac') });
      const end = performance.now();
      assert.equal(res.status, 200, `GET /api/posts/${p} in apac after the writes: ${show(res)}`);
      const r = { post: p, value: titleValue(res.json?.title), start, end, path: `/api/posts/${p} after the writes`, cache: res.headers.get('x-cache') };
      reads.push(r);
      return r;
    };
    for (const p of POSTS) await readInApac(p);
    const stopAt = performance.now() + 15_000;
    let hit;
    for (let i = 0; i < 60 && !hit && performance.now() < stopAt; i++) {
      const r = await readInApac(SHARED_POST);
      if (r.cache === 'hit') hit = r;
      else await sleep(100);
    }
    const lastAck = Math.max(...run.writes.map((w) => w.acked));
    t.diagnostic(`after the writes: ${reads.length} reads in apac (${reads.map((r) => r.cache).join(' ')}), `
      + `the first hit ${hit ? `${(hit.start - lastAck).toFixed(0)} ms after the last acknowledgement` : 'never'}`);
    const after = POSTS.flatMap((p) => staleReads(run.writes.filter((w) => w.post === p), reads.filter((r) => r.post === p), { label: `post ${p}: ` }));
    assert.deepEqual(after, [], 'apac serves no stale read after the writes');
    assert.ok(hit, `apac answers x-cache: hit again once the writes stop; got ${reads.map((r) => r.cache).join(' ')}`);
  });
});

describe('the cap of 6 pushes in flight, with 8 Edges and one of them deaf', () => {
  const REGIONS = ['weur', 'enam', 'apac', 'wnam'];
  const SHARDS = 2;
  const EDGES = REGIONS.flatMap((r) => Array.from({ length: SHARDS }, (_, s) => edgeName(r, s)));
  const DEAF = edgeName('apac', 1);
  const SENDERS = 4;
  const WRITES_EACH = 10;
  const STREAMS_FIRST = 6; // per region: a shard gets none with probability 2^-5 each
  const STREAMS_MAX = 16; // per region, when a shard got none
  let worker;
  const streams = []; // {region, sse}
  before(async () => {
    worker = await startWorker({
      name: 'edge-push-cap',
      vars: { INSTANCE_ID: 'edge-push-cap', ...edgeVars({ regions: REGIONS, shards: SHARDS, leaseSecs: LEASE_SECS, faults: `edge-deaf:${DEAF}` }) },
    });
  });
  after(async () => {
    for (const s of streams) s.sse.close();
    await worker?.dispose();
  });

  test(`40 writes from ${SENDERS} senders: at most ${PUSH_CAP} pushes in flight, every stream gets every event once and in order`, { timeout: 180_000 }, async (t) => {
    const service = await login(worker, SERVICE);
    // Streams open on a random shard of their region: open STREAMS_FIRST
    // in each region, more where a shard got none, until every Edge has some.
    const openIn = async (region) => {
      const sse = await connect(`${worker.url}/api/stream`, { headers: inRegion(region), follow: true });
      streams.push({ region, sse });
    };
    await Promise.all(REGIONS.map(async (region) => { for (let i = 0; i < STREAMS_FIRST; i++) await openIn(region); }));
    let st;
    for (let round = 0; round < 10; round++) {
      st = await waitUntil(async () => { const s = await status(worker); return s.subscribers === streams.length && s; },
        { timeoutMs: 10_000, what: `/api/status subscribers = ${streams.length}` });
      const bare = EDGES.filter((name) => !(edgeIn(st, name)?.subscribers > 0));
      const regions = [...new Set(bare.map((name) => name.split(':')[1]))]
        .filter((r) => streams.filter((s) => s.region === r).length < STREAMS_MAX);
      if (!regions.length) break;
      await Promise.all(regions.map(async (r) => { await openIn(r); await openIn(r); }));
    }
    const perEdge = EDGES.map((name) => `${name} ${edgeIn(st, name)?.subscribers ?? 'absent'}`);
    t.diagnostic(`${streams.length} streams: ${perEdge.join(', ')}`);
    assert.deepEqual(EDGES.filter((name) => !(edgeIn(st, name)?.subscribers > 0)), [], `every Edge has streams: ${perEdge.join(', ')}`);
    assert.ok(EDGES.every((name) => edgeIn(st, name).leaseUntil > Date.now()), `every Edge holds a lease: ${JSON.stringify(st.edges)}`);
    const before = st.hub;
    assert.equal(typeof before?.pushesInFlightPeak, 'number', `/api/status hub.pushesInFlightPeak: ${JSON.stringify(st.hub)}`);

    // The writes: SENDERS at once, each WRITES_EACH one after the other.
    const writes = []; // {id, ms}
    const failures = [];
    await Promise.all(Array.from({ length: SENDERS }, async (_, k) => {
      for (let i = 0; i < WRITES_EACH; i++) {
        const body = { type: 'posts', id: k * WRITES_EACH + i + 1, action: 'update' };
        const sent = performance.now();
        const res = await post(worker, '/api/cache/invalidate', body, { token: service, headers: inRegion('weur') })
          .catch((e) => ({ status: 0, text: e.message }));
        const ms = performance.now() - sent;
        if (res.status !== 200) { failures.push(`invalidate ${JSON.stringify(body)} after ${ms.toFixed(0)} ms: ${show(res)}`); continue; }
        writes.push({ id: expectStatus(res, 200).eventId, ms });
      }
    }));
    const lat = latencies(writes.map((w) => w.ms));
    assert.deepEqual(failures.slice(0, 5), [], `every write answered 200 (${failures.length} did not); wrangler said:\n${worker.notes()}`);
    const ids = writes.map((w) => w.id).sort((a, b) => a - b);
    assert.equal(new Set(ids).size, SENDERS * WRITES_EACH, `${SENDERS * WRITES_EACH} distinct event ids: ${ids}`);

    // Every stream, the deaf Edge's too, gets every event once and in order.
    const caughtUp = performance.now();
    const late = await Promise.all(streams.map(async ({ sse }) => {
      await sse.waitUntil(() => sse.ofType().some((e) => e.json?.id === ids.at(-1)), 20_000, `event ${ids.at(-1)}`).catch(() => {});
      return performance.now() - caughtUp;
    }));
    const stAfter = await status(worker);
    t.diagnostic(`write acknowledgements: ${lat.text}; hub.pushes ${before.pushes} -> ${stAfter.hub?.pushes}, `
      + `pushesInFlightPeak ${stAfter.hub?.pushesInFlightPeak}; every stream had the last event ${Math.max(...late).toFixed(0)} ms after the last acknowledgement`);
    streams.forEach(({ region, sse }, i) => {
      const got = sse.ofType().map((e) => e.json?.id);
      assert.deepEqual(got, ids, `stream ${i} (opened in ${region}, resumed ${sse.resumes} times) got every event once and in order; ${sse.describe()}`);
    });
    assert.ok(lat.max <= ACK_BOUND_MS, `every write acknowledged within ${ACK_BOUND_MS} ms: ${lat.text}`);
    const peak = stAfter.hub?.pushesInFlightPeak;
    assert.ok(peak <= PUSH_CAP, `at most ${PUSH_CAP} pushes in flight at once: hub ${JSON.stringify(stAfter.hub)}`);
    assert.ok(peak >= PUSH_CAP, `the cap was reached (7 live Edges to push to): hub ${JSON.stringify(stAfter.hub)}`);
  });
});
