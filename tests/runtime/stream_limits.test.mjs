// What an Edge gives the public on /api/stream is bounded, and a burst of
// invalidations costs each stream one write:
// - a burst of 50 invalidations sent at once reaches a stream as all 50 ids
//   in order, in fewer writes than events (the Edge's own count in
//   /api/status: streamChunks, streamEvents), and in one write per event
//   with SSE_COALESCE_MS=0;
// - streams per client address (an IPv6 client by its /64) and per Edge
//   are limited: past them 429 with retry-after, in the JSON error shape;
// - a resume from far back gets `reset` instead of a replay of megabytes.
// wrangler dev keeps a CF-Connecting-IP the client sends, which is how the
// tests pick the address a stream comes from.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { SERVICE } from '../common/accounts.mjs';
import { login, status, invalidate, sendAtOnce, waitUntil, expectError } from '../common/api.mjs';
import { streamPool } from '../common/sse.mjs';

const BURST = 50;
const PER_ADDRESS = 3;
const PER_OBJECT = 5;
const REPLAY_EVENTS = 40;

let coalescing;
let oneByOne;
let limited;
let tokens;
const pools = [];

/** A stream pool on `worker` (closed after the tests). */
function poolOf(worker) {
  const pool = streamPool(() => worker.url);
  pools.push(pool);
  return pool;
}

before(async () => {
  [coalescing, oneByOne, limited] = await Promise.all([
    startWorker({ vars: { INSTANCE_ID: 'coalesce-test' } }),
    startWorker({ vars: { INSTANCE_ID: 'one-by-one-test', SSE_COALESCE_MS: '0' } }),
    startWorker({
      vars: {
        INSTANCE_ID: 'limits-test',
        SSE_STREAMS_PER_ADDRESS: String(PER_ADDRESS),
        SSE_STREAMS_PER_OBJECT: String(PER_OBJECT),
        SSE_REPLAY_MAX_EVENTS: String(REPLAY_EVENTS),
        // A closed stream is noticed at the next write to it: within a second.
        SSE_HEARTBEAT_SECS: '1',
      },
    }),
  ]);
  tokens = new Map();
  for (const w of [coalescing, oneByOne, limited]) tokens.set(w, await login(w, SERVICE));
});
after(async () => {
  for (const pool of pools) pool.closeAll();
  await Promise.all([coalescing, oneByOne, limited].map((w) => w?.dispose()));
});

/** 50 invalidations of distinct posts sent at the same moment over 10 connections. */
function burst(worker) {
  const token = tokens.get(worker);
  const requests = Array.from({ length: BURST }, (_, i) => ({
    method: 'POST',
    path: '/api/cache/invalidate',
    token,
    body: { type: 'posts', id: i + 1, action: 'update', mirror: false },
  }));
  return sendAtOnce(worker, requests, { connections: 10 });
}

/** The ids of the burst, the chunks and events the Edge wrote to the one stream open. */
async function burstOnOneStream(worker) {
  const stream = await poolOf(worker).open();
  const before = await status(worker);
  const { responses } = await burst(worker);
  assert.deepEqual([...new Set(responses.map((r) => r.status))], [200], 'every invalidation taken');
  const last = before.lastEventId + BURST;
  await stream.waitForId(last, 20_000);
  const after = await waitUntil(async () => {
    const s = await status(worker);
    return s.streamEvents - before.streamEvents >= BURST ? s : undefined;
  }, { what: 'the Edge to count the burst' });
  stream.close();
  return {
    ids: stream.ofType('app-update').map((e) => e.json.id),
    expected: Array.from({ length: BURST }, (_, i) => before.lastEventId + i + 1),
    chunks: after.streamChunks - before.streamChunks,
    events: after.streamEvents - before.streamEvents,
  };
}

test('a burst of 50 invalidations reaches a stream as all 50 ids in order, in fewer writes than events', { timeout: 60_000 }, async () => {
  const coalesced = await burstOnOneStream(coalescing);
  const separate = await burstOnOneStream(oneByOne);
  console.log(`# 50 events to one stream: ${coalesced.chunks} writes with SSE_COALESCE_MS=5 (default), ${separate.chunks} with 0`);
  assert.deepEqual(coalesced.ids, coalesced.expected, 'every id once, in order');
  assert.equal(coalesced.events, BURST, 'the Edge counts the 50 events written');
  assert.ok(coalesced.chunks < BURST / 2, `at most half as many writes as events (${coalesced.chunks} for ${BURST})`);
  assert.deepEqual(separate.ids, separate.expected, 'with coalescing off too');
  assert.equal(separate.chunks, BURST, 'with SSE_COALESCE_MS=0, one write per event');
});

