// Stream renewal: after SSE_MAX_WRITES writes (8 here; each stream at a
// random count between half of that and that) the Hub ends a stream with
// `event: renew` and a short `retry:`, and a client that reconnects with Last-Event-ID, as
// browsers and the CLI do, misses nothing and sees nothing twice. The Hub
// renews streams because workerd keeps about 96 bytes per write of a
// stream until the stream ends (durable_objects/src/js/streams.js).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { SERVICE } from '../common/accounts.mjs';
import { login, status, waitUntil, invalidate } from '../common/api.mjs';
import { connect } from '../common/sse.mjs';
import { startCli } from '../common/cli.mjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MAX_WRITES = 8;
let worker;
let service;

before(async () => {
  // No heartbeat during a test: every write is an event.
  worker = await startWorker({ vars: { INSTANCE_ID: 'renewal-test', SSE_MAX_WRITES: String(MAX_WRITES), SSE_HEARTBEAT_SECS: '90' } });
  service = await login(worker, SERVICE);
});
after(async () => { await worker?.dispose(); });

const event = (i) => invalidate(worker, service, { type: 'posts', id: i + 1, action: 'update' });

test('streams opened together end after write counts spread from half of SSE_MAX_WRITES to SSE_MAX_WRITES, each asking for a quick reconnect', { timeout: 90_000 }, async (t) => {
  // Each stream draws its count of writes uniformly from MAX_WRITES/2 to
  // MAX_WRITES (K = 5 counts here), so that visitors who connected
  // together do not all reconnect on the same write. With N = 100 streams a
  // correct Hub fails this only if one of the 5 counts is drawn by none of
  // them (inclusion-exclusion: 1.0e-9) or by more than half (union bound
  // over the 5 counts of P(Binomial(100, 1/5) > 50): 2.6e-11): about 1e-9
  // in all. Streams that all end on the same write fail both.
  const N = 100;
  const LANES = 10;
  const streams = [];
  try {
    await Promise.all(Array.from({ length: LANES }, async () => {
      for (let i = 0; i < N / LANES; i++) streams.push(await connect(`${worker.url}/api/stream`));
    }));
    await waitUntil(async () => (await status(worker)).subscribers === N, { timeoutMs: 10_000, what: `${N} subscribers` });
    // The preamble was the first write; at most MAX_WRITES - 1 events fit.
    for (let i = 0; i < MAX_WRITES && streams.some((s) => !s.ended); i++) {
      const { eventId } = await event(i);
      await Promise.all(streams.map((s) => s.waitUntil(() => s.ended || s.events.some((e) => e.json?.id === eventId), 10_000, `event ${eventId} or the end`)));
    }
    const counts = [];
    for (const s of streams) {
      assert.ok(s.ended, `every stream ended within ${MAX_WRITES} writes: ${s.describe()}`);
      assert.equal(s.error, null, 'the stream ends cleanly, not with an error');
      assert.equal(s.retry, 250, 'the stream ends with a short retry');
      assert.equal(s.events.at(-1).type, 'renew', 'and a renew event last');
      counts.push(s.ofType('app-update').length);
    }
    const byCount = new Map();
    for (const c of counts) byCount.set(c, (byCount.get(c) ?? 0) + 1);
    const histogram = JSON.stringify(Object.fromEntries([...byCount].sort((x, y) => x[0] - y[0])));
    t.diagnostic(`streams by events before their renewal: ${histogram}`);
    // MAX_WRITES/2..MAX_WRITES writes are MAX_WRITES/2 - 1..MAX_WRITES - 1 events.
    const expected = Array.from({ length: MAX_WRITES / 2 + 1 }, (_, i) => MAX_WRITES / 2 - 1 + i);
    assert.deepEqual([...byCount.keys()].sort((x, y) => x - y), expected, `events before the renewal, each count from ${MAX_WRITES / 2 - 1} to ${MAX_WRITES - 1} drawn: ${histogram}`);
    const largest = Math.max(...byCount.values());
    assert.ok(largest <= N / 2, `at most half of the streams renewed on the same write, not ${largest}: ${histogram}`);
  } finally {
    for (const s of streams) s.close();
  }
  // An ended stream is no subscriber any more.
  await waitUntil(async () => (await status(worker)).subscribers === 0, { timeoutMs: 10_000, what: 'no subscribers' });
});

