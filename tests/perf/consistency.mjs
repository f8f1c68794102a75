#!/usr/bin/env node
// The consistency checker: writers and readers at once for a bounded time,
// then every read that returned data older than an acknowledged write is
// reported (the check is tests/common/history.mjs). Used by
// tests/runtime/backend_consistency.test.mjs for every cache backend, and
// by hand or by the benchmark:
//
//   node tests/perf/consistency.mjs                      memory, kv, upstash and cache, 10 s each
//   node tests/perf/consistency.mjs --backend kv --seconds 30
//   node tests/perf/consistency.mjs --url http://127.0.0.1:8787 --editor EMAIL:PASSWORD
//   (--json: also print the results as one JSON line)
//
// Without --url it starts its own `wrangler dev` per backend (needs
// `make build`), and for upstash a redis-server and the Upstash shim.
//
// The load: WRITERS editors PATCH the title of posts to `v<n>` (n one
// increasing counter), each its own post and, every other write, one shared
// post; READERS read a post by either name of its type, the post list and
// the feed; one SSE client refetches a post on each of its events (the
// browser's pattern: the invariant must hold before an event is sent). A
// write is known to be done at its acknowledgement or at its event,
// whichever came first; a read is stale when it returns a value some write
// known done before the read started had certainly overwritten.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { EDITOR, EDITOR2, ADMIN } from '../common/accounts.mjs';
import { login, request, itemsOf, eventIdOf } from '../common/api.mjs';
import { connect } from '../common/sse.mjs';
import { staleReads } from '../common/history.mjs';

const OWN_POSTS = [1, 2, 3];
export const SHARED_POST = 4;
const POSTS = [...OWN_POSTS, SHARED_POST];
const TITLE = /^v(\d+)$/;
const MAX_LOOP = 100_000; // every loop is bounded in count, too

/**
 * Runs the load against `worker` ({url}) for runMs with the given editor
 * tokens (one per writer, reused round robin). Returns {writes, reads,
 * failures, events, violations, hits, summary}.
 */
export async function runConsistency(worker, { tokens, runMs = 10_000, readers = 6 } = {}) {
  const writes = []; // {post, value, sent, acked, eventId, known}
  const byEvent = new Map();
  const reads = []; // {post, value, start, end, path, cache}
  const failures = [];
  let counter = 0;
  const t0 = performance.now();
  const deadline = t0 + runMs;
  const live = () => performance.now() < deadline;

  // It follows the stream across the Hub's renewals (SSE_MAX_WRITES), as a browser does.
  const sse = await connect(`${worker.url}/api/stream?types=posts`, { follow: true });
  const refetches = [];
  let seen = 0;
  const onEvents = setInterval(() => {
    const evs = sse.ofType('app-update');
    for (; seen < evs.length; seen++) {
      const post = Number(evs[seen].json?.entityId);
      if (POSTS.includes(post) && refetches.length < MAX_LOOP) refetches.push(readItem(post, `/api/posts/${post}`, evs[seen].at));
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

  try {
    await Promise.all([
      ...OWN_POSTS.map((_, w) => writer(w)),
      ...Array.from({ length: readers }, (_, r) => reader(r)),
    ]);
    const lastEvent = Math.max(0, ...writes.map((w) => w.eventId));
    await sse.waitForId(lastEvent, 10_000).catch((e) => failures.push(`SSE: ${e.message}`));
    await sleep(20);
  } finally {
    clearInterval(onEvents);
    await Promise.all(refetches);
    sse.close();
  }

  const events = sse.ofType('app-update');
  for (const ev of events) {
    const w = byEvent.get(ev.json?.id);
    if (w) w.known = Math.min(w.acked, ev.at);
  }
  for (const w of writes) w.known ??= w.acked;
  const violations = POSTS.flatMap((post) => staleReads(
    writes.filter((w) => w.post === post),
    reads.filter((r) => r.post === post),
    { t0, label: `post ${post}: ` },
  ));
  const hits = reads.filter((r) => r.cache === 'hit').length;
  const seconds = (performance.now() - t0) / 1000;
  const summary = `${seconds.toFixed(1)} s: ${writes.length} writes, ${reads.length} reads (${hits} hits), `
    + `${events.length} events, ${violations.length} stale reads, ${failures.length} failed requests`;
  return { writes, reads, failures, events, violations, hits, seconds, summary, refetches: refetches.length, sse };
}

// --- command line ------------------------------------------------------------

async function main() {
  const { values: args } = parseArgs({
    options: {
      backend: { type: 'string', default: 'all' },
      seconds: { type: 'string', default: '10' },
      url: { type: 'string' },
      editor: { type: 'string', multiple: true },
      json: { type: 'boolean', default: false },
    },
  });
  const runMs = Math.max(1, Number(args.seconds)) * 1000;
  const rows = [];
  if (args.url) {
    const worker = { url: args.url.replace(/\/$/, '') };
    const creds = (args.editor ?? []).map((s) => ({ email: s.slice(0, s.indexOf(':')), password: s.slice(s.indexOf(':') + 1) }));
    if (!creds.length) throw new Error('--url needs at least one --editor EMAIL:PASSWORD');
    const tokens = await Promise.all(creds.map((c) => login(worker, c)));
    const health = await request(worker, 'GET', '/api/health');
    rows.push({ backend: health.json?.backend ?? '?', ...(await runConsistency(worker, { tokens, runMs })) });
  } else {
    const { startWorker } = await import('../common/harness.mjs');
    const { startUpstash } = await import('../common/redis.mjs');
    const backends = args.backend === 'all' ? ['memory', 'kv', 'upstash', 'cache'] : [args.backend];
    for (const backend of backends) {
      process.stderr.write(`consistency: starting wrangler dev with CACHE_BACKEND=${backend} ...\n`);
      const up = backend === 'upstash' ? await startUpstash() : null;
      let worker;
      try {
        worker = await startWorker({ vars: { INSTANCE_ID: `consistency-${backend}`, CACHE_BACKEND: backend, ...(up?.vars() ?? {}) } });
        const tokens = [await login(worker, EDITOR), await login(worker, EDITOR2), await login(worker, ADMIN)];
        rows.push({ backend, ...(await runConsistency(worker, { tokens, runMs })) });
      } finally {
        await worker?.dispose();
        await up?.dispose();
      }
    }
  }
  const head = ['backend', 'seconds', 'writes', 'reads', 'hits', 'stale reads', 'failed requests'];
  const lines = rows.map((r) => [r.backend, r.seconds.toFixed(1), r.writes.length, r.reads.length, r.hits,
    r.violations.length, r.failures.length].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  process.stdout.write(`${fmt(head)}\n${lines.map(fmt).join('\n')}\n`);
  for (const r of rows) for (const v of r.violations.slice(0, 10)) process.stdout.write(`${r.backend}: ${v}\n`);
  if (args.json) {
    process.stdout.write(`${JSON.stringify(rows.map((r) => ({ backend: r.backend, seconds: r.seconds, writes: r.writes.length,
      reads: r.reads.length, hits: r.hits, staleReads: r.violations.length, failedRequests: r.failures.length })))}\n`);
  }
  process.exitCode = rows.some((r) => r.violations.length) ? 1 : 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e) => { process.stderr.write(`${e.stack ?? e}\n`); process.exitCode = 2; });
}
