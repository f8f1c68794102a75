// The invalidator against a real QueryClient: one refetch per affected
// query per burst, the entity's query reset, a query that was fetching
// refetched once after its fetch, and `reset` refreshing everything.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { QueryClient, QueryObserver, type QueryKey } from '@tanstack/react-query';
import { createInvalidator, type FlushReport, type Invalidator } from '../src/invalidator.js';
import { parseAppUpdate, type AppUpdate } from '../src/events.js';
import { ManualClock, update } from './fakes.js';

/** Lets React Query's promises and zero-delay timers run. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
};

const ev = (...args: Parameters<typeof update>): AppUpdate => {
  const event = parseAppUpdate(JSON.stringify(update(...args)));
  assert.ok(event);
  return event;
};

let client: QueryClient;
let clock: ManualClock;
let fetches: Map<string, number>;
let unsubscribes: Array<() => void>;
let reports: FlushReport[];
let inv: Invalidator;
/** When set, fetches of this key wait for hold.release(). */
let hold: { key: string; release: () => void; waiting: Promise<void> } | null;

function holdNext(key: QueryKey) {
  let release!: () => void;
  const waiting = new Promise<void>((r) => { release = r; });
  hold = { key: JSON.stringify(key), release, waiting };
  return hold;
}

/** A query with an observer (on screen, as a mounted useQuery would be). */
async function active(key: QueryKey) {
  const observer = new QueryObserver(client, {
    queryKey: key,
    queryFn: async () => {
      const k = JSON.stringify(key);
      fetches.set(k, (fetches.get(k) ?? 0) + 1);
      if (hold && hold.key === k) await hold.waiting;
      return { key, n: fetches.get(k) };
    },
    staleTime: Infinity,
  });
  unsubscribes.push(observer.subscribe(() => {}));
  await settle();
}

const count = (key: QueryKey) => fetches.get(JSON.stringify(key)) ?? 0;

beforeEach(() => {
  client = new QueryClient({ defaultOptions: { queries: { retry: false, gcTime: Infinity } } });
  clock = new ManualClock();
  fetches = new Map();
  unsubscribes = [];
  reports = [];
  hold = null;
  inv = createInvalidator(client, { clock, windowMs: 30, maxWaitMs: 250, onFlush: (r) => reports.push(r) });
});

afterEach(() => {
  inv.dispose();
  for (const u of unsubscribes) u();
  client.clear();
});

test('50 events for posts in one burst: one refetch per affected query', async () => {
  for (const key of [['feed'], ['posts', '2'], ['posts', '3'], ['pages'], ['categories']]) await active(key);
  const before = ['feed', 'posts/2', 'posts/3', 'pages', 'categories'].map(() => 1);
  assert.deepEqual([count(['feed']), count(['posts', '2']), count(['posts', '3']), count(['pages']), count(['categories'])], before);
  for (let i = 0; i < 50; i++) {
    inv.event(ev(i + 1, 'posts', ['posts', 'feed'], i % 2 ? '2' : null));
    clock.advance(0.4);
  }
  await settle();
  assert.equal(count(['feed']), 1, 'nothing before the window closes');
  clock.advance(30);
  await settle();
  assert.equal(reports.length, 1);
  assert.equal(reports[0]?.signals, 50);
  assert.equal(count(['feed']), 2);
  assert.equal(count(['posts', '2']), 2);
  assert.equal(count(['posts', '3']), 2);
  assert.equal(count(['pages']), 2, 'the original map: posts refresh pages');
  assert.equal(count(['categories']), 1, 'not affected');
});

test('by default, as StreamInvalidator makes it, an event is applied after 30 ms, a burst that never pauses after 250 ms', async () => {
  // The README's numbers, not the constants of src/coalescer.ts.
  const byDefault = createInvalidator(client, { clock, onFlush: (r) => reports.push(r) });
  try {
    await active(['feed']);
    byDefault.event(ev(1, 'posts', ['posts', 'feed']));
    clock.advance(29);
    assert.equal(reports.length, 0, 'not applied before 30 ms');
    clock.advance(1);
    assert.equal(reports.length, 1, 'applied 30 ms after the event');
    await settle();
    assert.equal(count(['feed']), 2);
    clock.advance(250); // quiet: the next burst starts with the short window again
    for (let i = 0; i < 25; i++) {
      byDefault.event(ev(i + 2, 'posts', ['posts', 'feed']));
      clock.advance(i < 24 ? 10 : 9);
    }
    assert.equal(reports.length, 1, 'a burst 10 ms apart is not applied before 250 ms');
    clock.advance(1);
    assert.equal(reports.length, 2, 'and is applied 250 ms after its first event');
    assert.equal(reports[1]?.signals, 25);
    await settle();
    assert.equal(count(['feed']), 3, 'one refetch for the burst');
  } finally {
    byDefault.dispose();
  }
});

