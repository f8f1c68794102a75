// Several shards per region (EDGE_SHARDS=2): a read goes to the shard of
// its key, a stream to any shard. So the client that gets an event
// refetches through another Edge than the one that sent it the event; if
// that Edge had not applied the write yet, the refetch would return the old
// data and nothing would ever correct it. The Edges therefore send an event
// to their streams only once its write is acknowledged (every live Edge has
// applied it). Shard 1 is made deaf to pushes (TEST_FAULTS), so it applies
// writes only at its renewals: the widest window a refetch could fall into.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { EDITOR } from '../common/accounts.mjs';
import { login, read, patch, expectStatus, eventIdOf, status, waitUntil } from '../common/api.mjs';
import { streamPool } from '../common/sse.mjs';

const DEAF = 'edge:default:1';
let worker;
let editor;
const streams = streamPool(() => worker.url);

before(async () => {
  worker = await startWorker({
    vars: { INSTANCE_ID: 'edge-shards-test', EDGE_SHARDS: '2', EDGE_LEASE_SECS: '2', TEST_FAULTS: `edge-deaf:${DEAF}` },
  });
  editor = await login(worker, EDITOR);
});
after(async () => {
  streams.closeAll();
  await worker?.dispose();
});

test('a refetch on an event, through another shard than the stream\'s, sees the write', { timeout: 90_000 }, async (t) => {
  // A post whose reads the deaf shard serves.
  let id;
  for (let i = 1; i <= 10 && id === undefined; i += 1) {
    const r = await read(worker, `/api/posts/${i}`);
    if (r.res.headers.get('x-polycache-edge') === DEAF) id = i;
  }
  assert.ok(id, `one of posts 1-10 is read through ${DEAF}`);
  const path = `/api/posts/${id}`;
  // Streams on both shards (a stream's shard is random): enough that the
  // live shard has some, which it would otherwise send the event at once.
  const opened = [];
  for (let i = 0; i < 8; i += 1) opened.push(await streams.open());
  await waitUntil(async () => (await status(worker)).edges.filter((e) => e.subscribers > 0).length === 2,
    { what: 'streams on both shards' });
  for (let round = 1; round <= 3; round += 1) {
    assert.equal((await read(worker, path)).cache, 'hit', `round ${round}: ${path} is cached before the write`);
    const lastBefore = (await status(worker)).lastEventId;
    const title = `shard round ${round} ${Date.now()}`;
    const started = performance.now();
    const writing = patch(worker, path, { title }, { token: editor });
    // The first stream to hear of the write refetches at once.
    const first = await Promise.race(opened.map((s) => s.waitFor(
      (e) => e.type === 'app-update' && e.json?.id > lastBefore, 15_000, 'the write\'s event')));
    const refetch = await read(worker, path);
    const res = await writing;
    expectStatus(res, 200, 'PATCH');
    t.diagnostic(`round ${round}: event after ${Math.round(performance.now() - started)} ms (id ${first.json.id}, write ${eventIdOf(res)}), `
      + `refetch ${refetch.cache} via ${refetch.res.headers.get('x-polycache-edge')}`);
    assert.equal(refetch.res.headers.get('x-polycache-edge'), DEAF);
    assert.equal(refetch.json.title, title, `round ${round}: the refetch on the event shows the write`);
  }
});
