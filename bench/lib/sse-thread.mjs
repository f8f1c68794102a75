// One worker thread of the load client: holds `count` SSE streams on raw
// `net` sockets and timestamps every app-update as it arrives.
//
// Cheap on purpose, because it shares two cores with the server it measures:
// one hand-written HTTP/1.1 GET per socket, a de-chunker and a line scanner
// that keep only the `event` and `id` fields (the data is looked at only when
// an event has no `id:`), no EventSource, no fetch, no per-event objects
// beyond a few short strings. A receipt is recorded in a Float64Array per
// event id (one slot per stream), timestamped with the process-wide monotonic
// clock (process.hrtime) so that the main thread's send times compare.
//
// With regions (polycache's edge tier, EDGE_REGION_HEADER), stream i of the
// whole load (this thread's `offset` + its index here) sends the header with
// regions[i % regions.length], so that the streams spread evenly over the
// regions whatever the number of threads.
//
// Messages from the main thread: {cmd: 'connect'} | {cmd: 'progress'} |
// {cmd: 'collect'} | {cmd: 'close'}; each is answered with one message.
import { connect as netConnect } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { nowMs } from './clock.mjs';

const {
  host, port, path, count, inflight, connectTimeoutMs, connectBudgetMs, offset = 0, regions = [], regionHeader = null,
} = workerData;
/** The region of stream `index` of this thread (null without regions). */
const regionOf = (index) => (regions.length && regionHeader ? regions[(offset + index) % regions.length] : null);
/** The stream's GET, with Last-Event-ID when resuming after a renewal, as EventSource sends it. */
const request = (region, lastId) => Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nAccept: text/event-stream\r\n`
  + `Cache-Control: no-cache\r\n${region ? `${regionHeader}: ${region}\r\n` : ''}${lastId ? `Last-Event-ID: ${lastId}\r\n` : ''}\r\n`, 'latin1');
/** The first GET of each region (or the one GET without regions), built once. */
const FIRST = new Map();
const firstRequest = (index) => {
  const region = regionOf(index);
  if (!FIRST.has(region)) FIRST.set(region, request(region, ''));
  return FIRST.get(region);
};

/** receipts: event id -> Float64Array(count), 0 where not (yet) received. */
let receipts = new Map();
let received = 0; // app-updates received, first copy of each (stream, id) only
let duplicates = 0;
// Per stream since the last collect: app-updates that came twice or after a
// higher id (the burst rows count a stream's burst as delivered only when
// every event came once and in order).
let anomalies = new Uint32Array(count);
// Per stream: the highest app-update id seen, to tell an event out of order.
const lastAppId = new Float64Array(count);
let helloCount = 0;
let failed = 0; // streams that never saw their hello
let lostAfterHello = 0; // streams that ended after their hello (a renewal excepted)
let resumes = 0; // renewed streams opened again with Last-Event-ID
const errors = new Map(); // message -> count, for the report
const streams = [];

function noteError(msg) {
  errors.set(msg, (errors.get(msg) ?? 0) + 1);
}

function receipt(index, idText, at) {
  const id = Number(idText);
  if (!Number.isInteger(id)) return;
  let slots = receipts.get(id);
  if (!slots) {
    slots = new Float64Array(count);
    receipts.set(id, slots);
  }
  if (slots[index] !== 0) { duplicates++; anomalies[index]++; return; }
  slots[index] = at;
  received++;
  if (id < lastAppId[index]) anomalies[index]++;
  else lastAppId[index] = id;
}

/** One stream: the socket and its parser state. */
class Stream {
  constructor(index, onHello, onFail) {
    this.index = index;
    this.onHello = onHello;
    this.onFail = onFail;
    this.head = ''; // response head until the blank line
    this.inBody = false;
    this.chunked = false;
    this.remain = 0; // bytes left in the current chunk
    this.sizeLine = '';
    this.line = ''; // partial SSE line
    this.event = '';
    this.id = '';
    this.data = '';
    this.hello = false;
    this.done = false;
    this.lastId = ''; // the last `id:` seen, sent back as Last-Event-ID
    this.renewed = false; // the server said `event: renew` before ending
    this.retryMs = 2000;
    this.timer = setTimeout(() => this.fail('no hello in time'), connectTimeoutMs);
    this.open(firstRequest(index));
  }

  open(request) {
    const socket = netConnect({ host, port, noDelay: true });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (buf) => { if (socket === this.socket) this.onData(buf); });
    socket.on('error', (e) => { if (socket === this.socket) this.fail(e.code ?? e.message); });
    socket.on('close', () => { if (socket === this.socket) this.fail('closed'); });
  }

  /**
   * A renewed stream (polycache's Hub ends each stream after some writes,
   * with `event: renew`): opened again after its `retry:` with
   * Last-Event-ID, as a browser's EventSource does; the events of the gap
   * come as a replay and count at their receipt.
   */
  resume() {
    const old = this.socket;
    this.socket = null;
    old?.destroy();
    Object.assign(this, { head: '', inBody: false, chunked: false, remain: 0, sizeLine: '', line: '', event: '', id: '', data: '', renewed: false });
    resumes++;
    setTimeout(() => { if (!closing && !this.done) this.open(request(regionOf(this.index), this.lastId)); }, this.retryMs);
  }

  fail(why) {
    if (this.done) return;
    if (this.hello && this.renewed && !closing) { this.resume(); return; }
    this.done = true;
    clearTimeout(this.timer);
    this.socket.destroy();
    if (this.hello) {
      if (!closing) { lostAfterHello++; noteError(`after hello: ${why}`); }
    } else {
      failed++;
      noteError(why);
      this.onFail();
    }
  }

  onData(buf) {
    const at = nowMs();
    let s = buf.toString('latin1');
    if (!this.inBody) {
      this.head += s;
      const end = this.head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.head.length > 16384) this.fail('response head too long');
        return;
      }
      const head = this.head.slice(0, end);
      s = this.head.slice(end + 4);
      this.head = '';
      this.inBody = true;
      const status = head.slice(9, 12);
      if (status !== '200') { this.fail(`HTTP ${status}`); return; }
      this.chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head);
    }
    if (this.chunked) this.dechunk(s, at);
    else this.scan(s, at);
  }

  dechunk(s, at) {
    let i = 0;
    while (i < s.length) {
      if (this.remain > 0) {
        const take = Math.min(this.remain, s.length - i);
        this.scan(take === s.length && i === 0 ? s : s.slice(i, i + take), at);
        i += take;
        this.remain -= take;
        continue;
      }
      // A size line (the CRLF that ends a chunk's data reads as an empty one).
      const nl = s.indexOf('\n', i);
      if (nl < 0) { this.sizeLine += s.slice(i); return; }
      const line = (this.sizeLine + s.slice(i, nl)).trim();
      this.sizeLine = '';
      i = nl + 1;
      if (line === '') continue;
      const size = parseInt(line, 16);
      if (size === 0) { this.fail('stream ended'); return; }
      if (!(size > 0)) { this.fail('bad chunk size'); return; }
      this.remain = size;
    }
  }

  scan(s, at) {
    let text = this.line + s;
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      let end = nl;
      if (end > start && text.charCodeAt(end - 1) === 13) end--;
      this.field(text, start, end, at);
      start = nl + 1;
    }
    this.line = start === 0 ? text : text.slice(start);
  }

  field(text, start, end, at) {
    if (end === start) { this.dispatch(at); return; }
    const c = text.charCodeAt(start);
    if (c === 58) return; // ':' a comment (heartbeat)
    const colon = text.indexOf(':', start);
    if (colon < 0 || colon > end) return;
    let v = colon + 1;
    if (text.charCodeAt(v) === 32) v++;
    const name = text.slice(start, colon);
    if (name === 'event') this.event = text.slice(v, end);
    else if (name === 'id') this.id = text.slice(v, end);
    else if (name === 'retry') this.retryMs = Number(text.slice(v, end)) || this.retryMs;
    else if (name === 'data' && this.data === '') this.data = text.slice(v, Math.min(end, v + 64));
  }

  dispatch(at) {
    const { event, id, data } = this;
    this.event = '';
    this.id = '';
    this.data = '';
    // As EventSource: any event's `id:` is what a reconnect sends back (a
    // fresh stream's hello carries one).
    if (id !== '') this.lastId = id;
    if (event === 'app-update') {
      receipt(this.index, id !== '' ? id : (/"id":(\d+)/.exec(data)?.[1] ?? ''), at);
    } else if (event === 'renew') {
      this.renewed = true;
    } else if (event === 'hello' && !this.hello) {
      this.hello = true;
      clearTimeout(this.timer);
      helloCount++;
      this.onHello();
    }
  }
}

let closing = false;

function connectAll() {
  return new Promise((resolve) => {
    const started = nowMs();
    let next = 0;
    let settled = 0;
    const finished = () => {
      settled++;
      if (next < count) open();
      if (settled === count) resolve({ ms: nowMs() - started });
    };
    const open = () => {
      if (nowMs() - started > connectBudgetMs) {
        // Out of time: the streams not yet opened count as failed, at once.
        const left = count - next;
        next = count;
        failed += left;
        errors.set('connect budget exhausted', (errors.get('connect budget exhausted') ?? 0) + left);
        settled += left - 1;
        finished();
        return;
      }
      const i = next++;
      streams[i] = new Stream(i, finished, finished);
    };
    if (count === 0) { resolve({ ms: 0 }); return; }
    for (let k = 0; k < Math.min(inflight, count); k++) open();
  });
}

function progress() {
  return { helloCount, failed, lostAfterHello, resumes, received, duplicates, errors: Object.fromEntries(errors) };
}

parentPort.on('message', async (msg) => {
  switch (msg.cmd) {
    case 'connect': {
      const { ms } = await connectAll();
      parentPort.postMessage({ ...progress(), ms });
      break;
    }
    case 'progress':
      parentPort.postMessage(progress());
      break;
    case 'collect': {
      const ids = [...receipts.keys()];
      const arrays = ids.map((id) => receipts.get(id));
      const streamAnomalies = anomalies;
      receipts = new Map();
      anomalies = new Uint32Array(count);
      const p = progress();
      received = 0;
      duplicates = 0;
      parentPort.postMessage({ ...p, ids, arrays, anomalies: streamAnomalies }, [...arrays.map((a) => a.buffer), streamAnomalies.buffer]);
      break;
    }
    case 'close': {
      closing = true;
      for (const s of streams) if (s) { s.done = true; clearTimeout(s.timer); s.socket?.destroy(); }
      streams.length = 0;
      parentPort.postMessage(progress());
      break;
    }
    default:
      parentPort.postMessage({ error: `unknown command ${msg.cmd}` });
  }
});
