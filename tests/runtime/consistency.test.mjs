// The consistency invariant under load: several writers PATCH posts (each
// its own post, and all of them one shared post) with increasing values
// while several readers read items, the list and the feed, and one reader
// refetches on every SSE event, for RUN_MS. Afterwards every read is checked:
// a read that started after a write was acknowledged (or after its SSE
// event arrived) must not return a value that the write overwrote.
//
// With concurrent writers on one post the order in which the database applies
// two overlapping writes is unknown, so "overwrote" is judged conservatively:
// value u is stale for a read R if some write w was known to be done before R
// started and u's write was acknowledged before w was even sent (u then
// certainly came before w). For a post with one writer this is exactly "R
// returns at least the highest value acknowledged before R started".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startWorker } from '../common/harness.mjs';
import { EDITOR, EDITOR2, ADMIN } from '../common/accounts.mjs';
import { login, request, itemsOf, eventIdOf } from '../common/api.mjs';
import { connect } from '../common/sse.mjs';

const RUN_MS = 12_000;
const OWN_POSTS = [1, 2, 3];
const SHARED_POST = 4;
const POSTS = [...OWN_POSTS, SHARED_POST];
const READERS = 6;
const MAX_LOOP = 100_000; // every loop is bounded in count, too
const TITLE = /^v(\d+)$/;

let worker;
before(async () => { worker = await startWorker({ vars: { INSTANCE_ID: 'consistency-test' } }); });
after(async () => { await worker?.dispose(); });

