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
//   node tests/perf/consistency.mjs --regions weur,enam,apac   writers in weur, readers in enam and apac
//   node tests/perf/consistency.mjs --origin --backend memory   origin mode, in front of the stand-in shop
//   node tests/perf/consistency.mjs --origin --url http://127.0.0.1:8787 --token shop-editor
//   (--json: also print the results as one JSON line)
//
// Without --url it starts its own `wrangler dev` per backend (needs
// `make build`), and for upstash a redis-server and the Upstash shim; with
// --origin also the stand-in origin (tests/common/origin.mjs), its reads
// answered after --origin-latency-ms (20) and its writes applied after
// --origin-write-latency-ms (50), so that reads race writes.
//
// The load: WRITERS editors PATCH the title of posts to `v<n>` (n one
// increasing counter), each its own post and, every other write, one shared
// post; READERS read a post by either name of its type, the post list and
// the feed; one SSE client refetches a post on each of its events (the
// browser's pattern: the invariant must hold before an event is sent). A
// write is known to be done at its acknowledgement or at its event,
// whichever came first; a read is stale when it returns a value some write
// known done before the read started had certainly overwritten.
//
// In origin mode (option `api`: ORIGIN_API) the same load goes through
// polycache to the stand-in shop: the writers PATCH `/v1/products/:id`
// {title} with the shop's editor token (polycache forwards it, then
// invalidates), the readers read the product list and a product under two
// cache keys (its path, and with a query the shop ignores), and the
// refetcher follows the stream's `products` events.
//
// Across regions (option `regions`, with the edge tier): every request
// carries a region header; the writers send theirs in one region, the
// readers in the others (reader r in the r-th, round robin), and each
// reader region has its own SSE refetcher, which refetches through its
// region. A write is known done in a region at its acknowledgement or at
// its event on that region's stream, whichever came first (an Edge forwards
// an event once it applied it, but the other regions may not have yet): a
// read in apac must not return what a write acknowledged in weur, or
// announced on apac's stream, had overwritten.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { EDITOR, EDITOR2, ADMIN } from '../common/accounts.mjs';
import { login, request, itemsOf, eventIdOf, proxyCuts } from '../common/api.mjs';
import { connect } from '../common/sse.mjs';
import { staleReads } from '../common/history.mjs';
import { REGION_HEADER, edgeVars } from '../common/regions.mjs';
import { startOrigin, EDITOR_TOKEN } from '../common/origin.mjs';

const OWN_POSTS = [1, 2, 3];
export const SHARED_POST = 4;
/** The posts the writers write. */
export const POSTS = [...OWN_POSTS, SHARED_POST];
const TITLE = /^v(\d+)$/;

/**
 * What the load writes and reads, in either mode: `type` (the stream's
 * and the events' type), `noun` (for messages), `entities` (the ids the
 * writers write: one per writer, the last one shared; a list's items and
 * an event's entityId are matched by their id as a string), `write(id)`
 * (the path a writer PATCHes with {title}), `reads` (what a reader reads in
 * turn: `{list, pick}`, a list path and how its entities are found in the
 * answer, or `{item(id)}`, the path of one entity, whose answer holds its
 * title), and `refetch(id)` (the path the SSE refetcher reads on an event).
 * Reader r's i-th read is of kind `reads[(i + r) % reads.length]` and entity
 * `entities[(i + r) % entities.length]`: D1's four kinds read posts 3 and 4
 * by item and all four in the lists; the origin's three meet every product
 * by item.
 */
export const D1_API = {
  type: 'posts',
  noun: 'post',
  entities: POSTS,
  write: (id) => `/api/posts/${id}`,
  reads: [
    { list: '/api/posts', pick: itemsOf },
    { list: '/api/feed', pick: (j) => j.items.filter((it) => it.kind === 'post') },
    { item: (id) => `/api/post/${id}` },
    { item: (id) => `/api/posts/${id}` },
  ],
  refetch: (id) => `/api/posts/${id}`,
};