test('the entity\'s query is reset (its old data dropped), the others invalidated', async () => {
  await active(['posts', '2']);
  await active(['posts', '3']);
  inv.event(ev(1, 'post', ['posts', 'feed'], '2'));
  inv.flush();
  assert.equal(client.getQueryState(['posts', '2'])?.data, undefined, 'reset: no stale data on screen');
  assert.ok(client.getQueryState(['posts', '3'])?.data, 'invalidated: data kept while refetching');
  assert.deepEqual(reports[0]?.reset, [['posts', '2']]);
  await settle();
  assert.deepEqual(client.getQueryData(['posts', '2']), { key: ['posts', '2'], n: 2 });
  assert.equal(count(['posts', '3']), 2);
});

test('a replay delivered in pieces is one refresh', async () => {
  await active(['feed']);
  for (let id = 1; id <= 20; id++) {
    inv.event(ev(id, 'posts', ['posts', 'feed']), { replaying: id < 20 });
    if (id === 10) clock.advance(80); // more than the window between two pieces
  }
  clock.advance(30);
  await settle();
  assert.equal(reports.length, 1);
  assert.equal(reports[0]?.signals, 20);
  assert.equal(count(['feed']), 2);
});

test('a numeric id in a query key matches the event\'s string id', async () => {
  await active(['posts', 2]);
  inv.event(ev(1, 'post', ['posts', 'feed'], '2'));
  inv.flush();
  assert.deepEqual(reports[0]?.reset, [['posts', 2]]);
});

test('an invalidation while the query fetches makes it fetch once more afterwards', async () => {
  await active(['feed']);
  const h = holdNext(['feed']);
  void client.refetchQueries({ queryKey: ['feed'] }); // a fetch under way (e.g. a focus refetch)
  await settle();
  assert.equal(count(['feed']), 2);
  assert.equal(client.getQueryState(['feed'])?.fetchStatus, 'fetching');
  // Three bursts arrive while it fetches (each flushed by maxWaitMs at the latest).
  for (let burst = 0; burst < 3; burst++) {
    inv.event(ev(burst + 1, 'posts', ['posts', 'feed']));
    clock.advance(250);
    await settle();
  }
  assert.equal(count(['feed']), 2, 'the fetch under way is neither cancelled nor duplicated');
  assert.deepEqual(reports.map((r) => r.deferred), [[['feed']], [['feed']], [['feed']]]);
  hold = null;
  h.release();
  await settle();
  assert.equal(count(['feed']), 3, 'refetched once after the fetch settled, not lost, not thrice');
  assert.equal(client.getQueryState(['feed'])?.fetchStatus, 'idle');
  await settle();
  assert.equal(count(['feed']), 3);
});

test('a reset refetches every active query the map knows, once', async () => {
  for (const key of [['feed'], ['posts', '2'], ['categories'], ['types'], ['other']]) await active(key);
  inv.reset();
  inv.event(ev(9, 'posts', ['posts', 'feed']));
  clock.advance(30);
  await settle();
  assert.equal(count(['feed']), 2);
  assert.equal(count(['posts', '2']), 2);
  assert.equal(count(['categories']), 2);
  assert.equal(count(['types']), 2);
  assert.equal(count(['other']), 1, 'a key the map does not know is the app\'s own business');
});

test('an inactive query is marked stale, not fetched', async () => {
  await active(['feed']);
  unsubscribes.pop()?.();
  inv.event(ev(1, 'posts', ['posts', 'feed']));
  inv.flush();
  await settle();
  assert.equal(count(['feed']), 1);
  assert.equal(client.getQueryState(['feed'])?.isInvalidated, true);
});

test('after dispose, pending events are applied and later ones ignored', async () => {
  await active(['feed']);
  inv.event(ev(1, 'posts', ['posts', 'feed']));
  inv.dispose();
  await settle();
  assert.equal(count(['feed']), 2);
  inv.event(ev(2, 'posts', ['posts', 'feed']));
  clock.advance(1000);
  await settle();
  assert.equal(count(['feed']), 2);
});