test('no read returns data older than an acknowledged write (writers and readers for 12 s)', { timeout: 120_000 }, async (t) => {
  const tokens = [await login(worker, EDITOR), await login(worker, EDITOR2), await login(worker, ADMIN)];
  const writes = []; // {post, value, sent, acked, eventId}
  const byEvent = new Map(); // eventId -> write
  const reads = []; // {post, value, start, end, path, cache}
  const failures = [];
  let counter = 0; // the values: one increasing counter over all writers
  const t0 = performance.now();
  const deadline = t0 + RUN_MS;
  const live = () => performance.now() < deadline;

  // The SSE listener: an event's arrival also marks its write as done (the
  // invariant holds before the event is sent), and triggers a refetch.
  const sse = await connect(`${worker.url}/api/stream?types=posts`);
  const pendingRefetches = [];
  let seenEvents = 0;
  const onEvents = setInterval(() => {
    const evs = sse.ofType('app-update');
    for (; seenEvents < evs.length; seenEvents++) {
      const ev = evs[seenEvents];
      const post = Number(ev.json.entityId);
      if (POSTS.includes(post) && pendingRefetches.length < MAX_LOOP) pendingRefetches.push(readItem(post, `/api/posts/${post}`, ev.at));
    }
  }, 1);

  function valueOf(title, where) {
    const m = TITLE.exec(title ?? '');
    if (m) return Number(m[1]);
    if (typeof title === 'string') return 0; // the demo title: before every write
    failures.push(`${where}: no title in ${JSON.stringify(title)}`);
    return undefined;
  }

  async function readItem(post, path, start = performance.now()) {
    try {
      const res = await request(worker, 'GET', path, { timeoutMs: 10_000 });
      const end = performance.now();
      if (res.status !== 200) { failures.push(`GET ${path}: ${res.status} ${res.text.slice(0, 200)}`); return; }
      const value = valueOf(res.json?.title, `GET ${path}`);
      if (value !== undefined) reads.push({ post, value, start, end, path, cache: res.headers.get('x-cache') });
    } catch (e) { failures.push(`GET ${path}: ${e.message}`); }
  }

  async function readList(path, pick) {
    const start = performance.now();
    try {
      const res = await request(worker, 'GET', path, { timeoutMs: 10_000 });
      const end = performance.now();
      if (res.status !== 200) { failures.push(`GET ${path}: ${res.status} ${res.text.slice(0, 200)}`); return; }
      const items = pick(res.json);
      for (const post of POSTS) {
        const found = items.find((i) => i.id === post);
        if (!found) { failures.push(`GET ${path}: post ${post} missing`); continue; }
        const value = valueOf(found.title, `GET ${path}`);
        if (value !== undefined) reads.push({ post, value, start, end, path, cache: res.headers.get('x-cache') });
      }
    } catch (e) { failures.push(`GET ${path}: ${e.message}`); }
  }

  async function writer(w) {
    const token = tokens[w % tokens.length];
    for (let i = 0; i < MAX_LOOP && live(); i++) {
      const post = i % 2 ? SHARED_POST : OWN_POSTS[w];
      const value = ++counter;
      const sent = performance.now();
      try {
        const res = await request(worker, 'PATCH', `/api/posts/${post}`, { token, body: { title: `v${value}` }, timeoutMs: 10_000 });
        const acked = performance.now();
        if (res.status !== 200) { failures.push(`PATCH post ${post}: ${res.status} ${res.text.slice(0, 200)}`); continue; }
        const write = { post, value, sent, acked, eventId: eventIdOf(res) };
        writes.push(write);
        byEvent.set(write.eventId, write);
      } catch (e) { failures.push(`PATCH post ${post}: ${e.message}`); }
      await sleep(5 + Math.random() * 40); // pauses let the readers hit the cache
    }
  }

  async function reader(r) {
    for (let i = 0; i < MAX_LOOP && live(); i++) {
      const kind = (i + r) % 4;
      const post = POSTS[(i + r) % POSTS.length];
      if (kind === 0) await readList('/api/posts', itemsOf);
      else if (kind === 1) await readList('/api/feed', (j) => j.items.filter((it) => it.kind === 'post'));
      else if (kind === 2) await readItem(post, `/api/post/${post}`);
      else await readItem(post, `/api/posts/${post}`);
    }
  }

  await Promise.all([
    ...OWN_POSTS.map((_, w) => writer(w)),
    ...Array.from({ length: READERS }, (_, r) => reader(r)),
  ]);
  // The last events and the refetches they trigger.
  const lastEvent = Math.max(0, ...writes.map((w) => w.eventId));
  await sse.waitForId(lastEvent, 10_000).catch((e) => failures.push(`SSE: ${e.message}`));
  await sleep(20);
  clearInterval(onEvents);
  await Promise.all(pendingRefetches);
  sse.close();
  assert.ok(performance.now() - t0 >= 10_000, 'ran for at least 10 s');

  // When each write was known to be done: its acknowledgement, or its event if earlier.
  for (const ev of sse.ofType('app-update')) {
    const w = byEvent.get(ev.json.id);
    if (w) w.known = Math.min(w.acked, ev.at);
  }
  for (const w of writes) w.known ??= w.acked;
  const missingEvents = writes.filter((w) => !sse.ofType('app-update').some((e) => e.json.id === w.eventId));
  const got = sse.ofType('app-update').map((e) => e.json.id);
  assert.equal(missingEvents.length, 0, `every write's event arrived on the stream; missing ${missingEvents.length} of ${writes.length}, `
    + `e.g. ${missingEvents.slice(0, 5).map((w) => w.eventId)}; the stream got ${got.length} (${got.slice(0, 3)} ... ${got.slice(-3)}), `
    + `ended: ${sse.ended}${sse.error ? ` (${sse.error.message})` : ''}; other failures: ${failures.slice(0, 3)}`);

  const violations = [];
  for (const post of POSTS) {
    const ws = writes.filter((w) => w.post === post).sort((a, b) => a.known - b.known);
    const byValue = new Map(ws.map((w) => [w.value, w]));
    // prefix maximum of `sent` over writes ordered by `known`
    const maxSent = [];
    ws.forEach((w, i) => { maxSent[i] = Math.max(w.sent, i ? maxSent[i - 1] : -Infinity); });
    for (const r of reads.filter((x) => x.post === post)) {
      const u = r.value === 0 ? { value: 0, acked: -Infinity, sent: -Infinity } : byValue.get(r.value);
      if (!u) {
        // A value no acknowledged write has: a failed write (reported above) or garbage.
        if (!failures.length) violations.push(`${r.path} returned v${r.value}, which no write sent`);
        continue;
      }
      if (u.sent > r.end) violations.push(`${r.path} returned v${r.value} before it was sent`);
      // the latest `known` before r.start
      let lo = 0; let hi = ws.length;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (ws[mid].known < r.start) lo = mid + 1; else hi = mid; }
      if (lo === 0) continue;
      const newestSent = maxSent[lo - 1];
      if (u.acked < newestSent) {
        const w = ws.slice(0, lo).find((x) => x.sent === newestSent);
        violations.push(`${r.path} (post ${post}, x-cache ${r.cache}) started ${(r.start - t0).toFixed(1)} ms returned v${r.value} `
          + `(acked ${(u.acked - t0).toFixed(1)} ms), but v${w.value} was sent at ${(w.sent - t0).toFixed(1)} ms and done at ${(w.known - t0).toFixed(1)} ms`);
      }
    }
  }

  const hits = reads.filter((r) => r.cache === 'hit').length;
  const summary = `${writes.length} writes, ${reads.length} reads (${hits} hits), ${sse.ofType('app-update').length} events`;
  t.diagnostic(summary);
  assert.deepEqual(failures.slice(0, 10), [], `requests failed under load (${failures.length}); ${summary}`);
  assert.deepEqual(violations.slice(0, 10), [], `stale reads (${violations.length}); ${summary}`);
  // The test must have exercised what it claims to check.
  assert.ok(writes.length >= 100, `enough writes: ${summary}`);
  assert.ok(reads.length >= 500, `enough reads: ${summary}`);
  assert.ok(hits >= 20, `the cache served hits during the run: ${summary}`);
  assert.ok(writes.filter((w) => w.post === SHARED_POST).length >= 30, 'the shared post was written by several writers');
});