/** Origin mode in front of the stand-in shop (tests/common/origin.mjs): its products, ids "1".."4". */
export const ORIGIN_API = {
  type: 'products',
  noun: 'product',
  entities: ['1', '2', '3', '4'],
  write: (id) => `/v1/products/${id}`,
  reads: [
    { list: '/v1/products', pick: (j) => j.items },
    { item: (id) => `/v1/products/${id}` },
    // Another cache key of the same product (the query is part of the key;
    // the shop ignores it), as D1's posts have two names.
    { item: (id) => `/v1/products/${id}?view=full` },
  ],
  refetch: (id) => `/v1/products/${id}`,
};

/** The value a writer wrote into a title (`v<n>`), 0 for the demo's title, undefined for no title. */
export function titleValue(title) {
  const m = TITLE.exec(title ?? '');
  if (m) return Number(m[1]);
  return typeof title === 'string' ? 0 : undefined;
}

const MAX_LOOP = 100_000; // every loop is bounded in count, too

/**
 * Runs the load against `worker` ({url}) for runMs with the given editor
 * tokens (one per writer, reused round robin; sent as `authorization:
 * Bearer`). Options: api (D1_API, the default, or ORIGIN_API), readers (how many),
 * regions ({header, writers, readers}: the name of the region header, the
 * writers' region and the readers' regions, e.g. {header:
 * 'x-polycache-region', writers: 'weur', readers: ['enam', 'apac']}; unset:
 * no region header, one refetcher). Returns {writes, reads, failures,
 * events, violations, hits, summary, refetches, sse, refetchers}: reads
 * carry the region asked for and the x-polycache-edge answered;
 * `refetchers` is [{region, sse, events, refetches}], one per reader region
 * (one, region undefined, without regions); `sse`, `events` and `refetches`
 * are the first refetcher's.
 */
