// An object's stream registry (durable_objects/src/js/streams.js) on Node's
// own ReadableStream, for what the runtime tests cannot reach in bounded
// time: a client that stops reading. Over a socket, the kernel's buffers
// (megabytes on loopback) would take tens of thousands of events to fill
// before the Hub's queue even starts to grow; here the queue is the Hub's
// own, as workerd gives it, and the policy under test is ours.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { StreamRegistry, MAX_PENDING_BYTES } from '../../durable_objects/src/js/streams.js';

// Each test is one object: a registry of its own.
let registry;
beforeEach(() => { registry = new StreamRegistry(); });
// open(tag, addr, preamble, heartbeatMs, queueBytes, maxWrites, coalesceMs)
const openStream = (...args) => registry.open(...args);
const closeStream = (id) => registry.close(id);
const broadcast = (tags, bytes) => registry.broadcast(tags, bytes);
const countStreams = () => registry.count;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HELLO = encoder.encode('retry: 2000\nevent: hello\ndata: {}\n\n');
const event = (id) => encoder.encode(`id: ${id}\nevent: app-update\ndata: {"id":${id}}\n\n`);
// No heartbeat and no renewal within a test.
const QUIET_MS = 3_600_000;
const NO_RENEWAL = 1_000_000;
const ADDR = '127.0.0.1';
const MIB = 1 << 20;

/** Reads a stream to its end; resolves with its text, or rejects with its error. */
async function readAll(body) {
  let text = '';
  for await (const chunk of body) text += decoder.decode(chunk, { stream: true });
  return text;
}

/**
 * The timers that keep this process alive (Node lists a ref'd timer as a
 * `Timeout` resource; node:test's own timers are unref'd): a heartbeat
 * left running after its last stream would keep the Hub's isolate busy,
 * and here would keep `node --test` from ever ending.
 */
const liveTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
const TIMERS_AT_START = liveTimers();

// Whatever a test did, it leaves no stream and no timer behind: the
// renewal and the slow-client cut remove streams on paths of their own.
afterEach(() => {
  assert.equal(countStreams(), 0, 'no stream left open');
  assert.equal(liveTimers(), TIMERS_AT_START, 'no timer left running once every stream is gone');
});

/** Resolves once check() holds; rejects after timeoutMs. */
async function until(check, timeoutMs, what) {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a client that stops reading is cut once more than SSE_QUEUE_BYTES wait; the others go on', async (t) => {
  const LIMIT = 4;
  // The bound in bytes: the hello and LIMIT events fit, one more does not.
  const bytes = HELLO.byteLength + LIMIT * event(1).byteLength;
  const slow = openStream('all', ADDR, HELLO, QUIET_MS, bytes, NO_RENEWAL, 0);
  const fast = openStream('all', ADDR, HELLO, QUIET_MS, bytes, NO_RENEWAL, 0);
  // Whatever fails below, the next tests start with no stream open.
  t.after(() => { closeStream(slow.id); closeStream(fast.id); });
  const fastText = readAll(fast.body);
  assert.equal(countStreams(), 2);
  // The slow one's queue holds the hello and then the events; the event
  // that would take it past the bound cuts it.
  const sent = [];
  for (let id = 1; id <= LIMIT + 3; id++) {
    sent.push(broadcast(['all'], event(id)));
    await new Promise((r) => setImmediate(r)); // the fast reader reads meanwhile
  }
  assert.deepEqual(sent, [2, 2, 2, 2, 1, 1, 1], 'sent to both until the slow stream was cut');
  assert.equal(countStreams(), 1, 'the slow stream is no subscriber any more');
  await assert.rejects(readAll(slow.body), /slow client: queue limit reached/, 'its client sees the stream fail (and resumes with Last-Event-ID)');
  assert.equal(closeStream(slow.id), false, 'already forgotten');

  assert.equal(closeStream(fast.id), true);
  const text = await fastText;
  for (let id = 1; id <= LIMIT + 3; id++) assert.ok(text.includes(`id: ${id}\n`), `the reading client got event ${id}`);
  assert.equal(countStreams(), 0);
});

