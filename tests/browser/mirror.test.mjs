// Mirroring seen from a visitor's page: an edit on deployment A shows up on
// a page connected to deployment B. The original app's deployments share their
// origin data (a local instance writes to production's database, and the
// mirror tells production's cache and visitors); two test instances each
// have their own D1, so the test gives B the same row change directly in its
// D1 first, as the shared database would. That write alone changes nothing
// on B's page, since B's cache still serves the old row: only the mirrored
// invalidation from A makes the page refetch and show it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerInstance, freePort } from '../common/harness.mjs';
import { EDITOR } from '../common/accounts.mjs';
import { login, patch, get, expectStatus } from '../common/api.mjs';
import { launchChromium, openDemo, watchText, getsOf, assertNoErrors } from '../common/browser.mjs';

/** Quick mirror retries, as in tests/runtime/mirror.test.mjs; the defaults are 1 s to 5 min. */
const FAST_RETRY = { MIRROR_RETRY_BASE_MS: '100', MIRROR_RETRY_CAP_MS: '500' };
/** From the write on A to B's page: mirror delivery (an alarm), B's event, the page's refetch. */
const MIRROR_MS = 15_000;

let a;
let b;
let browser;

before(async () => {
  const portB = await freePort();
  a = new WorkerInstance({ name: 'A', vars: { INSTANCE_ID: 'browser-a', CACHE_MIRRORS: `http://127.0.0.1:${portB}`, ...FAST_RETRY } });
  b = new WorkerInstance({ name: 'B', port: portB, vars: { INSTANCE_ID: 'browser-b', ...FAST_RETRY } });
  await Promise.all([a.start(), b.start()]);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await Promise.all([a?.dispose(), b?.dispose()]);
});

test('an edit on A shows up on a page connected to B', { timeout: 180_000 }, async (t) => {
  const page = await openDemo(browser, `${b.url}/#/posts/1`);
  await page.locator('[data-testid=reader-title]').waitFor();
  const old = 'What "the edge" actually means';
  assert.equal(await page.locator('[data-testid=reader-title]').textContent(), old);

  const title = 'What "the edge" means, mirrored from A';
  const updatedAt = Date.now();
  // The shared origin: B's database gets the row as A's will have it.
  await b.d1(`UPDATE posts SET title = '${title}', updated_at = ${updatedAt} WHERE id = 1`);
  const cached = await get(b, '/api/posts/1');
  assert.equal(cached.json.title, old, 'B still serves the cached row: nothing has told it yet');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await page.locator('[data-testid=reader-title]').textContent(), old);

  const from = page.apiRequests.length;
  const watches = await Promise.all([
    watchText(page, '[data-testid=reader-title]', title, MIRROR_MS),
    watchText(page, '[data-testid=feed-title]', title, MIRROR_MS),
  ]);
  const token = await login(a, EDITOR);
  const sent = Date.now();
  expectStatus(await patch(a, '/api/posts/1', { title }, { token }), 200, 'PATCH /api/posts/1 on A');
  const ats = await Promise.all(watches.map((w) => w.at));
  t.diagnostic(`from the write on A to the new title on B's page: ${Math.max(...ats) - sent} ms`);

  // The page on B learned it from B's stream, as an event that came from A.
  const entry = page.locator('[data-testid=log-event][data-origin=browser-a]').first();
  await entry.waitFor();
  assert.match(await entry.textContent(), /post 1\s*updated/);
  assert.equal(getsOf(page, '/api/posts/1', from).length, 1, 'the post view refetched once');
  assert.equal(getsOf(page, '/api/feed', from).length, 1, 'the feed refetched once');
  assertNoErrors(page, 'page on B');
  await page.context().close();
});