export async function runConsistency(worker, { tokens, api = D1_API, runMs = 10_000, readers = 6, regions } = {}) {
  const entities = api.entities;
  const own = entities.slice(0, -1);
  const shared = entities.at(-1);
  const entityOf = (id) => entities.find((e) => String(e) === String(id));
  const writes = []; // {post, value, sent, acked, eventId}
  const reads = []; // {post, value, start, end, path, cache, region, edge}
  const failures = [];
  let counter = 0;
  const readerRegions = regions ? regions.readers : [undefined];
  if (regions && !(regions.header && regions.writers && readerRegions.length)) {
    throw new Error(`regions needs {header, writers, readers: [...]}: ${JSON.stringify(regions)}`);
  }
  const inRegion = (region) => (region && regions ? { [regions.header]: region } : {});
  const t0 = performance.now();
  const cutsBefore = proxyCuts.count;
  const deadline = t0 + runMs;
  const live = () => performance.now() < deadline;

  // One refetcher per reader region. Each follows its stream across the
  // renewals (SSE_MAX_WRITES), as a browser does, staying in its region.
  const refetchers = [];
  try {
    for (const region of readerRegions) {
      const sse = await connect(`${worker.url}/api/stream?types=${api.type}`, { follow: true, headers: inRegion(region) });
      refetchers.push({ region, sse, pending: [], seen: 0 });
    }
  } catch (e) {
    for (const f of refetchers) f.sse.close();
    throw e;
  }
  const onEvents = setInterval(() => {
    for (const f of refetchers) {
      const evs = f.sse.ofType('app-update');
      for (; f.seen < evs.length; f.seen++) {
        const post = entityOf(evs[f.seen].json?.entityId);
        if (post !== undefined && f.pending.length < MAX_LOOP) f.pending.push(readItem(post, api.refetch(post), f.region, evs[f.seen].at));
      }
    }
  }, 1);

  function valueOf(title, where) {
    const value = titleValue(title);
    if (value === undefined) failures.push(`${where}: no title in ${JSON.stringify(title)}`);
    return value;
  }

  const where = (path, region) => `GET ${path}${region ? ` in ${region}` : ''}`;

  async function readItem(post, path, region, start = performance.now()) {
    try {
      const res = await request(worker, 'GET', path, { headers: inRegion(region), timeoutMs: 10_000 });
      const end = performance.now();
      if (res.status !== 200) { failures.push(`${where(path, region)}: ${res.status} ${res.text.slice(0, 200)}`); return; }
      const value = valueOf(res.json?.title, where(path, region));
      if (value !== undefined) {
        reads.push({ post, value, start, end, path, region, cache: res.headers.get('x-cache'), edge: res.headers.get('x-polycache-edge') });
      }
    } catch (e) { failures.push(`${where(path, region)}: ${e.message}`); }
  }

  async function readList(path, pick, region) {
    const start = performance.now();
    try {
      const res = await request(worker, 'GET', path, { headers: inRegion(region), timeoutMs: 10_000 });
      const end = performance.now();
      if (res.status !== 200) { failures.push(`${where(path, region)}: ${res.status} ${res.text.slice(0, 200)}`); return; }
      const items = pick(res.json);
      for (const post of entities) {
        const found = items.find((i) => String(i.id) === String(post));
        if (!found) { failures.push(`${where(path, region)}: ${api.noun} ${post} missing`); continue; }
        const value = valueOf(found.title, where(path, region));
        if (value !== undefined) {
          reads.push({ post, value, start, end, path, region, cache: res.headers.get('x-cache'), edge: res.headers.get('x-polycache-edge') });
        }
      }
    } catch (e) { failures.push(`${where(path, region)}: ${e.message}`); }
  }

  async function writer(w) {
    const token = tokens[w % tokens.length];
    for (let i = 0; i < MAX_LOOP && live(); i++) {
      const post = i % 2 ? shared : own[w];
      const value = ++counter;
      const sent = performance.now();
      try {
        const res = await request(worker, 'PATCH', api.write(post), {
          token, body: { title: `v${value}` }, headers: inRegion(regions?.writers), timeoutMs: 10_000,
        });
        const acked = performance.now();
        if (res.status !== 200) { failures.push(`PATCH ${api.noun} ${post}: ${res.status} ${res.text.slice(0, 200)}`); continue; }
        const write = { post, value, sent, acked, eventId: eventIdOf(res) };
        writes.push(write);
      } catch (e) { failures.push(`PATCH ${api.noun} ${post}: ${e.message}`); }
      await sleep(5 + Math.random() * 40); // pauses let the readers hit the cache
    }
  }

  async function reader(r) {
    const region = readerRegions[r % readerRegions.length];
    for (let i = 0; i < MAX_LOOP && live(); i++) {
      const kind = api.reads[(i + r) % api.reads.length];
      const post = entities[(i + r) % entities.length];
      if (kind.list) await readList(kind.list, kind.pick, region);
      else await readItem(post, kind.item(post), region);
    }
  }

  try {
    await Promise.all([
      ...own.map((_, w) => writer(w)),
      ...Array.from({ length: readers }, (_, r) => reader(r)),
    ]);
    const lastEvent = Math.max(0, ...writes.map((w) => w.eventId));
    await Promise.all(refetchers.map((f) => f.sse.waitForId(lastEvent, 10_000)
      .catch((e) => failures.push(`SSE${f.region ? ` in ${f.region}` : ''}: ${e.message}`))));
    await sleep(20);
  } finally {
    clearInterval(onEvents);
    for (const f of refetchers) await Promise.all(f.pending);
    for (const f of refetchers) f.sse.close();
  }

  // known: per reader region, the acknowledgement or the event on that region's stream.
  const violations = [];
  for (const f of refetchers) {
    f.events = f.sse.ofType('app-update');
    const arrived = new Map(f.events.map((ev) => [ev.json?.id, ev.at]));
    const known = writes.map((w) => ({ ...w, known: Math.min(w.acked, arrived.get(w.eventId) ?? Infinity) }));
    for (const post of entities) {
      violations.push(...staleReads(
        known.filter((w) => w.post === post),
        reads.filter((r) => r.post === post && r.region === f.region),
        { t0, label: `${api.noun} ${post}: ` },
      ));
    }
  }
  const [{ sse, events }] = refetchers;
  const hits = reads.filter((r) => r.cache === 'hit').length;
  const seconds = (performance.now() - t0) / 1000;
  const eventCounts = regions
    ? `events ${refetchers.map((f) => `${f.events.length} in ${f.region}`).join(', ')}`
    : `${events.length} events`;
  const summary = `${seconds.toFixed(1)} s: ${writes.length} writes, ${reads.length} reads (${hits} hits), `
    + `${eventCounts}, ${violations.length} stale reads, ${failures.length} failed requests`
    + (proxyCuts.count > cutsBefore ? `, ${proxyCuts.count - cutsBefore} asked again after wrangler dev's proxy cut them` : '');
  const out = refetchers.map(({ region, sse: s, events: e, pending }) => ({ region, sse: s, events: e, refetches: pending.length }));
  return { writes, reads, failures, events, violations, hits, seconds, summary, refetches: out[0].refetches, sse, refetchers: out };
}

