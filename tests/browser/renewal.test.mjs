// Stream renewal in a real browser: the Hub ends every stream after a few
// writes (SSE_MAX_WRITES=4 here, so every 2 to 4 writes) with a short
// `retry:`, and the page's EventSource must come back by itself with
// Last-Event-ID and show every edit, with no reset and no error, its live
// badge saying Live all along (the Hub says `renew` before it ends one).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { EDITOR } from '../common/accounts.mjs';
import { login, patch, expectStatus } from '../common/api.mjs';
import { launchChromium, openDemo, watchText, waitLive, assertNoErrors } from '../common/browser.mjs';

const EDITS = 10;
let worker;
let browser;
let token;

before(async () => {
  worker = await startWorker({ vars: { INSTANCE_ID: 'browser-renewal', SSE_MAX_WRITES: '4', SSE_HEARTBEAT_SECS: '90' } });
  browser = await launchChromium();
  token = await login(worker, EDITOR);
});

after(async () => {
  await browser?.close();
  await worker?.dispose();
});

test('a page follows every edit while its stream is renewed every few writes', { timeout: 180_000 }, async (t) => {
  const page = await openDemo(browser, `${worker.url}/#/posts/3`);
  await page.locator('[data-testid=reader-title]').waitFor();
  await waitLive(page);
  // The header EventSource adds on its own reconnects is not among a
  // request's provisional headers: ask for all of them.
  const streams = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname === '/api/stream') streams.push(r.allHeaders().then((h) => ({ path: u.pathname + u.search, lastEventId: h['last-event-id'] })));
  });
  // Every status the page's live badge shows from here on.
  await page.evaluate(() => {
    const badge = document.querySelector('[data-testid=live-status]');
    window.statusesSeen = [];
    new MutationObserver(() => window.statusesSeen.push(badge.getAttribute('data-status')))
      .observe(badge, { attributes: true, attributeFilter: ['data-status'] });
  });
  const started = Date.now();
  for (let i = 1; i <= EDITS; i++) {
    const title = `Renewed stream, edit ${i}`;
    const shown = await watchText(page, '[data-testid=reader-title]', title);
    expectStatus(await patch(worker, '/api/posts/3', { title }, { token }), 200, 'PATCH /api/posts/3');
    await shown.at;
  }
  t.diagnostic(`${EDITS} edits shown in ${Date.now() - started} ms`);
  const renewed = await Promise.all(streams);
  // 10 writes with at most 4 per stream (the first is the preamble): at
  // least 3 new streams, each resuming from the last id the page had.
  assert.ok(renewed.length >= 3, `the stream was renewed: ${renewed.length} new stream requests`);
  for (const r of renewed) {
    assert.ok(r.lastEventId !== undefined || /[?&]lastEventId=/.test(r.path), `a renewed stream resumes: ${JSON.stringify(r)}`);
  }
  assert.equal(await page.locator('[data-testid=log-reset]').count(), 0, 'no reset');
  // A renewal is announced (`event: renew`): the badge stays Live throughout.
  const seen = await page.evaluate(() => window.statusesSeen);
  assert.deepEqual(seen.filter((x) => x !== 'open'), [], `the badge showed ${JSON.stringify(seen)}`);
  await waitLive(page);
  assertNoErrors(page, 'the page');
  await page.context().close();
});
