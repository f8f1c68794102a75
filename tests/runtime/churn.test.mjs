// Subscribers come and go: /api/status counts open streams, a closed stream
// is removed within a heartbeat or so (SSE_HEARTBEAT_SECS=1 here), and 500
// connect/disconnect cycles leave no subscriber and no file descriptor behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { SERVICE } from '../common/accounts.mjs';
import { login, status, waitUntil, invalidate } from '../common/api.mjs';
import { connect } from '../common/sse.mjs';

const CYCLES = 500;
const PARALLEL = 25;
let worker;

before(async () => {
  // 500 streams opened and dropped in a loop from one address outrun the
  // limit per address (a dropped stream counts until the Edge notices it).
  worker = await startWorker({ vars: { INSTANCE_ID: 'churn-test', SSE_HEARTBEAT_SECS: '1', SSE_STREAMS_PER_ADDRESS: '100000' } });
});
after(async () => { await worker?.dispose(); });

const subscribersBecome = (n, timeoutMs = 20_000) => waitUntil(async () => {
  const s = await status(worker);
  return s.subscribers === n ? s : false;
}, { timeoutMs, intervalMs: 200, what: `subscribers = ${n}` });

test('a quiet stream gets a ": ping" comment every SSE_HEARTBEAT_SECS (1 s here): gaps near 1 s, not 2', { timeout: 30_000 }, async (t) => {
  const PINGS = 6;
  const s = await connect(`${worker.url}/api/stream`);
  try {
    const pings = () => s.comments.filter((c) => c.text.trim() === 'ping');
    await s.waitUntil(() => pings().length >= PINGS, 15_000, `${PINGS} pings`);
    const at = pings().slice(0, PINGS).map((c) => c.at);
    const gaps = at.slice(1).map((x, i) => Math.round(x - at[i]));
    // The mean gap is the span of the pings over their count: a ping that
    // arrives late (a loaded machine) lengthens one gap and shortens the
    // next, and moves the mean by a fifth of its delay at most. A heartbeat
    // of 2 s gives 2000 ms, one of 0.5 s 500 ms.
    const mean = (at.at(-1) - at[0]) / (PINGS - 1);
    t.diagnostic(`gaps between pings: ${gaps.join(', ')} ms (mean ${mean.toFixed(0)} ms)`);
    assert.ok(mean >= 800 && mean <= 1250, `a ping every second: mean gap ${mean.toFixed(0)} ms (${gaps.join(', ')})`);
    assert.equal(s.ofType('app-update').length, 0, 'pings are comments, not events');
  } finally {
    s.close();
  }
});

test('status counts open streams and drops closed ones', { timeout: 60_000 }, async () => {
  await subscribersBecome(0);
  const open = [];
  try {
    for (let i = 0; i < 10; i++) open.push(await connect(`${worker.url}/api/stream`));
    await subscribersBecome(10, 5000);
  } finally {
    for (const s of open) s.close();
  }
  await subscribersBecome(0, 10_000);
});

test(`${CYCLES} connect/disconnect cycles leave zero subscribers and no leaked descriptors`, { timeout: 300_000 }, async () => {
  await subscribersBecome(0);
  const fdsBefore = worker.workerdFds();
  assert.ok(fdsBefore > 0, 'workerd processes of the instance are visible in /proc');
  let next = 0;
  let done = 0;
  const deadline = Date.now() + 240_000;
  async function lane() {
    while (next < CYCLES) {
      if (Date.now() > deadline) throw new Error(`churn too slow: ${done}/${CYCLES} cycles`);
      next++;
      const s = await connect(`${worker.url}/api/stream`, { timeoutMs: 10_000 });
      s.close();
      done++;
    }
  }
  await Promise.all(Array.from({ length: PARALLEL }, lane));
  assert.equal(done, CYCLES);
  await subscribersBecome(0, 20_000);
  // Closed streams must not hold sockets in workerd either (without
  // heartbeat writes, every closed stream leaked). Allow a little slack.
  const fdsAfter = await waitUntil(() => {
    const n = worker.workerdFds();
    return n <= fdsBefore + 25 ? n : false;
  }, { timeoutMs: 30_000, intervalMs: 500, what: `workerd descriptors back near ${fdsBefore}` }).catch((e) => {
    throw new Error(`${e.message}; now ${worker.workerdFds()} (before ${fdsBefore})`);
  });
  assert.ok(fdsAfter <= fdsBefore + 25);

  // The Hub still works after the churn.
  const s = await connect(`${worker.url}/api/stream`);
  try {
    await subscribersBecome(1, 5000);
    const { eventId } = await invalidate(worker, await login(worker, SERVICE), { type: 'posts' });
    await s.waitForId(eventId);
  } finally {
    s.close();
  }
  await subscribersBecome(0, 10_000);
});