test('a client that reconnects with Last-Event-ID gets every event once, in order, across renewals', { timeout: 60_000 }, async () => {
  const EVENTS = 40;
  // It follows the stream as a browser does: when the stream ends, it
  // waits the server's retry and reconnects with the last id it saw.
  const s = await connect(`${worker.url}/api/stream`, { follow: true });
  try {
    const ids = [];
    for (let i = 0; i < EVENTS; i++) {
      ids.push((await event(i)).eventId);
      await s.waitForId(ids.at(-1));
    }
    assert.deepEqual(s.ofType('app-update').map((e) => e.json.id), ids, 'every event exactly once, in order');
    // The last event may have ended a stream too: the client is then back
    // after the 250 ms retry. One client, one subscriber.
    await waitUntil(async () => (await status(worker)).subscribers === 1, { timeoutMs: 5000, what: 'one subscriber' });
    assert.equal((await status(worker)).subscribers, 1, 'one client, one subscriber');
    assert.equal(s.ofType('renew').length, s.resumes, 'each reconnect followed a renew');
    assert.ok(s.resumes >= Math.floor(EVENTS / (MAX_WRITES - 1)), `renewed ${s.resumes} times over ${EVENTS} events`);
  } finally {
    s.close();
  }
});

test('polycache tail follows renewals: every event printed once, in order, and the renewal told on stderr', { timeout: 90_000 }, async () => {
  const EVENTS = 20;
  const config = mkdtempSync(join(tmpdir(), 'polycache-renewal-'));
  const tail = startCli(['tail', '--url', worker.url, '--json', '--count', String(EVENTS), '--max-seconds', '60'], { configDir: config, timeoutMs: 80_000 });
  try {
    await waitUntil(() => /^following /m.test(tail.out().stderr), { timeoutMs: 20_000, what: 'tail connected' });
    const ids = [];
    for (let i = 0; i < EVENTS; i++) ids.push((await event(i)).eventId);
    const { code, stdout, stderr } = await tail.done;
    assert.equal(code, 0, `tail exits 0 after --count events\nstdout: ${stdout}\nstderr: ${stderr}`);
    const printed = stdout.trim().split('\n').map((l) => JSON.parse(l).id);
    assert.deepEqual(printed, ids, 'every event once, in order');
    assert.match(stderr, /renewing this stream/, 'the renewal is told as status');
    assert.match(stderr, /^reconnected to /m, 'and the tail reconnected');
  } finally {
    tail.child.kill('SIGKILL');
    rmSync(config, { recursive: true, force: true });
  }
});

test('a plain EventSource that saw no event before its stream was renewed misses nothing: a fresh hello carries the id to resume from', { timeout: 60_000 }, async () => {
  // Renewed after one write, the first heartbeat (1 s): the stream ends
  // before any event has given the client an id of its own.
  const quiet = await startWorker({ vars: { INSTANCE_ID: 'renewal-quiet', SSE_MAX_WRITES: '2', SSE_HEARTBEAT_SECS: '1' } });
  // SseClient with follow resumes exactly as EventSource does: with the
  // last `id:` it saw as Last-Event-ID, and none if it saw none.
  const token = await login(quiet, SERVICE);
  const s = await connect(`${quiet.url}/api/stream`, { follow: true });
  try {
    await s.waitUntil(() => s.resumes === 1, 10_000, 'the renewal');
    assert.equal(s.ofType('app-update').length, 0, 'no event before the renewal');
    // Sent while the client waits its 250 ms retry: no stream of it is open.
    const { eventId } = await invalidate(quiet, token, { type: 'posts', id: 1, action: 'update' });
    await s.waitForId(eventId, 10_000);
    assert.deepEqual(s.ofType('app-update').map((e) => e.json.id), [eventId], 'the event of the gap, once');
  } finally {
    s.close();
    await quiet.dispose();
  }
});
