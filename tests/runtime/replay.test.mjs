// Resuming a stream: a client that reconnects with the id of the last event
// it saw gets exactly the events it missed, in order, then live ones; with an
// id older than the event log (EVENT_LOG_SIZE=5 here) it gets `reset`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { SERVICE } from '../common/accounts.mjs';
import { login, status, invalidate } from '../common/api.mjs';
import { streamPool } from '../common/sse.mjs';

const LOG_SIZE = 5;
let worker;
let service;
const streams = streamPool(() => worker.url);
const stream = (query, headers) => streams.open(query, headers);

before(async () => {
  worker = await startWorker({ vars: { INSTANCE_ID: 'replay-test', EVENT_LOG_SIZE: String(LOG_SIZE) } });
  service = await login(worker, SERVICE);
});
after(async () => {
  streams.closeAll();
  await worker?.dispose();
});

/** Makes n events one after the other (alternating types); returns their ids. */
async function events(n) {
  const ids = [];
  for (let i = 0; i < n; i++) {
    const { eventId } = await invalidate(worker, service, { type: i % 2 ? 'pages' : 'posts', id: i + 1, action: 'update' });
    if (ids.length) assert.ok(eventId > ids.at(-1), 'event ids increase');
    ids.push(eventId);
  }
  return ids;
}

/** The app-update ids a stream received, and a check that SSE id and data.id agree. */
function appIds(s) {
  return s.ofType('app-update').map((e) => {
    assert.equal(e.id, String(e.json.id), 'SSE id: is data.id');
    return e.json.id;
  });
}

test('Last-Event-ID: exactly the missed events, in order, then live ones', { timeout: 30_000 }, async () => {
  const a = await stream();
  const seen = await events(2);
  await a.waitForId(seen[1]);
  assert.deepEqual(appIds(a), seen, 'live events in order');
  a.close();
  const missed = await events(3);
  const b = await stream('', { 'last-event-id': String(seen[1]) });
  await b.waitForId(missed[2]);
  const live = await events(2);
  await b.waitForId(live[1]);
  assert.deepEqual(appIds(b), [...missed, ...live], 'missed events, then live, no gaps, no duplicates');
  assert.equal(b.ofType('reset').length, 0, 'no reset when the log has everything');
  // Replayed events are whole events, as they were live.
  const replayed = b.ofType('app-update')[0].json;
  assert.deepEqual([...replayed.types].sort(), ['feed', 'posts']);
  assert.equal(replayed.type, 'posts');
  assert.equal(replayed.entityId, '1');
  assert.equal(replayed.action, 'update');
});

test('?lastEventId= does the same for clients that cannot send headers', { timeout: 30_000 }, async () => {
  const { lastEventId } = await status(worker);
  const missed = await events(2);
  const b = await stream(`?lastEventId=${lastEventId}`);
  await b.waitForId(missed[1]);
  const live = await events(1);
  await b.waitForId(live[0]);
  assert.deepEqual(appIds(b), [...missed, ...live]);
});

test('resuming at the current last id replays nothing, and the replay respects ?types=', { timeout: 30_000 }, async () => {
  const { lastEventId } = await status(worker);
  const upToDate = await stream('', { 'last-event-id': String(lastEventId) });
  const missed = await events(4); // posts, pages, posts, pages
  const pagesOnly = await stream('?types=pages', { 'last-event-id': String(lastEventId) });
  const live = await events(1); // posts
  await upToDate.waitForId(live[0]);
  assert.deepEqual(appIds(upToDate), [...missed, ...live], 'live only, nothing replayed twice');
  const sentinel = (await invalidate(worker, service, { type: 'pages' })).eventId;
  await pagesOnly.waitForId(sentinel);
  assert.deepEqual(appIds(pagesOnly), [missed[1], missed[3], sentinel], 'replay of a filtered stream holds only its types');
});

test(`a client exactly ${LOG_SIZE} events behind is replayed all ${LOG_SIZE}; one further behind gets reset with the current last id`, { timeout: 30_000 }, async () => {
  const { lastEventId: start } = await status(worker);
  const five = await events(LOG_SIZE);
  const edge = await stream('', { 'last-event-id': String(start) });
  await edge.waitForId(five.at(-1));
  assert.deepEqual(appIds(edge), five, `the log holds the last ${LOG_SIZE} events`);
  assert.equal(edge.ofType('reset').length, 0);

  const two = await events(2);
  const current = two.at(-1);
  assert.equal((await status(worker)).eventLogLen, LOG_SIZE, 'the log is bounded by EVENT_LOG_SIZE');
  const old = await stream('', { 'last-event-id': String(start) });
  const reset = await old.waitFor((e) => e.type === 'reset', 5000, 'reset');
  assert.equal(reset.id, String(current), 'reset carries the current last id as its id: line');
  assert.equal(appIds(old).length, 0, 'no partial replay with a reset');
  const live = await events(1);
  await old.waitForId(live[0]);
  assert.deepEqual(appIds(old), live, 'after the reset, live events');
  assert.ok(old.events.indexOf(reset) < old.events.findIndex((e) => e.type === 'app-update'), 'reset comes first');

  // The id a client has after the reset resumes without another reset.
  old.close();
  const resumed = await stream('', { 'last-event-id': reset.id });
  const more = await events(1);
  await resumed.waitForId(more[0]);
  assert.deepEqual(appIds(resumed), [...live, ...more]);
  assert.equal(resumed.ofType('reset').length, 0);
});

test('an id from the future (the server lost its state) gets reset too, then live events, not silence', { timeout: 30_000 }, async () => {
  const { lastEventId } = await status(worker);
  const s = await stream('', { 'last-event-id': String(lastEventId + 1000) });
  const reset = await s.waitFor((e) => e.type === 'reset', 5000, 'reset');
  assert.equal(reset.id, String(lastEventId), 'reset carries the current last id');
  const live = await events(1);
  await s.waitForId(live[0]);
  assert.deepEqual(appIds(s), live, 'live events after the reset are delivered');
});
