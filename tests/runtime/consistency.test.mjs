// The consistency invariant under load, on the default (memory) backend:
// several writers PATCH posts (each its own post, and all of them one shared
// post) with increasing values while several readers read items, the list
// and the feed, and one reader refetches on every SSE event, for RUN_MS.
// Afterwards every read is checked: a read that started after a write was
// acknowledged (or after its SSE event arrived) must not return a value that
// the write overwrote. The load and the check are tests/perf/consistency.mjs
// (also run per backend by backend_consistency.test.mjs, and by hand), the
// judgement of "overwrote" tests/common/history.mjs (checked itself by
// history.test.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { EDITOR, EDITOR2, ADMIN } from '../common/accounts.mjs';
import { login } from '../common/api.mjs';
import { runConsistency, SHARED_POST } from '../perf/consistency.mjs';

const RUN_MS = 12_000;

let worker;
before(async () => { worker = await startWorker({ vars: { INSTANCE_ID: 'consistency-test' } }); });
after(async () => { await worker?.dispose(); });

test('no read returns data older than an acknowledged write (writers and readers for 12 s)', { timeout: 120_000 }, async (t) => {
  const tokens = [await login(worker, EDITOR), await login(worker, EDITOR2), await login(worker, ADMIN)];
  const run = await runConsistency(worker, { tokens, runMs: RUN_MS });
  t.diagnostic(run.summary);
  assert.ok(run.seconds >= 10, `ran for at least 10 s: ${run.summary}`);
  assert.deepEqual(run.failures.slice(0, 10), [], `requests failed under load (${run.failures.length}); ${run.summary}; wrangler said:\n${worker.notes()}`);
  const got = new Set(run.events.map((e) => e.json?.id));
  const missing = run.writes.filter((w) => !got.has(w.eventId));
  assert.equal(missing.length, 0, `every write's event arrived on the stream; missing ${missing.length} of ${run.writes.length}, `
    + `e.g. ${missing.slice(0, 5).map((w) => w.eventId)}; stream ended: ${run.sse.ended}; wrangler said:\n${worker.notes()}`);
  assert.deepEqual(run.violations.slice(0, 10), [], `stale reads (${run.violations.length}); ${run.summary}`);
  // The test must have exercised what it claims to check.
  assert.ok(run.writes.length >= 50, `enough writes: ${run.summary}`);
  assert.ok(run.reads.length >= 300, `enough reads: ${run.summary}`);
  assert.ok(run.hits >= 10, `the cache served hits during the run: ${run.summary}`);
  assert.equal(run.refetches, run.writes.length, `a refetch for every write's event: ${run.summary}`);
  assert.ok(run.writes.filter((w) => w.post === SHARED_POST).length >= 15, 'the shared post was written by several writers');
});
