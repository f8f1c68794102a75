// Bursts: 50 events for the same type must not become 50 refetches. The
// page counts as one visitor reading post 2 (its queries: the feed, post 2,
// and the categories, which posts do not affect); the test counts the
// page's API requests, what the visitor pays for.
//
// The 50 invalidations leave in one write (pipelined on one connection),
// well within 20 ms. The Worker answers them one after the other, and on
// this kind of machine `wrangler dev` takes 10-50 ms for each, so to a
// connected page they arrive as a trickle over half a second or more. The
// burst that arrives at once is the replay a page gets when it reconnects:
// the first test sends the 50 while the page is cut off and asserts one
// refetch per affected query. The second sends them to a connected page,
// prints how they arrived, and counts the page's refetches against the most
// a client keeping the README's promise may make for events arriving when
// these did; and each query must be refetched after the last event.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerInstance } from '../common/harness.mjs';
import { ADMIN } from '../common/accounts.mjs';
import { login, sendAtOnce, status } from '../common/api.mjs';
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

/**
 * Runs in the page before its scripts: records when (Date.now()) the page's
 * EventSource delivered each app-update, in `window.__arrivals`. The page's
 * own activity log keeps only its last 80 entries.
 */
function recordArrivals() {
  window.__arrivals = [];
  const Native = window.EventSource;
  window.EventSource = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('app-update', () => window.__arrivals.push(Date.now()));
    }
  };
}

/** The demo at post 2, arrivals recorded; waits until its post is shown. */
async function openPost2() {
  const page = await openDemo(browser, `${worker.url}/#/posts/2`, { initScript: recordArrivals });
  await page.locator('.reader .chip').waitFor();
  return page;
}

/**
 * Waits until the page has received `n` events in all; returns when (page
 * clock, ms) each of the last BURST arrived, in order, and the first and last.
 */
async function arrivals(page, n) {
  await page.locator('[data-testid=event-count]').filter({ hasText: new RegExp(`^${n} events$`) }).waitFor({ timeout: RECONNECT_MS });
  const ats = (await page.evaluate(() => window.__arrivals)).slice(-BURST);
  assert.equal(ats.length, BURST, `the page's EventSource delivered ${BURST} events`);
  return { ats, first: ats[0], last: ats.at(-1) };
}

/**
 * The most merged refreshes, so the most refetches of one query, that
 * events arriving at `ats` (ms, in order) may cost. The README: events less
 * than 30 ms apart form one batch, flushed at most 250 ms after its first
 * event, and while a burst goes on the window widens; as
 * clients/js/src/coalescer.ts says how, it starts at 30 ms after a quiet
 * spell and doubles with each batch, up to 250 ms. A batch lasts at least
 * its window before the next one can start, so batches 1..k-1 of a burst
 * span at least 30 + 60 + 120 + 240 + 250 + ... ms. Only a gap of 250 ms or
 * more starts the window over at 30 ms; each stretch between gaps of 200 ms
 * or more (a margin) is counted on its own, which can only raise the bound.
 * A query is refetched once per batch at most (one already fetching, once
 * after its fetch), so this bounds its refetches too. Each window is taken
 * 2 ms short: `ats` are whole milliseconds, and a page's timer may fire a
 * fraction of one early.
 */
function mostRefreshes(ats) {
  let most = 0;
  let start = 0;
  for (let i = 1; i <= ats.length; i++) {
    if (i < ats.length && ats[i] - ats[i - 1] < 200) continue;
    const span = ats[i - 1] - ats[start];
    let batches = 1;
    let used = 0;
    for (let window = 30; used + window - 2 <= span; window = Math.min(250, window * 2)) {
      used += window - 2;
      batches += 1;
    }
    most += batches;
    start = i;
  }
  return most;
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
  const page = await openPost2();

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

test(`${BURST} events sent to a connected page: a few refetches, not one per event, however the Worker spreads them`, { timeout: 120_000 }, async (t) => {
  const page = await openPost2();
  const from = page.apiRequests.length;
  const written = await status(worker);
  const { sendMs, ackMs } = await burst();
  const { ats, first, last } = await arrivals(page, BURST);
  // The Edge coalesces a burst: the page's EventSource got several events
  // in one chunk, and still took each of them.
  const now = await status(worker);
  const chunks = now.streamChunks - written.streamChunks;
  t.diagnostic(`the Edge wrote the page's stream ${now.streamEvents - written.streamEvents} events in ${chunks} chunks`);
  assert.ok(chunks < BURST, `fewer chunks than events reached the page (${chunks})`);
  await new Promise((r) => setTimeout(r, QUIET_MS));
  const got = refetches(page, from);
  const flushes = await page.locator('[data-testid=log-refresh]').count();
  const most = mostRefreshes(ats);
  t.diagnostic(`sent ${BURST} in ${sendMs.toFixed(2)} ms (all acknowledged after ${ackMs.toFixed(0)} ms); `
    + `the page received them over ${last - first} ms in ${flushes} merged refreshes (at most ${most} for these arrivals); refetches: ${JSON.stringify(got)}`);
  // Only a burst that arrives within about 11 s, its events less than
  // 200 ms apart, can tell merging from one refetch per event (on this
  // machine it takes 0.5 to 3 s).
  assert.ok(most < BURST, `the ${BURST} events arrived over ${last - first} ms: too slowly to tell merged refreshes from one per event`);
  assert.equal(got.categories, 0, 'categories are not affected');
  assert.ok(got.feed >= 1 && got.post >= 1, 'the page refetched');
  assert.ok(got.feed <= most && got.post <= most, `at most ${most} refetches of each query for ${BURST} events over ${last - first} ms, got ${JSON.stringify(got)}`);
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
