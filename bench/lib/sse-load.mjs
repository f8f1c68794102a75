// The load client: N SSE streams to one server, split over worker threads
// (bench/lib/sse-thread.mjs), so that the main thread stays free to send the
// triggering requests on time. Bounded: at most `inflight` connections
// being opened per thread at once, a deadline for every hello, and only
// 127.0.0.1. With `regions` and `regionHeader` (polycache's edge tier under
// EDGE_REGION_HEADER), stream i of the load asks for region
// regions[i % regions.length]: the streams spread evenly over the regions.
import { Worker } from 'node:worker_threads';
import { nowMs, sleep } from './clock.mjs';

const THREAD = new URL('./sse-thread.mjs', import.meta.url);

function merge(replies) {
  const out = { helloCount: 0, failed: 0, lostAfterHello: 0, resumes: 0, received: 0, duplicates: 0, errors: {} };
  for (const r of replies) {
    for (const k of ['helloCount', 'failed', 'lostAfterHello', 'resumes', 'received', 'duplicates']) out[k] += r[k];
    for (const [msg, n] of Object.entries(r.errors)) out.errors[msg] = (out.errors[msg] ?? 0) + n;
  }
  return out;
}

export class SseLoad {
  /**
   * url: the server's base (http://127.0.0.1:P); path: the stream's path;
   * streams: how many; threads: worker threads (each gets an equal share);
   * inflight: connections being opened at once per thread; connectTimeoutMs:
   * how long one stream may take to see its hello; connectBudgetMs: after
   * this, no more streams are opened (the rest count as failed); regions
   * (hints) and regionHeader: the header each stream sends, in turn.
   */
  constructor({
    url, path, streams, threads = 2, inflight = 256, connectTimeoutMs = 60_000, connectBudgetMs = 180_000, regions = [], regionHeader = null,
  }) {
    const { hostname, port } = new URL(url);
    if (hostname !== '127.0.0.1') throw new Error(`the load client talks to 127.0.0.1 only, not ${hostname}`);
    this.streams = streams;
    this.workers = [];
    this.pending = [];
    this.regions = regionHeader ? regions : [];
    const n = Math.max(1, Math.min(threads, streams));
    let offset = 0;
    for (let t = 0; t < n; t++) {
      const count = Math.floor(streams / n) + (t < streams % n ? 1 : 0);
      const worker = new Worker(THREAD, {
        workerData: {
          host: hostname, port: Number(port), path, count, inflight, connectTimeoutMs, connectBudgetMs, offset, regions: this.regions, regionHeader,
        },
      });
      const queue = [];
      worker.on('message', (m) => queue.shift()?.resolve(m));
      worker.on('error', (e) => { for (const q of queue.splice(0)) q.reject(e); });
      worker.on('exit', (code) => { for (const q of queue.splice(0)) q.reject(new Error(`load-client thread exited ${code}`)); });
      this.workers.push({ worker, queue, count, offset });
      offset += count;
    }
  }

  /** The region stream `slot` of thread `thread` asked for (null without regions). */
  regionOf(thread, slot) {
    return this.regions.length ? this.regions[(this.workers[thread].offset + slot) % this.regions.length] : null;
  }

  ask(cmd) {
    return Promise.all(this.workers.map(({ worker, queue }) => new Promise((resolve, reject) => {
      queue.push({ resolve, reject });
      worker.postMessage({ cmd });
    })));
  }

  /** Opens every stream; resolves once each saw its hello or failed. */
  async connect() {
    const started = nowMs();
    const replies = await this.ask('connect');
    return { ...merge(replies), ms: nowMs() - started };
  }

  async progress() {
    return merge(await this.ask('progress'));
  }

  /** Waits until `expected` receipts are in, or timeoutMs passed; returns the last progress. */
  async waitReceived(expected, timeoutMs) {
    const deadline = nowMs() + timeoutMs;
    for (;;) {
      const p = await this.progress();
      if (p.received >= expected || nowMs() >= deadline) return p;
      await sleep(100);
    }
  }

  /**
   * The receipts so far: Map event id -> Array indexed by thread of
   * Float64Array (a receipt time per stream of the thread, 0 where none;
   * undefined for a thread that received none of that event), per thread a
   * Uint32Array of each stream's duplicates and out-of-order events since
   * the last collect (`anomalies`), and the counters.
   */
  async collect() {
    const replies = await this.ask('collect');
    const anomalies = replies.map((r) => r.anomalies);
    const receipts = new Map();
    replies.forEach((r, t) => {
      r.ids.forEach((id, i) => {
        if (!receipts.has(id)) receipts.set(id, new Array(replies.length));
        receipts.get(id)[t] = r.arrays[i];
      });
    });
    return { ...merge(replies), receipts, anomalies };
  }

  /** Closes every stream. */
  async close() {
    return merge(await this.ask('close'));
  }

  /** Ends the threads (their sockets with them). */
  async terminate() {
    await Promise.all(this.workers.map(({ worker }) => worker.terminate()));
  }
}