test('streams opened together are renewed at counts spread from half of SSE_MAX_WRITES to SSE_MAX_WRITES, each ending with retry and renew', async () => {
  // Each stream draws its count of writes uniformly from the K = MAX/2 + 1
  // values MAX/2..MAX, so that the streams of one moment (the visitors of a
  // restart, say) do not all come back on the same write. With N = 500
  // streams a correct registry fails this test only if one of the K = 11
  // counts is drawn by none of them (inclusion-exclusion over the 11
  // counts: 2.2e-20) or by more than a fifth of them (union bound over the
  // 11 counts of P(Binomial(500, 1/11) > 100): 2.9e-13): less than 3e-13
  // in all. A registry that gives every stream the same count fails both.
  const MAX = 20;
  const N = 500;
  const streams = Array.from({ length: N }, () => openStream('all', ADDR, HELLO, QUIET_MS, MIB, MAX, 0));
  const texts = Promise.all(streams.map((s) => readAll(s.body)));
  let id = 0;
  // The preamble is the first write; at most MAX - 1 events fit.
  while (countStreams() > 0 && id < MAX) broadcast(['all'], event(++id));
  assert.equal(countStreams(), 0, `every stream renewed within ${MAX} writes (events sent: ${id})`);
  const counts = [];
  for (const text of await texts) {
    assert.ok(text.endsWith('retry: 250\nevent: renew\ndata: {}\n\n'), `ends with the renewal: ${JSON.stringify(text.slice(-60))}`);
    counts.push((text.match(/^event: app-update$/gm) ?? []).length);
  }
  const byCount = new Map();
  for (const c of counts) byCount.set(c, (byCount.get(c) ?? 0) + 1);
  const histogram = JSON.stringify(Object.fromEntries([...byCount].sort((a, b) => a[0] - b[0])));
  // Writes = events + the preamble: MAX/2..MAX writes are MAX/2 - 1..MAX - 1 events.
  const expected = Array.from({ length: MAX / 2 + 1 }, (_, i) => MAX / 2 - 1 + i);
  assert.deepEqual([...byCount.keys()].sort((a, b) => a - b), expected, `events before the renewal, each count from ${MAX / 2 - 1} to ${MAX - 1} drawn: ${histogram}`);
  const largest = Math.max(...byCount.values());
  assert.ok(largest <= N / 5, `at most a fifth of the streams renewed on the same write, not ${largest}: ${histogram}`);
});

test('the heartbeat writes a ping to every stream and is gone when the last stream goes', async () => {
  const a = openStream('posts', ADDR, HELLO, 20, MIB, NO_RENEWAL, 0);
  const b = openStream('pages', ADDR, HELLO, 20, MIB, NO_RENEWAL, 0);
  let textA = '';
  let textB = '';
  const pings = (text) => (text.match(/^: ping$/gm) ?? []).length;
  const follow = async (body, add) => { for await (const chunk of body) add(decoder.decode(chunk, { stream: true })); };
  const done = [follow(a.body, (t) => { textA += t; }), follow(b.body, (t) => { textB += t; })];
  assert.ok(liveTimers() > TIMERS_AT_START, 'the heartbeat runs while streams are open');
  await until(() => pings(textA) >= 2 && pings(textB) >= 2, 5000, 'two pings on each stream');
  closeStream(a.id);
  assert.ok(liveTimers() > TIMERS_AT_START, 'and goes on while a stream is open');
  closeStream(b.id);
  await Promise.all(done);
  // A timer left behind fails here (and afterEach), and the runner's
  // --test-timeout (scripts/test.sh) ends the process it would keep alive.
  assert.equal(liveTimers(), TIMERS_AT_START, 'the heartbeat timer is gone with the last stream');
});