/**
 * Asks for a stream from `addr`, expecting a refusal: answers the response
 * as the api helpers do ({status, headers, text, json}); a stream that
 * opens is closed at once and answered with an empty text.
 */
async function openFrom(worker, addr) {
  const res = await fetch(`${worker.url}/api/stream`, {
    headers: { accept: 'text/event-stream', 'cf-connecting-ip': addr },
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status === 200) {
    await res.body.cancel();
    return { status: 200, headers: res.headers, text: '', json: undefined };
  }
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

test('streams per address and per Edge are limited: 429 with retry-after, and a closed stream frees its place', { timeout: 60_000 }, async () => {
  const pool = poolOf(limited);
  const from = (addr) => pool.open('', { 'cf-connecting-ip': addr });
  const first = [];
  // One IPv6 /64: the last 64 bits change, the address counted does not.
  for (let i = 0; i < PER_ADDRESS; i++) first.push(await from(`2001:db8:7:7::${i + 1}`));
  const refused = await openFrom(limited, '2001:db8:7:7:ffff::9');
  expectError(refused, 429, 'too_many_requests', 'one stream past the limit of the /64');
  assert.ok(Number(refused.headers.get('retry-after')) >= 1, 'with retry-after');
  console.log(`# streams accepted from one /64: ${first.length} of ${PER_ADDRESS + 1}`);

  // Another address is not held up by that one, until the Edge is full.
  const others = [await from('203.0.113.1'), await from('203.0.113.2')];
  assert.equal((await status(limited)).subscribers, PER_OBJECT, 'the Edge is full');
  const full = await openFrom(limited, '203.0.113.3');
  expectError(full, 429, 'too_many_requests', 'a stream past the limit of the Edge');

  // Closing a stream frees its place (the Worker tells the Edge within a heartbeat or at once).
  others[0].close();
  await waitUntil(async () => (await status(limited)).subscribers < PER_OBJECT, { timeoutMs: 20_000, what: 'the closed stream to be forgotten' });
  const again = await from('203.0.113.3'); // throws unless it opens
  for (const s of [...first, ...others, again]) s.close();
});

test('a resume from further back than SSE_REPLAY_MAX_EVENTS gets reset, not a replay', { timeout: 60_000 }, async () => {
  const token = tokens.get(limited);
  const start = (await status(limited)).lastEventId;
  const writes = REPLAY_EVENTS + 10;
  for (let i = 0; i < writes; i++) await invalidate(limited, token, { type: 'posts', id: i + 1, action: 'update', mirror: false });
  const last = start + writes;

  /** The stream's opening text for a resume from `id` (a raw read, so its size is known). */
  async function opening(id) {
    const controller = new AbortController();
    const res = await fetch(`${limited.url}/api/stream`, {
      headers: { accept: 'text/event-stream', 'last-event-id': String(id), 'cf-connecting-ip': '198.51.100.7' },
      signal: controller.signal,
    });
    assert.equal(res.status, 200);
    let text = '';
    const decoder = new TextDecoder();
    const deadline = Date.now() + 10_000;
    for await (const chunk of res.body) {
      text += decoder.decode(chunk, { stream: true });
      if (text.includes('event: reset') || text.includes(`id: ${last}\n`) || Date.now() > deadline) break;
    }
    controller.abort();
    return text;
  }

  const far = await opening(start);
  console.log(`# resume ${writes} events back: ${Buffer.byteLength(far)} bytes, ${(far.match(/event: app-update/g) ?? []).length} events replayed`);
  assert.match(far, /event: reset/, `${writes} events back (bound ${REPLAY_EVENTS}): reset`);
  assert.equal((far.match(/event: app-update/g) ?? []).length, 0, 'and no replay');
  const near = await opening(last - REPLAY_EVENTS);
  console.log(`# resume ${REPLAY_EVENTS} events back: ${Buffer.byteLength(near)} bytes replayed`);
  assert.equal((near.match(/event: app-update/g) ?? []).length, REPLAY_EVENTS, `${REPLAY_EVENTS} back: replayed`);
  assert.doesNotMatch(near, /event: reset/);
});
