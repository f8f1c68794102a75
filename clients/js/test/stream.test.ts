// The stream state machine: status changes, which id a reconnect resumes
// from, when the browser's own reconnect is trusted and when the client
// reconnects itself, and that close() is final.

import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import type { AppUpdate, ResetNotice } from '../src/events.js';
import { createStream, streamUrl, type StreamOptions, type StreamStatus } from '../src/stream.js';
import { FakeEventSource, ManualClock, update } from './fakes.js';

let clock: ManualClock;
let statuses: StreamStatus[];
let events: AppUpdate[];
let replaying: boolean[];
let resets: ResetNotice[];

beforeEach(() => {
  FakeEventSource.reset();
  clock = new ManualClock();
  statuses = [];
  events = [];
  replaying = [];
  resets = [];
});

function start(extra: Partial<StreamOptions> = {}) {
  return createStream({
    url: '/api/stream',
    EventSource: FakeEventSource,
    clock,
    random: () => 0.5,
    onStatus: (s) => statuses.push(s),
    onEvent: (e, info) => {
      events.push(e);
      replaying.push(info.replaying);
    },
    onReset: (r) => resets.push(r),
    ...extra,
  });
}

test('streamUrl adds the type filter and the id to resume after', () => {
  assert.equal(streamUrl('/api/stream', undefined, null), '/api/stream');
  assert.equal(streamUrl('/api/stream', ['posts', 'pages'], null), '/api/stream?types=posts,pages');
  assert.equal(streamUrl('/api/stream', [], 12), '/api/stream?lastEventId=12');
  assert.equal(streamUrl('/s?x=1', ['posts'], 0), '/s?x=1&types=posts&lastEventId=0');
});

test('connecting, then open; events are parsed and delivered in order', () => {
  const s = start();
  assert.equal(s.status, 'connecting');
  assert.equal(FakeEventSource.all.length, 1);
  assert.equal(FakeEventSource.last.url, '/api/stream');
  const es = FakeEventSource.last;
  es.open();
  es.send('hello', { lastEventId: 4 });
  es.send('app-update', update(5, 'post', ['posts', 'feed'], '7'), 5);
  es.send('app-update', update(6, 'types', ['types', 'categories', 'posts', 'pages', 'feed']), 6);
  assert.deepEqual(statuses, ['open']);
  assert.deepEqual(events.map((e) => [e.id, e.type, e.entityId]), [[5, 'post', '7'], [6, 'types', null]]);
  assert.deepEqual(events[0]?.types, ['posts', 'feed']);
  assert.equal(s.lastEventId, 6);
});

test('a malformed event is dropped and the stream goes on', () => {
  const s = start();
  const es = FakeEventSource.last;
  es.open();
  es.send('app-update', 'not json', 3);
  es.send('app-update', { no: 'id' }, 4);
  es.send('app-update', update(5, 'pages', ['pages', 'feed']), 5);
  assert.deepEqual(events.map((e) => e.id), [5]);
  assert.equal(s.lastEventId, 5);
});

test('after an event with an id, a cut is left to the browser, which resumes by itself', () => {
  start();
  const es = FakeEventSource.last;
  es.open();
  es.send('hello', { lastEventId: 0 });
  es.send('app-update', update(1, 'posts', ['posts', 'feed']), 1);
  es.drop();
  assert.deepEqual(statuses, ['open', 'reconnecting']);
  assert.equal(es.closed, false, 'the browser keeps this source and reconnects it');
  assert.equal(clock.pending, 0, 'no reconnect of our own is scheduled');
  es.open(); // the browser reconnected, sending Last-Event-ID: 1
  assert.deepEqual(statuses, ['open', 'reconnecting', 'open']);
  assert.equal(FakeEventSource.all.length, 1);
});

/** A stream that saw event 1, then the server's `renew`, then its end. */
function renewed(): FakeEventSource {
  start();
  const es = FakeEventSource.last;
  es.open();
  es.send('hello', { lastEventId: 0 });
  es.send('app-update', update(1, 'posts', ['posts', 'feed']), 1);
  es.send('renew', {});
  es.drop();
  return es;
}

