// The coalescing window: trailing (a burst that keeps coming stays one
// batch), capped (a stream that never pauses still flushes), widened while a
// burst goes on, ordered, and nothing lost on dispose. The defaults are
// the README's numbers (a 30 ms window, flushed at most 250 ms after a
// batch's first item), written here as numbers, not read from src/.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCoalescer } from '../src/coalescer.js';
import { ManualClock } from './fakes.js';

function setup(windowMs?: number, maxWaitMs?: number) {
  const clock = new ManualClock();
  const batches: number[][] = [];
  const c = createCoalescer<number>({
    clock,
    flush: (b) => batches.push(b),
    ...(windowMs !== undefined && { windowMs }),
    ...(maxWaitMs !== undefined && { maxWaitMs }),
  });
  return { clock, batches, c };
}

test('50 items a few ms apart are one batch, flushed one window after the last', () => {
  const { clock, batches, c } = setup(30, 250);
  for (let i = 0; i < 50; i++) {
    c.push(i);
    clock.advance(0.4); // 50 items within 20 ms
  }
  assert.equal(batches.length, 0);
  clock.advance(29);
  assert.equal(batches.length, 0, 'not before the window closed');
  clock.advance(1);
  assert.equal(batches.length, 1);
  assert.deepEqual(batches[0], Array.from({ length: 50 }, (_, i) => i));
});

test('the window is trailing: items 20 ms apart keep extending it', () => {
  const { clock, batches, c } = setup(30, 1000);
  for (let i = 0; i < 10; i++) {
    c.push(i);
    clock.advance(20);
  }
  assert.equal(batches.length, 0);
  clock.advance(10);
  assert.equal(batches.length, 1);
  assert.equal(batches[0]?.length, 10);
});

test('a burst that never pauses is flushed every maxWaitMs', () => {
  const { clock, batches, c } = setup(30, 100);
  for (let i = 0; i < 30; i++) {
    c.push(i);
    clock.advance(10);
  }
  clock.advance(100);
  // Flushes at 100, 200, 300 ms after each batch's first item, then the rest.
  assert.deepEqual(batches.map((b) => b.length), [10, 10, 10]);
  assert.deepEqual(batches.flat(), Array.from({ length: 30 }, (_, i) => i));
});

test('by default a lone item is flushed 30 ms after it came', () => {
  const { clock, batches, c } = setup();
  c.push(1);
  clock.advance(29);
  assert.equal(batches.length, 0, 'not before 30 ms');
  clock.advance(1);
  assert.deepEqual(batches, [[1]]);
});

test('by default a burst that never pauses is flushed 250 ms after its first item', () => {
  const { clock, batches, c } = setup();
  // One item every 10 ms, well within the window, from 0 to 240 ms.
  for (let i = 0; i < 25; i++) {
    c.push(i);
    clock.advance(i < 24 ? 10 : 9);
  }
  assert.equal(batches.length, 0, 'not before 250 ms');
  clock.advance(1);
  assert.deepEqual(batches, [Array.from({ length: 25 }, (_, i) => i)]);
});

test('separate bursts are separate batches', () => {
  const { clock, batches, c } = setup();
  c.push(1);
  c.push(2);
  clock.advance(30);
  clock.advance(250); // quiet
  c.push(3);
  clock.advance(30);
  assert.deepEqual(batches, [[1, 2], [3]]);
  assert.equal(clock.pending, 0, 'no timer left behind');
});

test('a trickle that goes on after a flush gets a wider window; after quiet it is short again', () => {
  const { clock, batches, c } = setup(30, 250);
  // One event every 40 ms for a second (a mirror batch delivered one by
  // one): a fixed 30 ms window would flush each on its own, 25 times.
  for (let i = 0; i < 25; i++) {
    c.push(i);
    clock.advance(40);
  }
  clock.advance(250);
  // Windows of 30, 60, 120, 240 and 250 ms, each batch cut at 250 ms.
  assert.deepEqual(batches.map((b) => b.length), [1, 7, 7, 7, 3]);
  assert.deepEqual(batches.flat(), Array.from({ length: 25 }, (_, i) => i));
  // A lone change after maxWaitMs of quiet is applied after the short window.
  clock.advance(250);
  c.push(99);
  clock.advance(29);
  assert.equal(batches.length, 5);
  clock.advance(1);
  assert.deepEqual(batches.at(-1), [99]);
});

test('flush() applies now; dispose() flushes what is pending and ignores the rest', () => {
  const { clock, batches, c } = setup(30);
  c.push(1);
  c.flush();
  assert.deepEqual(batches, [[1]]);
  c.flush();
  assert.deepEqual(batches, [[1]], 'no empty batch');
  c.push(2);
  assert.equal(c.pending, 1);
  c.dispose();
  assert.deepEqual(batches, [[1], [2]]);
  c.push(3);
  clock.advance(1000);
  assert.deepEqual(batches, [[1], [2]]);
});

test('window 0 still merges what arrives at the same instant', () => {
  const { clock, batches, c } = setup(0);
  c.push(1);
  c.push(2);
  clock.advance(0);
  assert.deepEqual(batches, [[1, 2]]);
});

test('held items (a replay with more due) keep the batch open; the next one closes it', () => {
  const { clock, batches, c } = setup(30, 250);
  c.push(1, { hold: true });
  clock.advance(100); // the network delivers the replay in two pieces, 100 ms apart
  c.push(2, { hold: true });
  clock.advance(100);
  assert.equal(batches.length, 0);
  c.push(3); // the replay's last event
  clock.advance(30);
  assert.deepEqual(batches, [[1, 2, 3]]);
});

test('a hold is bounded by maxWaitMs', () => {
  const { clock, batches, c } = setup(30, 250);
  c.push(1, { hold: true }); // and the rest of the replay never comes
  clock.advance(249);
  assert.equal(batches.length, 0);
  clock.advance(1);
  assert.deepEqual(batches, [[1]]);
});