test('two objects in one isolate keep their own streams, heartbeat and settings', async () => {
  // wrangler dev runs every Durable Object in one isolate, and Cloudflare
  // may too: module state would be shared by them all.
  const hub = new StreamRegistry();
  const edge = new StreamRegistry();
  const onHub = hub.open('all', ADDR, HELLO, QUIET_MS, MIB, NO_RENEWAL, 0);
  const onEdge = edge.open('all', ADDR, HELLO, 20, 1024, NO_RENEWAL, 0);
  const hubText = readAll(onHub.body);
  const edgeText = readAll(onEdge.body);
  assert.equal(hub.count, 1);
  assert.equal(edge.count, 1);
  assert.equal(hub.broadcast(['all'], event(1)), 1, "an event of one object reaches only that object's streams");
  // The edge's 20 ms heartbeat pings its stream; the hub's stream, with
  // an hour's heartbeat, hears nothing meanwhile.
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(edge.close(onEdge.id), true);
  assert.equal(hub.count, 1, "closing one object's stream leaves the other's open");
  assert.equal(hub.close(onHub.id), true);
  const [h, e] = await Promise.all([hubText, edgeText]);
  assert.ok(h.includes('id: 1\n'), 'the hub stream got its event');
  assert.ok(!e.includes('id: 1\n'), 'the edge stream did not');
  assert.ok(/^: ping$/m.test(e), 'the edge heartbeat ran');
  assert.ok(!/^: ping$/m.test(h), 'with its own period: the hub stream got no ping');
  assert.equal(liveTimers(), TIMERS_AT_START, 'both timers are gone with their last streams');
});

/** The events of a stream's text, in order. */
const ids = (text) => [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));

/** Reads a stream to its end; resolves with its chunks as texts. */
async function readChunks(body) {
  const chunks = [];
  for await (const chunk of body) chunks.push(decoder.decode(chunk));
  return chunks;
}

const WINDOW_MS = 20;

test('a burst within the coalescing window goes to each stream as one chunk, each event in order, filters kept', async (t) => {
  const all = openStream('all', ADDR, HELLO, QUIET_MS, MIB, NO_RENEWAL, WINDOW_MS);
  const posts = openStream('posts', ADDR, HELLO, QUIET_MS, MIB, NO_RENEWAL, WINDOW_MS);
  t.after(() => { closeStream(all.id); closeStream(posts.id); });
  const chunksAll = readChunks(all.body);
  const chunksPosts = readChunks(posts.body);
  // 50 events, every other one a post: sent in the same turn, nothing written yet.
  for (let id = 1; id <= 50; id++) registry.publish(id % 2 ? ['all', 'posts'] : ['all'], event(id));
  assert.deepEqual(registry.stats, [0, 0], 'nothing written before the window ends');
  await until(() => registry.stats[0] === 2, 2000, 'the coalesced writes');
  assert.deepEqual(registry.stats, [2, 75], 'one chunk per stream: 50 events on one, 25 on the other');
  closeStream(all.id);
  closeStream(posts.id);
  const [a, p] = await Promise.all([chunksAll, chunksPosts]);
  assert.equal(a.length, 2, 'the hello, then one chunk');
  assert.deepEqual(ids(a[1]), Array.from({ length: 50 }, (_, i) => i + 1), 'all 50 ids in order');
  assert.deepEqual(ids(p[1]), Array.from({ length: 25 }, (_, i) => 2 * i + 1), 'only the posts, in order');
  for (const frame of a[1].split('\n\n').filter(Boolean)) {
    assert.match(frame, /^id: \d+\nevent: app-update\ndata: \{"id":\d+\}$/, 'each event keeps its own lines');
  }
});

