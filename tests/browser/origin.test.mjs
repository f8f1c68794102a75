// The demo page in origin mode: polycache in front of the stand-in shop API
// (tests/common/origin.mjs), so the page shows the route table and live
// reads of the origin's routes instead of the blog. Two visitors read
// /v1/products; a write sent from one page's request box, and then a change
// made straight to the origin followed by its webhook, each show on both
// pages without a reload, each page refetching the list once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWorker, TEST_SECRETS } from '../common/harness.mjs';
import { startOrigin } from '../common/origin.mjs';
import { startCli } from '../common/cli.mjs';
import { launchChromium, openDemo, watchText, getsOf, screenshot, assertNoErrors } from '../common/browser.mjs';

const INSTANCE_ID = 'browser-origin';
const LIST = '/v1/products';
/** The list's read on a page: its card, and the JSON it shows. */
const CARD = `[data-testid=origin-read][data-path="${LIST}"]`;
const LIST_JSON = `${CARD} [data-testid=answer-json]`;
/** Time for a refetch that should not happen to show up before requests are counted. */
const QUIET_MS = 800;

let origin;
let worker;
let browser;
let configDir;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  origin = await startOrigin();
  worker = await startWorker({ name: 'origin-demo', vars: { INSTANCE_ID, ...origin.vars() } });
  browser = await launchChromium();
  configDir = mkdtempSync(join(tmpdir(), 'polycache-cli-'));
});

after(async () => {
  await browser?.close();
  await worker?.dispose();
  await origin?.close();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

/** A visitor's page in origin mode, with its reads of /v1/ recorded; waits until it shows the product list. */
function openShop() {
  return openDemo(browser, `${worker.url}/`, { ready: LIST_JSON, recordPaths: ['/api/', '/v1/'] });
}

/** The long-lived token the shop keeps in its settings for the webhook, minted by the CLI as an operator would. */
async function mintToken() {
  const { done } = startCli(['token', 'mint', '--name', 'shop', '--instance', INSTANCE_ID], {
    configDir, env: { JWT_SECRET: TEST_SECRETS.JWT_SECRET },
  });
  const { code, stdout, stderr } = await done;
  assert.equal(code, 0, `polycache token mint: ${stderr}`);
  const token = stdout.trim().split('\n').at(-1).trim();
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'the CLI printed a JWT');
  return token;
}

/** Fills the page's request box and sends; returns the status and x-invalidation-event the page shows. */
async function sendWrite(page, { method, path, body, authorization }) {
  const box = page.locator('[data-testid=request-box]');
  await box.locator('[data-testid=request-method]').selectOption(method);
  await box.locator('[data-testid=request-path]').fill(path);
  await box.locator('[data-testid=request-body]').fill(JSON.stringify(body));
  await box.locator('[data-testid=request-auth]').fill(authorization);
  // The result of this send, not of an earlier one: its data-sent (when it was sent) differs.
  const results = box.locator('[data-testid=request-result]');
  const earlier = (await results.count()) > 0 ? await results.getAttribute('data-sent') : null;
  await box.locator('[data-testid=request-send]').click();
  const result = box.locator(earlier === null ? '[data-testid=request-result]' : `[data-testid=request-result]:not([data-sent="${earlier}"])`);
  await result.waitFor();
  return { status: Number(await result.getAttribute('data-status')), event: await result.getAttribute('data-event') };
}

/**
 * Runs `change` with both pages watched for `title` in their product list;
 * resolves once both show it, with each page's GETs of the list since.
 */
async function bothShow(pages, title, change) {
  const from = pages.map((p) => p.apiRequests.length);
  const watches = await Promise.all(pages.map((p) => watchText(p, LIST_JSON, title)));
  const out = await change();
  await Promise.all(watches.map((w) => w.at));
  await sleep(QUIET_MS);
  return { out, refetches: pages.map((p, i) => getsOf(p, LIST, from[i]).length) };
}

test('origin mode: the page shows the route table and reads the routes without params', { timeout: 120_000 }, async () => {
  const page = await openShop();
  assert.equal(await page.locator('[data-testid=feed]').count(), 0, 'no blog in origin mode');
  const rows = page.locator('[data-testid=route-row]');
  assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => e.dataset.path)), origin.routes.map((r) => r.path));
  assert.match(await page.locator('[data-testid=route-row][data-path="/v1/greeting"]').textContent(), /accept-language/,
    "the greeting route's vary is shown");
  // The list came through polycache: x-cache and the Edge are shown, as the blog shows them.
  const served = page.locator(`${CARD} [data-testid=served]`);
  await served.waitFor();
  assert.match(await served.getAttribute('data-cache'), /^(hit|miss)$/);
  assert.match(await served.getAttribute('data-edge'), /^edge:[a-z0-9-]+:[0-9]+$/);
  assert.match(await page.locator(LIST_JSON).textContent(), /"id": "3"/, 'the seeded products are listed');
  // A path typed by the visitor: a binary answer shows its type and size.
  await page.locator('[data-testid=read-path]').fill('/v1/images/3');
  await page.locator('[data-testid=read-add]').click();
  const image = page.locator('[data-testid=origin-read][data-path="/v1/images/3"] [data-testid=answer]');
  await image.waitFor();
  assert.match(await image.textContent(), /image\/png/);
  assertNoErrors(page, 'the page');
  await page.context().close();
});