// --- command line ------------------------------------------------------------

async function main() {
  const { values: args } = parseArgs({
    options: {
      backend: { type: 'string', default: 'all' },
      seconds: { type: 'string', default: '10' },
      url: { type: 'string' },
      editor: { type: 'string', multiple: true },
      origin: { type: 'boolean', default: false },
      'origin-latency-ms': { type: 'string', default: '20' },
      'origin-write-latency-ms': { type: 'string', default: '50' },
      token: { type: 'string', multiple: true },
      regions: { type: 'string' },
      'region-header': { type: 'string', default: REGION_HEADER },
      json: { type: 'boolean', default: false },
    },
  });
  const runMs = Math.max(1, Number(args.seconds)) * 1000;
  // --regions A,B,C: writers in A, readers in B and C (the edge tier's EDGE_REGIONS).
  const hints = args.regions?.split(',').map((r) => r.trim()).filter(Boolean) ?? [];
  if (args.regions && hints.length < 2) throw new Error('--regions needs two regions or more: the writers\' and the readers\'');
  const regions = hints.length ? { header: args['region-header'], writers: hints[0], readers: hints.slice(1) } : undefined;
  const vars = regions ? { ...edgeVars({ regions: hints }), EDGE_REGION_HEADER: regions.header } : {};
  const api = args.origin ? ORIGIN_API : D1_API;
  const rows = [];
  if (args.url && args.origin) {
    // Origin mode: polycache forwards the writes' bearer tokens to the origin, which decides.
    const worker = { url: args.url.replace(/\/$/, '') };
    const tokens = args.token ?? [EDITOR_TOKEN];
    const health = await request(worker, 'GET', '/api/health');
    rows.push({ backend: health.json?.backend ?? '?', ...(await runConsistency(worker, { tokens, api, runMs, regions })) });
  } else if (args.url) {
    const worker = { url: args.url.replace(/\/$/, '') };
    const creds = (args.editor ?? []).map((s) => ({ email: s.slice(0, s.indexOf(':')), password: s.slice(s.indexOf(':') + 1) }));
    if (!creds.length) throw new Error('--url needs at least one --editor EMAIL:PASSWORD');
    const tokens = await Promise.all(creds.map((c) => login(worker, c)));
    const health = await request(worker, 'GET', '/api/health');
    rows.push({ backend: health.json?.backend ?? '?', ...(await runConsistency(worker, { tokens, runMs, regions })) });
  } else {
    const { startWorker } = await import('../common/harness.mjs');
    const { startUpstash } = await import('../common/redis.mjs');
    const backends = args.backend === 'all' ? ['memory', 'kv', 'upstash', 'cache'] : [args.backend];
    for (const backend of backends) {
      process.stderr.write(`consistency: starting wrangler dev with CACHE_BACKEND=${backend}${args.origin ? ' in origin mode' : ''} ...\n`);
      const up = backend === 'upstash' ? await startUpstash() : null;
      const origin = args.origin ? await startOrigin({
        latencyMs: Number(args['origin-latency-ms']), writeLatencyMs: Number(args['origin-write-latency-ms']),
      }) : null;
      let worker;
      try {
        worker = await startWorker({
          vars: { INSTANCE_ID: `consistency-${backend}`, CACHE_BACKEND: backend, ...vars, ...(up?.vars() ?? {}), ...(origin?.vars() ?? {}) },
        });
        const tokens = origin ? [EDITOR_TOKEN] : [await login(worker, EDITOR), await login(worker, EDITOR2), await login(worker, ADMIN)];
        rows.push({ backend, ...(await runConsistency(worker, { tokens, api, runMs, regions })) });
      } finally {
        await worker?.dispose();
        await up?.dispose();
        await origin?.close();
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
