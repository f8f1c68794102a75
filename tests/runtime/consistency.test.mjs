// The consistency invariant under load: several writers PATCH posts (each
// its own post, and all of them one shared post) with increasing values
// while several readers read items, the list and the feed, and one reader
// refetches on every SSE event, for RUN_MS. Afterwards every read is checked:
// a read that started after a write was acknowledged (or after its SSE
// event arrived) must not return a value that the write overwrote.
//
// With concurrent writers on one post the order in which the database applies
// two overlapping writes is unknown, so "overwrote" is judged conservatively
// (tests/common/history.mjs, checked itself by history.test.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startWorker } from '../common/harness.mjs';
import { EDITOR, EDITOR2, ADMIN } from '../common/accounts.mjs';
import { login, request, itemsOf, eventIdOf } from '../common/api.mjs';
import { connect } from '../common/sse.mjs';
import { staleReads } from '../common/history.mjs';

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
  const drainEvents = () => {
    const evs = sse.ofType('app-update');
    for (; seenEvents < evs.length; seenEvents++) {
      const ev = evs[seenEvents];
      const post = Number(ev.json.entityId);
      // `start` is the event's arrival: the read must see everything known by then.
      if (POSTS.includes(post) && pendingRefetches.length < MAX_LOOP) pendingRefetches.push(readItem(post, `/api/posts/${post}`, ev.at));
    }
  };
  const onEvents = setInterval(drainEvents, 1);

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
  clearInterval(onEvents);
  drainEvents();
  await Promise.all(pendingRefetches);
  sse.close();
  assert.ok(performance.now() - t0 >= 10_000, 'ran for at least 10 s');

  // When each write was known to be done: its acknowledgement, or its event if earlier.
  for (const ev of sse.ofType('app-update')) {
    const w = byEvent.get(ev.json.id);
    if (w) w.known = Math.min(w.acked, ev.at);
  }
  for (const w of writes) w.known ??= w.acked;
  const violations = POSTS.flatMap((post) => staleReads(
    writes.filter((w) => w.post === post),
    reads.filter((r) => r.post === post),
    { t0, label: `post ${post}: ` },
  ));

  const hits = reads.filter((r) => r.cache === 'hit').length;
  const summary = `${writes.length} writes, ${reads.length} reads (${hits} hits, ${pendingRefetches.length} on SSE events), ${sse.ofType('app-update').length} events`;
  t.diagnostic(summary);
  assert.deepEqual(failures.slice(0, 10), [], `requests failed under load (${failures.length}); ${summary}; wrangler said:\n${worker.notes()}`);
  const missingEvents = writes.filter((w) => !sse.ofType('app-update').some((e) => e.json.id === w.eventId));
  const got = sse.ofType('app-update').map((e) => e.json.id);
  assert.equal(missingEvents.length, 0, `every write's event arrived on the stream; missing ${missingEvents.length} of ${writes.length}, `
    + `e.g. ${missingEvents.slice(0, 5).map((w) => w.eventId)}; the stream got ${got.length} (${got.slice(0, 3)} ... ${got.slice(-3)}), `
    + `ended: ${sse.ended}${sse.error ? ` (${sse.error.message})` : ''}; wrangler said:\n${worker.notes()}`);

  assert.deepEqual(violations.slice(0, 10), [], `stale reads (${violations.length}); ${summary}`);
  // The test must have exercised what it claims to check.
  assert.ok(writes.length >= 50, `enough writes: ${summary}`);
  assert.ok(reads.length >= 300, `enough reads: ${summary}`);
  assert.ok(hits >= 10, `the cache served hits during the run: ${summary}`);
  assert.equal(pendingRefetches.length, writes.length, `a refetch for every write's event: ${summary}`);
  assert.ok(writes.filter((w) => w.post === SHARED_POST).length >= 15, 'the shared post was written by several writers');
});
