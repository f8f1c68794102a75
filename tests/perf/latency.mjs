#!/usr/bin/env node
// Latency on loopback, run by hand (not by `make test`):
//   node tests/perf/latency.mjs                 starts its own `wrangler dev` (needs `make build`)
//   node tests/perf/latency.mjs --url http://127.0.0.1:8787 --editor EMAIL:PASSWORD --service EMAIL:PASSWORD
// Options: --n 300 (samples per measurement, at least 200), --json (machine-readable output too).
//
// Measures, over N samples each:
//   - read of a hit: GET /api/posts/1 answered `x-cache: hit`
//   - read of a miss: GET /api/posts/<id> right after an invalidation of posts
//     (the invalidation is not timed), answered `x-cache: miss`
//   - write to event: PATCH /api/posts/<id> by an editor, with one SSE client
//     connected; from just before sending the PATCH to the receipt of its
//     app-update (matched by x-invalidation-event), from the PATCH's
//     acknowledgement (its response headers and body read) to that receipt,
//     and the PATCH's own round trip. A negative ack->event means the event
//     arrived before the response.
// Writes are sequential: this is latency, not throughput.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { startWorker } from '../common/harness.mjs';
import { EDITOR, SERVICE } from '../common/accounts.mjs';
import { login, request, eventIdOf } from '../common/api.mjs';
import { connect } from '../common/sse.mjs';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    editor: { type: 'string' },
    service: { type: 'string' },
    n: { type: 'string', default: '300' },
    json: { type: 'boolean', default: false },
  },
});
const N = Math.max(200, Number(args.n));
const creds = (s, fallback) => {
  if (!s) return fallback;
  const i = s.indexOf(':');
  return { email: s.slice(0, i), password: s.slice(i + 1) };
};

function summary(name, samples) {
  const xs = [...samples].sort((a, b) => a - b);
  const q = (p) => xs[Math.min(xs.length - 1, Math.max(0, Math.ceil(p * xs.length) - 1))];
  return { name, n: xs.length, min: xs[0], median: q(0.5), p90: q(0.9), p99: q(0.99), max: xs.at(-1) };
}

function table(rows) {
  const cols = ['n', 'min', 'median', 'p90', 'p99', 'max'];
  const w = Math.max(...rows.map((r) => r.name.length), 12);
  const fmt = (v, c) => (c === 'n' ? String(v) : v.toFixed(2)).padStart(9);
  const lines = [`${'(ms)'.padEnd(w)} ${cols.map((c) => c.padStart(9)).join(' ')}`];
  for (const r of rows) lines.push(`${r.name.padEnd(w)} ${cols.map((c) => fmt(r[c], c)).join(' ')}`);
  return lines.join('\n');
}

async function main() {
  let worker;
  let own = false;
  if (args.url) {
    worker = { url: args.url.replace(/\/$/, '') };
  } else {
    process.stderr.write('starting wrangler dev ...\n');
    worker = await startWorker({ vars: { INSTANCE_ID: 'latency' } });
    own = true;
  }
  try {
    const editor = await login(worker, creds(args.editor, EDITOR));
    const service = await login(worker, creds(args.service, SERVICE));
    const must = (res, status, what) => {
      if (res.status !== status) throw new Error(`${what}: ${res.status} ${res.text.slice(0, 300)}`);
      return res;
    };

    // Warm-up: the first requests compile and start the Worker and the Hub.
    for (let i = 0; i < 20; i++) must(await request(worker, 'GET', '/api/posts/1'), 200, 'warm-up read');

    const hits = [];
    while (hits.length < N) {
      const res = must(await request(worker, 'GET', '/api/posts/1'), 200, 'hit read');
      if (res.headers.get('x-cache') === 'hit') hits.push(res.ms);
    }

    const misses = [];
    let notMiss = 0;
    for (let i = 0; misses.length < N; i++) {
      must(await request(worker, 'POST', '/api/cache/invalidate', { token: service, body: { type: 'posts' } }), 200, 'invalidate');
      const res = must(await request(worker, 'GET', `/api/posts/${1 + (i % 6)}`), 200, 'miss read');
      if (res.headers.get('x-cache') === 'miss') misses.push(res.ms);
      else if (++notMiss > N) throw new Error('reads after an invalidation are not misses');
    }

    const sse = await connect(`${worker.url}/api/stream?types=posts`);
    const sendToEvent = [];
    const ackToEvent = [];
    const roundTrip = [];
    try {
      for (let i = 0; i < N; i++) {
        const id = 1 + (i % 6);
        const sent = performance.now();
        const res = must(await request(worker, 'PATCH', `/api/posts/${id}`, { token: editor, body: { title: `latency ${i} ${Date.now()}` } }), 200, 'PATCH');
        const acked = performance.now();
        const ev = await sse.waitForId(eventIdOf(res), 10_000);
        sendToEvent.push(ev.at - sent);
        ackToEvent.push(ev.at - acked);
        roundTrip.push(acked - sent);
      }
    } finally {
      sse.close();
    }

    const rows = [
      summary('read, hit', hits),
      summary('read, miss', misses),
      summary('PATCH round trip', roundTrip),
      summary('send -> event', sendToEvent),
      summary('ack -> event', ackToEvent),
    ];
    console.log(`polycache latency on ${worker.url} (${own ? 'wrangler dev started by this script' : 'given instance'}), ${new Date().toISOString()}`);
    console.log(table(rows));
    const early = ackToEvent.filter((x) => x < 0).length;
    console.log(`events that arrived before their PATCH's response: ${early} of ${N}`);
    if (args.json) console.log(JSON.stringify(rows));
  } finally {
    if (own) await worker.dispose();
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