test('coalescing is bounded: 0 sends at once, MAX_PENDING_BYTES sends without waiting, a lone event waits one window', async (t) => {
  const off = new StreamRegistry();
  const a = off.open('all', ADDR, HELLO, QUIET_MS, MIB, NO_RENEWAL, 0);
  off.publish(['all'], event(1));
  off.publish(['all'], event(2));
  assert.deepEqual(off.stats, [2, 2], 'window 0: each event its own chunk, written at once');
  off.close(a.id);
  assert.deepEqual(ids((await readChunks(a.body)).join('')), [1, 2]);

  // A long window, so that only the byte bound can send before it ends.
  const s = openStream('all', ADDR, HELLO, QUIET_MS, 64 * MIB, NO_RENEWAL, 60_000);
  t.after(() => closeStream(s.id));
  const chunks = readChunks(s.body);
  const big = encoder.encode(`id: 1\nevent: app-update\ndata: ${'x'.repeat(1000)}\n\n`);
  const fit = Math.floor((MAX_PENDING_BYTES - 1) / big.byteLength);
  for (let i = 0; i < fit; i++) registry.publish(['all'], big);
  assert.equal(registry.stats[0], 0, `${fit} events (${fit * big.byteLength} bytes) wait`);
  registry.publish(['all'], big);
  assert.deepEqual(registry.stats, [1, fit + 1], `the event past ${MAX_PENDING_BYTES} bytes sends them all at once`);

  // A lone event goes once the window has passed since it came, not later.
  const windowed = new StreamRegistry();
  const w = windowed.open('all', ADDR, HELLO, QUIET_MS, MIB, NO_RENEWAL, WINDOW_MS);
  const started = performance.now();
  windowed.publish(['all'], event(7));
  await until(() => windowed.stats[0] === 1, 2000, 'the lone event');
  const waited = performance.now() - started;
  assert.ok(waited >= WINDOW_MS - 1, `it waited the window (${waited.toFixed(1)} ms)`);
  windowed.close(w.id);
  closeStream(s.id);
  assert.equal((await chunks).length, 2, 'the hello and one chunk');
});

test('pending events go out before a new stream opens and before a reset, so that no stream sees one twice or out of order', async (t) => {
  const old = openStream('all', ADDR, HELLO, QUIET_MS, MIB, NO_RENEWAL, 60_000);
  t.after(() => closeStream(old.id));
  const oldChunks = readChunks(old.body);
  registry.publish(['all'], event(1));
  // The new stream's preamble (its replay) already has event 1.
  const fresh = openStream('all', ADDR, HELLO, QUIET_MS, MIB, NO_RENEWAL, 60_000);
  t.after(() => closeStream(fresh.id));
  assert.deepEqual(registry.stats, [1, 1], 'event 1 went to the old stream only, at the opening');
  const freshChunks = readChunks(fresh.body);
  registry.publish(['all'], event(2));
  registry.broadcast(['all'], encoder.encode('id: 2\nevent: reset\ndata: {}\n\n'));
  closeStream(old.id);
  closeStream(fresh.id);
  const o = (await oldChunks).join('');
  const f = (await freshChunks).join('');
  assert.match(o, /id: 1\n[^]*id: 2\nevent: app-update[^]*event: reset/, 'old: 1, 2, then the reset');
  assert.match(f, /id: 2\nevent: app-update[^]*event: reset/, 'fresh: 2, then the reset');
  assert.ok(!/id: 1\n/.test(f), 'fresh never got event 1 live');
});

test('streams are counted per client address, and forgotten when they close', () => {
  const a = openStream('all', 'one', HELLO, QUIET_MS, MIB, NO_RENEWAL, 0);
  const b = openStream('posts', 'one', HELLO, QUIET_MS, MIB, NO_RENEWAL, 0);
  const c = openStream('all', 'two', HELLO, QUIET_MS, MIB, NO_RENEWAL, 0);
  assert.equal(registry.countFor('one'), 2);
  assert.equal(registry.countFor('two'), 1);
  closeStream(a.id);
  closeStream(c.id);
  assert.equal(registry.countFor('one'), 1);
  assert.equal(registry.countFor('two'), 0);
  closeStream(b.id);
  assert.equal(registry.countFor('one'), 0);
});