test('a renewal the server announces keeps the status open while the browser resumes', () => {
  const es = renewed();
  assert.deepEqual(statuses, ['open'], 'no reconnecting for a renewal');
  assert.equal(es.closed, false, 'the browser resumes this source by itself');
  es.open();
  assert.deepEqual(statuses, ['open']);
  assert.equal(clock.pending, 0, 'the grace timer is gone once the stream is back');
  // The next cut is a real one again.
  es.drop();
  assert.deepEqual(statuses, ['open', 'reconnecting']);
});

test('a renewed stream not back within 5 s shows reconnecting', () => {
  // The README's number, not the constant of src/stream.ts.
  const es = renewed();
  clock.advance(4_999);
  assert.deepEqual(statuses, ['open']);
  clock.advance(1);
  assert.deepEqual(statuses, ['open', 'reconnecting']);
  es.open();
  assert.deepEqual(statuses, ['open', 'reconnecting', 'open']);
});

test('a cut after hello but before any event reconnects itself from hello\'s id', () => {
  // From a server whose hello has no id: line the browser would send no
  // Last-Event-ID and so miss everything that happened while it was away.
  const s = start();
  const es = FakeEventSource.last;
  es.open();
  es.send('hello', { lastEventId: 41 });
  assert.equal(s.lastEventId, 41);
  es.drop();
  assert.equal(es.closed, true, 'the browser\'s reconnect is replaced');
  assert.equal(s.status, 'reconnecting');
  assert.equal(FakeEventSource.all.length, 1, 'not at once');
  clock.advance(clock.nextDelay() ?? Infinity);
  assert.equal(FakeEventSource.all.length, 2);
  assert.equal(FakeEventSource.last.url, '/api/stream?lastEventId=41');
  FakeEventSource.last.open();
  assert.equal(s.status, 'open');
});

test('a fresh hello that carries its id as the SSE id: a cut before any event is left to the browser', () => {
  // The browser sends hello's id as Last-Event-ID and honours the
  // server's retry (250 ms after a renewal), sooner than our backoff.
  const s = start();
  const es = FakeEventSource.last;
  es.open();
  es.send('hello', { lastEventId: 41 }, 41);
  assert.equal(s.lastEventId, 41);
  es.drop();
  assert.equal(es.closed, false, 'the browser resumes from 41 by itself');
  assert.equal(FakeEventSource.all.length, 1);
  assert.equal(s.status, 'reconnecting');
  es.open();
  assert.equal(s.status, 'open');
});

test('resuming ignores hello\'s newer id: the replay that follows carries the ids', () => {
  const s = start({ lastEventId: 10 });
  const es = FakeEventSource.last;
  assert.equal(es.url, '/api/stream?lastEventId=10');
  es.open();
  es.send('hello', { lastEventId: 13 });
  assert.equal(s.lastEventId, 10, 'not 13: events 11..13 have not arrived yet');
  es.send('app-update', update(11, 'posts', ['posts', 'feed']), 11);
  es.drop(); // cut in the middle of the replay
  assert.equal(es.closed, false, 'the browser resumes from 11 by itself');
  assert.equal(s.lastEventId, 11);
});

test('when the browser gives up, the client reconnects with backoff and the last id', () => {
  const s = start({ reconnectMs: { min: 1000, max: 8000 } });
  let es = FakeEventSource.last;
  es.open();
  es.send('app-update', update(3, 'posts', ['posts', 'feed']), 3);
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    es.fail(); // e.g. 503 while the deployment restarts
    assert.equal(s.status, 'reconnecting');
    const delay = clock.nextDelay();
    assert.ok(delay !== undefined, 'a reconnect is scheduled');
    delays.push(delay);
    clock.advance(delay);
    es = FakeEventSource.last;
    assert.equal(es.url, '/api/stream?lastEventId=3');
  }
  // random() = 0.5: three quarters of 1, 2, 4, 8, 8 s.
  assert.deepEqual(delays, [750, 1500, 3000, 6000, 6000]);
  es.open();
  assert.equal(s.status, 'open');
  es.fail();
  assert.equal(clock.nextDelay(), 750, 'an open connection resets the backoff');
});

