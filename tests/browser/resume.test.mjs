// A page whose stream is cut: `wrangler dev` is stopped and started again on
// the same port and state, and the page is kept from reconnecting until the
// test lets it (so that what happens meanwhile is really missed live). It
// must come back by itself, catch up on an edit made while it was away, and,
// when it missed more than the event log holds (EVENT_LOG_SIZE=3 here),
// take the server's `reset` and refetch everything it shows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerInstance } from '../common/harness.mjs';
import { EDITOR } from '../common/accounts.mjs';
import { login, patch, expectStatus, status } from '../common/api.mjs';
import { launchChromium, openDemo, watchText, getsOf, waitLive, feedTitles, assertNoErrors } from '../common/browser.mjs';

const LOG_SIZE = 3;
/** A page that was cut off reconnects within the backoff's cap (15 s) plus a start-up margin. */
const RECONNECT_MS = 30_000;
const STREAM = '**/api/stream**';

let worker;
let browser;
let token;

before(async () => {
  worker = new WorkerInstance({ name: 'resume', vars: { INSTANCE_ID: 'browser-resume', EVENT_LOG_SIZE: String(LOG_SIZE) } });
  await worker.start();
  browser = await launchChromium();
  token = await login(worker, EDITOR);
});

after(async () => {
  await browser?.close();
  await worker?.dispose();
});

/**
 * Cuts the page's stream by restarting the instance (same port, same
 * state), with the page's reconnects refused until the returned function is
 * called. Resolves once the page says it is reconnecting and the instance is
 * up again.
 */
async function cutOff(page) {
  await page.route(STREAM, (route) => route.abort('connectionrefused'));
  await worker.stop();
  await page.locator('[data-testid=live-status][data-status=reconnecting]').waitFor();
  await worker.start();
  return () => page.unroute(STREAM);
}

/** The /api/stream requests of the page since `from` that reached the server. */
const streamRequests = (page, from) => page.apiRequests.slice(from).filter((r) => r.path.startsWith('/api/stream'));

const write = async (path, body) => expectStatus(await patch(worker, path, body, { token }), 200, `PATCH ${path}`);

test('a cut stream resumes by itself, and an edit made while the page was away shows up', { timeout: 180_000 }, async (t) => {
  const page = await openDemo(browser, `${worker.url}/#/posts/3`);
  await page.locator('[data-testid=reader-title]').waitFor();
  const { lastEventId: before } = await status(worker);

  const release = await cutOff(page);
  const title = 'One Durable Object per deployment (edited while you were away)';
  await write('/api/posts/3', { title });
  // The page could not have heard of it: it still shows the old title.
  await new Promise((r) => setTimeout(r, 1_000));
  assert.equal(await page.locator('[data-testid=reader-title]').textContent(), 'One Durable Object per deployment');
  assert.equal((await feedTitles(page)).includes(title), false);

  const from = page.apiRequests.length;
  const watches = await Promise.all([
    watchText(page, '[data-testid=reader-title]', title, RECONNECT_MS),
    watchText(page, '[data-testid=feed-title]', title, RECONNECT_MS),
  ]);
  const released = Date.now();
  await release();
  const [viewAt, feedAt] = await Promise.all(watches.map((w) => w.at));
  await waitLive(page, RECONNECT_MS);
  t.diagnostic(`back on screen ${Math.max(viewAt, feedAt) - released} ms after the page was let reconnect`);

  // It resumed (asked for what came after the last id it knew) rather than
  // starting afresh: with our client's ?lastEventId= or, when the browser
  // reconnects by itself, its Last-Event-ID header.
  await Promise.all(streamRequests(page, from).map((r) => r.ready));
  const resumed = streamRequests(page, from).filter((r) => r.headers['last-event-id'] !== undefined || /[?&]lastEventId=/.test(r.path));
  assert.ok(resumed.length > 0, `the reconnect resumes: ${JSON.stringify(streamRequests(page, from).map((r) => [r.path, r.headers['last-event-id']]))}`);
  const resumedFrom = Number(resumed.at(-1).headers['last-event-id'] ?? /lastEventId=([0-9]+)/.exec(resumed.at(-1).path)[1]);
  assert.equal(resumedFrom, before, 'from the last event id the page had seen');
  assert.equal(await page.locator('[data-testid=log-reset]').count(), 0, 'replayed, no reset needed');
  assert.equal(getsOf(page, '/api/posts/3', from).length, 1, 'the post view refetched once');
  assertNoErrors(page, 'the page', { allowNetwork: true });
  await page.context().close();
});

test('a page away for more writes than the event log holds gets reset and refetches everything', { timeout: 180_000 }, async (t) => {
  const page = await openDemo(browser, `${worker.url}/#/posts/3`);
  await page.locator('[data-testid=reader-title]').waitFor();
  await page.locator('.reader .chip').waitFor(); // the categories query, too
  const release = await cutOff(page);

  // LOG_SIZE + 2 writes: the page's last id falls out of the log.
  const category = 'Durable Objects & Hubs';
  await write('/api/categories/2', { name: category });
  const titles = ['Edge, defined', 'Leases, without memcache', 'Mirroring between deployments', 'Generations'];
  for (const [id, title] of [[1, titles[0]], [5, titles[1]], [6, titles[2]], [2, titles[3]]]) {
    await write(`/api/posts/${id}`, { title });
  }

  const from = page.apiRequests.length;
  const watches = await Promise.all([
    watchText(page, '.reader .chip', category, RECONNECT_MS),
    ...titles.map((title) => watchText(page, '[data-testid=feed-title]', title, RECONNECT_MS)),
  ]);
  const released = Date.now();
  await release();
  const ats = await Promise.all(watches.map((w) => w.at));
  t.diagnostic(`everything current ${Math.max(...ats) - released} ms after the page was let reconnect`);
  await page.locator('[data-testid=log-reset]').waitFor();
  await waitLive(page, RECONNECT_MS);
  await new Promise((r) => setTimeout(r, 800));

  // Every query on screen was refetched, once: the feed, the open post and
  // the categories (which name the open post's category).
  for (const path of ['/api/feed', '/api/posts/3', '/api/categories']) {
    assert.equal(getsOf(page, path, from).length, 1, `${path} refetched once after the reset`);
  }
  assertNoErrors(page, 'the page', { allowNetwork: true });
  await page.context().close();
});
