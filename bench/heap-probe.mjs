#!/usr/bin/env node
// What the Hub's isolate keeps per stream and per write: the runtime alone
// (bench/lib/runtime-host.mjs) with workerd's inspector on, N streams, then
// events; at each reading workerd's RSS and the V8 heap in use per stream,
// and at the end the heap's biggest object kinds in a heap snapshot (which
// collects garbage first), with the streams open and after they closed.
// How the per-write promise chain of workerd's stream pump was found
// (README, "Performance"). Diagnostics only: the inspector slows the
// runtime, so no latency is read here.
//
//   node bench/heap-probe.mjs [--streams 1000] [--events 20,80,160] [--max-writes 1000000]
// --max-writes is the Hub's SSE_MAX_WRITES (default: high enough that no
// stream is renewed during the probe, so the chain shows whole).
// Bounded: 127.0.0.1 only, at most 2,000 events, 10 s per reading.
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { SseLoad } from './lib/sse-load.mjs';
import { memory } from './lib/procs.mjs';
import { sleep } from './lib/clock.mjs';
import { makeSystem, setRuntimeOptions, stopAll } from './lib/systems.mjs';
import { freePort } from '../tests/common/harness.mjs';

const { values: opt } = parseArgs({
  options: {
    streams: { type: 'string', default: '1000' },
    events: { type: 'string', default: '20,80,160' },
    'max-writes': { type: 'string', default: '1000000' },
  },
});
const N = Number(opt.streams);
const marks = opt.events.split(',').map(Number).filter((n) => n > 0 && n <= 2000).sort((a, b) => a - b);
const inspectorPort = await freePort();
setRuntimeOptions({ inspectorPort });
const system = makeSystem('runtime', { INSTANCE_ID: 'heap-probe', SSE_MAX_WRITES: opt['max-writes'], SSE_HEARTBEAT_SECS: '90' });
let ws;
let load;
try {
  await system.start();
  const [target] = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
  ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((r) => ws.once('open', r));
  // One call at a time. Miniflare's inspector proxy sends calls of its own
  // (ids from 100,000,001) and their answers reach this socket too.
  let seq = 0;
  const waiting = [];
  const chunks = [];
  ws.on('message', (m) => {
    const j = JSON.parse(m);
    if (j.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(j.params.chunk);
    else if (j.id !== undefined && j.id < 100_000_000) waiting.shift()?.(j.result ?? {});
  });
  let last = Promise.resolve();
  const cdp = (method, params = {}) => {
    last = last.then(() => new Promise((r) => { waiting.push(r); ws.send(JSON.stringify({ id: ++seq, method, params })); }));
    return last;
  };

  const rss = () => memory(system.processes()).totalKiB;
  const heapKiB = async () => (await cdp('Runtime.getHeapUsage')).usedSize / 1024;
  let sent = 0;
  const invalidate = async () => { await system.trigger('invalidate', sent, { timeoutMs: 10_000 }); sent += 1; };

  await invalidate();
  await sleep(500);
  const [rss0, heap0] = [rss(), await heapKiB()];
  const per = (now, zero) => ((now - zero) / N).toFixed(1);
  const reading = async (label) => {
    const [r, h] = [rss(), await heapKiB()];
    console.log(`| ${label} | ${per(r, rss0)} | ${per(h, heap0)} |`);
  };
  const snapshotTop = async (label) => {
    chunks.length = 0;
    await cdp('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    const snap = JSON.parse(chunks.join(''));
    const fields = snap.snapshot.meta.node_fields;
    const types = snap.snapshot.meta.node_types[0];
    const [iType, iName, iSize, width] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size'), fields.length];
    const kinds = new Map();
    for (let i = 0; i < snap.nodes.length; i += width) {
      const key = `${types[snap.nodes[i + iType]]} ${snap.strings[snap.nodes[i + iName]].slice(0, 50)}`;
      const k = kinds.get(key) ?? { count: 0, bytes: 0 };
      k.count += 1;
      k.bytes += snap.nodes[i + iSize];
      kinds.set(key, k);
    }
    console.log(`\nHeap snapshot, ${label}: the 6 biggest kinds\n\n| kind | count | KiB |\n| --- | ---: | ---: |`);
    for (const [key, k] of [...kinds].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 6)) {
      console.log(`| ${key.replace(/\|/g, '/')} | ${k.count} | ${(k.bytes / 1024).toFixed(0)} |`);
    }
  };

  console.log(`${N} streams, runtime alone with the inspector on; KiB per stream over the idle Hub\n`);
  console.log('| after | RSS | JS heap in use |\n| --- | ---: | ---: |');
  load = new SseLoad({ url: system.url, path: system.streamPath, streams: N, threads: 2 });
  const conn = await load.connect();
  if (conn.helloCount !== N) throw new Error(`${conn.helloCount}/${N} streams opened`);
  await sleep(500);
  await reading('connecting');
  const before = sent;
  for (const mark of marks) {
    while (sent - before < mark) { await invalidate(); await sleep(20); }
    await load.waitReceived(N * (sent - before), 10_000);
    await sleep(300);
    await reading(`${mark} events`);
  }
  await snapshotTop(`${sent - before} events on ${N} open streams`);
  await load.close();
  await load.terminate();
  load = null;
  // The Worker tells the Hub at the next failed write: a heartbeat is 90 s
  // here, so one more event ends them all.
  await invalidate();
  await sleep(1000);
  await snapshotTop('the streams closed');
} finally {
  await load?.terminate();
  ws?.close();
  await stopAll();
}
process.exit(0);
