// The Hub alone restarted (TEST_FAULTS=hub-reset lets an admin make the
// Hub forget what it holds in memory, as a new instance after the runtime
// reset or moved the object would start): its storage stays, and the Edges
// go on with their streams and entries. The new instance must still know which Edges
// hold leases (the registry is stored before each renewal is answered):
// else it would acknowledge the next write without telling them, and they
// would serve the old entries until their leases ran out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { ADMIN, EDITOR } from '../common/accounts.mjs';
import { login, get, post, patch, status, expectStatus, eventIdOf } from '../common/api.mjs';
import { connect } from '../common/sse.mjs';
import { edgeVars, inRegion, edgeName } from '../common/regions.mjs';

const REGIONS = ['weur', 'apac'];
const PATH = '/api/posts/3';
let worker;
let admin;
let editor;
const clients = [];

before(async () => {
  worker = await startWorker({
    vars: { INSTANCE_ID: 'hub-reset-test', ...edgeVars({ regions: REGIONS, leaseSecs: 10 }), TEST_FAULTS: 'hub-reset' },
  });
  admin = await login(worker, ADMIN);
  editor = await login(worker, EDITOR);
});
after(async () => {
  for (const c of clients) c.close();
  await worker?.dispose();
});

async function readIn(region) {
  const res = await get(worker, PATH, { headers: inRegion(region) });
  expectStatus(res, 200, `GET ${PATH} in ${region}`);
  return { title: res.json.title, cache: res.headers.get('x-cache'), edge: res.headers.get('x-polycache-edge') };
}

test('without the fault the reset route is a 404, and it is an admin\'s only', async () => {
  const plain = await startWorker({ vars: { INSTANCE_ID: 'hub-reset-off' } });
  try {
    const res = await post(plain, '/api/cache/hub/reset', {}, { token: await login(plain, ADMIN) });
    assert.equal(res.status, 404, res.text);
  } finally {
    await plain.dispose();
  }
  const res = await post(worker, '/api/cache/hub/reset', {}, { token: editor });
  assert.equal(res.status, 403, res.text);
});

test('after a reset of the Hub alone, the next write reaches every Edge before it is acknowledged, and streams miss nothing', { timeout: 90_000 }, async (t) => {
  for (const region of REGIONS) {
    clients.push(await connect(`${worker.url}/api/stream`, { headers: inRegion(region), follow: true }));
  }
  const first = `before the reset ${Date.now()}`;
  const res1 = await patch(worker, PATH, { title: first }, { token: editor });
  expectStatus(res1, 200, 'PATCH before the reset');
  const id1 = eventIdOf(res1);
  for (const region of REGIONS) {
    await readIn(region);
    const r = await readIn(region);
    assert.deepEqual([r.title, r.cache, r.edge], [first, 'hit', edgeName(region)], `${region} caches the post`);
  }
  const before = await status(worker);
  assert.ok(before.hub.writes >= 1, `the Hub counted the write: ${JSON.stringify(before.hub)}`);

  expectStatus(await post(worker, '/api/cache/hub/reset', {}, { token: admin }), 200, 'reset');
  // A new instance: its counters start again (the status call is its first
  // or second request), its registry comes from storage.
  let after;
  for (let i = 0; i < 50; i += 1) {
    after = await status(worker);
    if (after.hub.writes === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(after.hub.writes, 0, `the Hub was reset: ${JSON.stringify(after.hub)}`);
  const listed = Object.fromEntries(after.edges.map((e) => [e.name, e]));
  for (const region of REGIONS) {
    assert.ok(listed[edgeName(region)]?.leaseUntil > Date.now(), `the new Hub knows ${edgeName(region)} holds a lease: ${JSON.stringify(after.edges)}`);
  }

  // Right away (both leases still run for seconds): the write must wait for
  // both Edges, so reads right after its acknowledgement see it.
  const second = `after the reset ${Date.now()}`;
  const res2 = await patch(worker, PATH, { title: second }, { token: editor });
  expectStatus(res2, 200, 'PATCH after the reset');
  const id2 = eventIdOf(res2);
  assert.equal(id2, id1 + 1, 'event ids go on from the stored last id');
  for (const region of REGIONS) {
    const r = await readIn(region);
    t.diagnostic(`${region}: ${r.cache} via ${r.edge}`);
    assert.equal(r.title, second, `${region} reads the write acknowledged after the reset`);
  }
  for (const [i, c] of clients.entries()) {
    await c.waitForId(id2, 10_000);
    const ids = c.events.filter((e) => e.type === 'app-update').map((e) => e.json.id);
    assert.deepEqual(ids, [id1, id2], `the stream in ${REGIONS[i]}, open through the reset, got each event once, in order`);
  }
});
