// The checker of the consistency test finds stale reads, and only those: it
// runs on made-up histories here, so that a passing consistency test means
// something. No Worker needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { staleReads } from '../common/history.mjs';

const w = (value, sent, acked, known) => ({ value, sent, acked, known });
const r = (value, start, end = start + 1) => ({ value, start, end });

test('one writer: a read after an acknowledgement must see that value or a newer one', () => {
  const writes = [w(1, 0, 10), w(2, 20, 30), w(3, 40, 50)];
  assert.deepEqual(staleReads(writes, [r(0, 5), r(1, 15), r(2, 35), r(3, 55), r(2, 45), r(3, 45)]), []);
  assert.equal(staleReads(writes, [r(1, 31)]).length, 1, 'v1 after v2 was acknowledged');
  assert.equal(staleReads(writes, [r(0, 11)]).length, 1, 'the demo value after v1 was acknowledged');
  assert.equal(staleReads(writes, [r(2, 60)]).length, 1, 'v2 after v3 was acknowledged');
});

test('the SSE event makes a write known before its acknowledgement', () => {
  const writes = [w(1, 0, 10), w(2, 20, 30, 25)];
  assert.equal(staleReads(writes, [r(1, 25)]).length, 1, 'a refetch started by the event must see v2');
  assert.deepEqual(staleReads(writes, [r(1, 24)]), []);
});

test('overlapping writes may land in either order; sequential ones may not', () => {
  // v1 and v2 overlap: after both, either may be the value.
  const overlapping = [w(1, 0, 10), w(2, 5, 12)];
  assert.deepEqual(staleReads(overlapping, [r(1, 20), r(2, 20)]), []);
  // v3 was sent after both were acknowledged: then neither may be read.
  const then = [...overlapping, w(3, 15, 18)];
  assert.equal(staleReads(then, [r(1, 20), r(2, 20), r(3, 20)]).length, 2);
});

test('values from nowhere or from the future are reported', () => {
  const writes = [w(1, 10, 20)];
  assert.equal(staleReads(writes, [r(7, 30)]).length, 1, 'a value no write sent');
  assert.equal(staleReads(writes, [r(1, 2, 5)]).length, 1, 'a value read before it was sent');
});