test('origin mode: a write from the request box, then an admin change and its webhook, show on two pages without a reload', { timeout: 120_000 }, async (t) => {
  const a = await openShop();
  const b = await openShop();

  // The origin decides who may write: without its token, its 401 is shown and nothing is refetched.
  const from = [a.apiRequests.length, b.apiRequests.length];
  const refused = await sendWrite(a, { method: 'PATCH', path: '/v1/products/3', body: { title: 'Not allowed' }, authorization: '' });
  assert.equal(refused.status, 401, "the origin's 401 is shown");
  assert.equal(refused.event, '', 'no invalidation event for a refused write');
  await sleep(QUIET_MS);
  assert.deepEqual([getsOf(a, LIST, from[0]).length, getsOf(b, LIST, from[1]).length], [0, 0], 'a refused write refetches nothing');

  const title = 'Desk lamp, renamed in the demo';
  const written = await bothShow([a, b], title, () => sendWrite(a, {
    method: 'PATCH', path: '/v1/products/3', body: { title }, authorization: 'Bearer shop-editor',
  }));
  assert.equal(written.out.status, 200, 'PATCH /v1/products/3 through polycache');
  assert.match(written.out.event, /^[0-9]+$/, 'the answer carries x-invalidation-event');
  assert.deepEqual(written.refetches, [1, 1], 'each page refetched the list once');
  // The event the write announced is the one both pages logged.
  for (const page of [a, b]) {
    const row = page.locator(`[data-testid=log-event][data-event-id="${written.out.event}"]`);
    await row.waitFor();
    assert.match(await row.textContent(), /product 3\s*updated/);
  }

  // Straight to the origin (its admin panel), then its webhook with the long-lived token.
  const token = await mintToken();
  const direct = 'Desk lamp, renamed in the admin panel';
  const notified = await bothShow([a, b], direct, async () => {
    origin.adminEdit('3', { title: direct });
    return origin.notify(worker.url, token, { type: 'products', id: '3', action: 'update' });
  });
  assert.equal(notified.out.status, 200, `the webhook: ${notified.out.text}`);
  assert.deepEqual(notified.refetches, [1, 1], 'each page refetched the list once after the webhook');
  t.diagnostic(`screenshot: ${await screenshot(a, 'demo-origin-mode')}`);
  // Chromium logs the refused write's 401 as a resource that failed to load: that one only.
  const refusedLog = /^console: Failed to load resource: the server responded with a status of 401/;
  assert.equal(a.errors.filter((e) => refusedLog.test(e)).length, 1, "page A's console shows the refused write");
  a.errors = a.errors.filter((e) => !refusedLog.test(e));
  assertNoErrors(a, 'page A');
  assertNoErrors(b, 'page B');
  await a.context().close();
  await b.context().close();
});
