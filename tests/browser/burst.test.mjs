// Bursts: 50 events for the same type must not become 50 refetches. The
// page counts as one visitor reading post 2 (its queries: the feed, post 2,
// and the categories, which posts do not affect); the test counts the
// page's API requests.
//
// The 50 invalidations leave in one write (pipelined on one connection),
// well within 20 ms. The Worker answers them one after the other, and on
// this kind of machine `wrangler dev` takes 10-50 ms for each, so to a
// connected page they arrive as a trickle over half a second or more. The
// burst that arrives at once is the replay a page gets when it reconnects:
// the first test sends the 50 while the page is cut off and asserts one
// refetch per affected query. The second sends them to a connected page,
// prints how they arrived, and asserts what holds however they are spread:
// a query refetches at most once per merged refresh (also when refreshes
// come while it is still fetching), and after the last event.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerInstance } from '../common/harness.mjs';
import { ADMIN } from '../common/accounts.mjs';
import { login, sendAtOnce } from '../common/api.mjs';
import { launchChromium, openDemo, getsOf, waitLive, assertNoErrors } from '../common/browser.mjs';

const BURST = 50;
/** A page cut off reconnects within the backoff's cap (15 s) plus a margin. */
const RECONNECT_MS = 30_000;
/** Time for a refetch that should not happen to show up before requests are counted. */
const QUIET_MS = 1_000;
const STREAM = '**/api/stream**';

let worker;
let browser;
let admin;

before(async () => {
  worker = new WorkerInstance({ name: 'burst', vars: { INSTANCE_ID: 'browser-burst' } });
  await worker.start();
  browser = await launchChromium();
  // POST /api/cache/invalidate needs a service or admin token.
  admin = await login(worker, ADMIN);
});

after(async () => {
  await browser?.close();
  await worker?.dispose();
});

/**
 * Sends BURST invalidations of post 2 at the same moment: one write, so they
 * leave together by construction (sendMs, printed, is that write's time,
 * including any moment the OS took this process off the CPU). Returns how
 * long sending and the answers took (ms).
 */
async function burst() {
  const started = performance.now();
  const request = { method: 'POST', path: '/api/cache/invalidate', token: admin, body: { type: 'post', id: '2', action: 'update' } };
  const { sentMs, responses } = await sendAtOnce(worker, Array.from({ length: BURST }, () => request));
  for (const res of responses) assert.equal(res.status, 200, `invalidate: ${res.text.slice(0, 300)}`);
  return { sendMs: sentMs, ackMs: performance.now() - started };
}

/** Waits until the page has logged `n` events in all; returns when (page clock) each of the last BURST arrived. */
async function arrivals(page, n) {
  await page.locator('[data-testid=event-count]').filter({ hasText: new RegExp(`^${n} events$`) }).waitFor({ timeout: RECONNECT_MS });
  const ats = (await page.locator('[data-testid=log-event]').evaluateAll((rows, k) => rows.slice(0, k).map((r) => Number(r.dataset.at)), BURST));
  return { first: Math.min(...ats), last: Math.max(...ats) };
}

/** The page's refetches of what a post-2 burst affects, and of what it does not. */
function refetches(page, from) {
  return {
    feed: getsOf(page, '/api/feed', from).length,
    post: getsOf(page, '/api/posts/2', from).length,
    categories: getsOf(page, '/api/categories', from).length,
  };
}

test(`${BURST} events for one type arriving at once: one refetch per affected query`, { timeout: 180_000 }, async (t) => {
  const page = await openDemo(browser, `${worker.url}/#/posts/2`);
  await page.locator('.reader .chip').waitFor();

  // Cut the page off (restart the instance, refuse its reconnects meanwhile).
  await page.route(STREAM, (route) => route.abort('connectionrefused'));
  await worker.restart();
  const { sendMs, ackMs } = await burst();

  const from = page.apiRequests.length;
  await page.unroute(STREAM);
  const { first, last } = await arrivals(page, BURST);
  await waitLive(page, RECONNECT_MS);
  await new Promise((r) => setTimeout(r, QUIET_MS));

  const got = refetches(page, from);
  t.diagnostic(`sent ${BURST} in ${sendMs.toFixed(2)} ms (all acknowledged after ${ackMs.toFixed(0)} ms); `
    + `the page received them within ${last - first} ms; refetches: ${JSON.stringify(got)}`);
  assert.deepEqual(got, { feed: 1, post: 1, categories: 0 }, 'one refetch per affected query, none of the others');
  const merged = await page.locator('[data-testid=log-refresh]').first().getAttribute('data-merged');
  assert.equal(Number(merged), BURST, `the page merged all ${BURST} into one refresh`);
  assertNoErrors(page, 'the page', { allowNetwork: true });
  await page.context().close();
});

test(`${BURST} events sent to a connected page: at most one refetch per merged refresh, however spread out`, { timeout: 120_000 }, async (t) => {
  const page = await openDemo(browser, `${worker.url}/#/posts/2`);
  await page.locator('.reader .chip').waitFor();
  const from = page.apiRequests.length;
  const { sendMs, ackMs } = await burst();
  const { first, last } = await arrivals(page, BURST);
  await new Promise((r) => setTimeout(r, QUIET_MS));
  const got = refetches(page, from);
  const flushes = await page.locator('[data-testid=log-refresh]').count();
  t.diagnostic(`sent ${BURST} in ${sendMs.toFixed(2)} ms (all acknowledged after ${ackMs.toFixed(0)} ms); `
    + `the page received them over ${last - first} ms in ${flushes} merged refreshes; refetches: ${JSON.stringify(got)}`);
  assert.equal(got.categories, 0, 'categories are not affected');
  assert.ok(got.feed >= 1 && got.post >= 1, 'the page refetched');
  assert.ok(got.feed <= flushes && got.post <= flushes, 'at most one refetch per merged refresh');
  // None was lost either: each query was refetched after the last event came
  // (not merely joined to a fetch that had started before it).
  for (const path of ['/api/feed', '/api/posts/2']) {
    const lastGet = getsOf(page, path, from).at(-1);
    assert.ok(lastGet.at > last, `${path}: the last refetch (${lastGet.at}) started after the last event (${last})`);
  }
  assertNoErrors(page, 'the page');
  await page.context().close();
});
