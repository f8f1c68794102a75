// The Hub's stream registry (durable_objects/src/js/streams.js) on Node's
// own ReadableStream, for what the runtime tests cannot reach in bounded
// time: a client that stops reading. Over a socket, the kernel's buffers
// (megabytes on loopback) would take tens of thousands of events to fill
// before the Hub's queue even starts to grow; here the queue is the Hub's
// own, as workerd gives it, and the policy under test is ours.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { broadcast, closeStream, countStreams, openStream } from '../../durable_objects/src/js/streams.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HELLO = encoder.encode('retry: 2000\nevent: hello\ndata: {}\n\n');
const event = (id) => encoder.encode(`id: ${id}\nevent: app-update\ndata: {"id":${id}}\n\n`);
// No heartbeat and no renewal within a test.
const QUIET_MS = 3_600_000;
const NO_RENEWAL = 1_000_000;

/** Reads a stream to its end; resolves with its text, or rejects with its error. */
async function readAll(body) {
  let text = '';
  for await (const chunk of body) text += decoder.decode(chunk, { stream: true });
  return text;
}

test('a client that stops reading is cut once more than SSE_QUEUE_LIMIT chunks wait; the others go on', async (t) => {
  const LIMIT = 4;
  const slow = openStream('all', HELLO, QUIET_MS, LIMIT, NO_RENEWAL);
  const fast = openStream('all', HELLO, QUIET_MS, LIMIT, NO_RENEWAL);
  // Whatever fails below, the next tests start with no stream open.
  t.after(() => { closeStream(slow.id); closeStream(fast.id); });
  const fastText = readAll(fast.body);
  assert.equal(countStreams(), 2);
  // The slow one's queue holds the hello and then the events; with a
  // high-water mark of one chunk, its desired size goes below -LIMIT after
  // LIMIT + 1 events, and the next event cuts it.
  const sent = [];
  for (let id = 1; id <= LIMIT + 3; id++) {
    sent.push(broadcast(['all'], event(id)));
    await new Promise((r) => setImmediate(r)); // the fast reader reads meanwhile
  }
  assert.deepEqual(sent, [2, 2, 2, 2, 2, 1, 1], 'sent to both until the slow stream was cut');
  assert.equal(countStreams(), 1, 'the slow stream is no subscriber any more');
  await assert.rejects(readAll(slow.body), /slow client: queue limit reached/, 'its client sees the stream fail (and resumes with Last-Event-ID)');
  assert.equal(closeStream(slow.id), false, 'already forgotten');

  assert.equal(closeStream(fast.id), true);
  const text = await fastText;
  for (let id = 1; id <= LIMIT + 3; id++) assert.ok(text.includes(`id: ${id}\n`), `the reading client got event ${id}`);
  assert.equal(countStreams(), 0);
});

test('a stream is renewed after between half of SSE_MAX_WRITES and SSE_MAX_WRITES writes, ending with retry and renew', async () => {
  const MAX = 6;
  for (let round = 0; round < 5; round++) {
    const s = openStream('all', HELLO, QUIET_MS, 256, MAX);
    const text = readAll(s.body);
    let id = 0;
    while (countStreams() > 0 && id < MAX + 1) broadcast(['all'], event(++id));
    const got = await text;
    // The preamble is one of the writes.
    assert.ok(id >= MAX / 2 - 1 && id <= MAX - 1, `events before the renewal: ${id}`);
    assert.ok(got.endsWith('retry: 250\nevent: renew\ndata: {}\n\n'), `ends with the renewal: ${JSON.stringify(got.slice(-60))}`);
  }
});

test('the heartbeat writes a ping to every stream and stops when the last stream goes', async () => {
  const a = openStream('posts', HELLO, 20, 256, NO_RENEWAL);
  const b = openStream('pages', HELLO, 20, 256, NO_RENEWAL);
  const texts = [readAll(a.body), readAll(b.body)];
  await new Promise((r) => setTimeout(r, 75));
  closeStream(a.id);
  closeStream(b.id);
  for (const text of await Promise.all(texts)) {
    assert.ok((text.match(/^: ping$/gm) ?? []).length >= 2, `pings on every stream: ${JSON.stringify(text)}`);
  }
  // A timer left behind would keep this file's process alive: node --test
  // would never end (seen when the clearInterval was taken out).
  assert.equal(countStreams(), 0);
});