test('a reset is delivered and its id is where the next resume starts', () => {
  const s = start({ lastEventId: 2 });
  const es = FakeEventSource.last;
  es.open();
  es.send('hello', { lastEventId: 90 });
  es.send('reset', { lastEventId: 90 }, 90);
  assert.deepEqual(resets, [{ lastEventId: 90 }]);
  assert.equal(s.lastEventId, 90);
  es.fail();
  clock.advance(clock.nextDelay() ?? Infinity);
  assert.equal(FakeEventSource.last.url, '/api/stream?lastEventId=90');
});

test('the type filter is kept on every reconnect', () => {
  start({ types: ['posts'] });
  let es = FakeEventSource.last;
  assert.equal(es.url, '/api/stream?types=posts');
  es.open();
  es.send('hello', { lastEventId: 7 });
  es.drop();
  clock.advance(clock.nextDelay() ?? Infinity);
  es = FakeEventSource.last;
  assert.equal(es.url, '/api/stream?types=posts&lastEventId=7');
});

test('close() is final: the source is closed, no reconnect, no more events', () => {
  const s = start();
  const es = FakeEventSource.last;
  es.open();
  es.send('hello', { lastEventId: 1 });
  es.drop(); // schedules a reconnect of its own
  assert.equal(clock.pending, 1);
  s.close();
  assert.equal(s.status, 'closed');
  assert.equal(clock.pending, 0, 'the scheduled reconnect is cancelled');
  clock.advance(60_000);
  assert.equal(FakeEventSource.all.length, 1);
  es.send('app-update', update(2, 'posts', ['posts', 'feed']), 2);
  assert.deepEqual(events, []);
  s.close();
  assert.deepEqual(statuses, ['open', 'reconnecting', 'closed']);
});

test('events of a replaced source are ignored', () => {
  start();
  const first = FakeEventSource.last;
  first.open();
  first.send('hello', { lastEventId: 5 });
  first.drop();
  clock.advance(clock.nextDelay() ?? Infinity);
  first.send('app-update', update(6, 'posts', ['posts', 'feed']), 6);
  assert.deepEqual(events, [], 'a late event of the closed source does not count');
  FakeEventSource.last.send('app-update', update(6, 'posts', ['posts', 'feed']), 6);
  assert.equal(events.length, 1);
});

test('a replay says, event by event, whether more of it is due', () => {
  start({ lastEventId: 10 });
  const es = FakeEventSource.last;
  es.open();
  es.send('hello', { lastEventId: 13 }); // the replay ends with 13
  for (const id of [11, 12, 13, 14]) es.send('app-update', update(id, 'posts', ['posts', 'feed']), id);
  assert.deepEqual(replaying, [true, true, false, false], '13 ends it; 14 is live');
});

test('a filtered replay that ends early stops saying so at the first live event', () => {
  start({ lastEventId: 10, types: ['pages'] });
  const es = FakeEventSource.last;
  es.open();
  es.send('hello', { lastEventId: 20 });
  es.send('app-update', update(12, 'pages', ['pages', 'feed']), 12); // 13..20 concerned other types
  es.send('app-update', update(21, 'pages', ['pages', 'feed']), 21);
  assert.deepEqual(replaying, [true, false]);
});

test('a fresh stream and a reset replay nothing', () => {
  start();
  let es = FakeEventSource.last;
  es.open();
  es.send('hello', { lastEventId: 50 });
  es.send('app-update', update(51, 'posts', ['posts', 'feed']), 51);
  assert.deepEqual(replaying, [false], 'a fresh start does not replay');
  es.fail();
  clock.advance(clock.nextDelay() ?? Infinity);
  es = FakeEventSource.last;
  es.open();
  es.send('hello', { lastEventId: 9000 });
  es.send('reset', { lastEventId: 9000 }, 9000);
  es.send('app-update', update(9001, 'posts', ['posts', 'feed']), 9001);
  assert.deepEqual(replaying, [false, false]);
});
