// Helpers for the browser tests: Debian's Chromium driven by playwright-core
// (nothing here downloads a browser), pages of the demo with their errors
// and API requests recorded, and bounded waits measured inside the page.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT } from './harness.mjs';

/** The browser: Debian's package (scripts/bootstrap.sh installs it). */
export const CHROMIUM = process.env.POLYCACHE_CHROMIUM || '/usr/bin/chromium';

/** Where screenshots go (git-ignored). */
export const RESULTS_DIR = join(ROOT, 'test-results');

/**
 * Flags for a quiet, offline, headless Chromium: no sandbox (tests run as
 * root in containers), no GPU, none of the background traffic a browser makes
 * on its own (updates, sync, QUIC probes), and every host name but
 * 127.0.0.1 unresolvable, so that nothing leaves the machine. Playwright
 * adds --headless and a fresh --user-data-dir of its own.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-quic',
  '--disable-sync',
  '--disable-dev-shm-usage',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

/** How long a page may take for anything a user would wait for. */
export const UI_TIMEOUT_MS = 15_000;

/** Starts Chromium; close it with browser.close(). */
export async function launchChromium() {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: run scripts/bootstrap.sh (it installs Debian's chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
}

/**
 * Opens `url` in a new context (its own cookies and storage: another
 * visitor) and waits until the demo is live and shows `ready` (a selector;
 * by default the blog's feed).
 * The page records its uncaught errors in `page.errors` and every request
 * to a path under one of `recordPaths` (by default /api/) in
 * `page.apiRequests` as {method, path, headers, at, ready}
 * (`at`: Date.now(); `headers` are complete once `ready` resolves).
 * `initScript` (a function, optional) runs in the page before its own
 * scripts, as Playwright's page.addInitScript.
 */
export async function openDemo(browser, url, {
  viewport = { width: 1280, height: 900 }, initScript, ready = '[data-testid=feed-item]', recordPaths = ['/api/'],
} = {}) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  if (initScript) await page.addInitScript(initScript);
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  page.errors = [];
  page.apiRequests = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(`console: ${m.text()}`); });
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (!recordPaths.some((prefix) => u.pathname.startsWith(prefix))) return;
    // headers() leaves out what the network stack adds, such as the
    // Last-Event-ID of an EventSource's own reconnect: allHeaders() has it,
    // a moment later (`ready`).
    const entry = { method: r.method(), path: u.pathname + u.search, headers: r.headers(), at: Date.now() };
    entry.ready = r.allHeaders().then((h) => { entry.headers = h; }, () => {});
    page.apiRequests.push(entry);
  });
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 30_000 });
  await waitLive(page);
  await page.locator(ready).first().waitFor();
  return page;
}

/** Waits until the page's connection badge says Live. */
export async function waitLive(page, timeout = UI_TIMEOUT_MS) {
  await page.locator('[data-testid=live-status][data-status=open]').waitFor({ timeout });
}

/** The page's connection status (connecting, open, reconnecting). */
export function liveStatus(page) {
  return page.locator('[data-testid=live-status]').getAttribute('data-status');
}

/** GET requests of the page to exactly this API path since index `from` of page.apiRequests. */
export function getsOf(page, path, from = 0) {
  return page.apiRequests.slice(from).filter((r) => r.method === 'GET' && r.path === path);
}

/**
 * Watches, inside the page, for an element matching `selector` whose text
 * includes `text`. Resolves once the watch is installed, with `{ at }`: a
 * promise of the page's Date.now() at the first DOM change that showed the
 * text (rejected after `timeout`). Install it before the action that should
 * cause the change; the page and the tests share the machine's clock.
 */
export async function watchText(page, selector, text, timeout = UI_TIMEOUT_MS) {
  const handle = await page.evaluateHandle(([sel, t, ms]) => {
    // Wrapped in an object so that evaluateHandle returns at once instead of
    // waiting for the promise.
    const at = new Promise((resolve, reject) => {
      const hit = () => [...document.querySelectorAll(sel)].some((el) => el.textContent.includes(t));
      if (hit()) { resolve(Date.now()); return; }
      const observer = new MutationObserver(() => {
        if (!hit()) return;
        observer.disconnect();
        clearTimeout(timer);
        resolve(Date.now());
      });
      const timer = setTimeout(() => {
        observer.disconnect();
        reject(new Error(`no ${sel} showing ${JSON.stringify(t)} within ${ms} ms`));
      }, ms);
      observer.observe(document.documentElement, { subtree: true, childList: true, characterData: true });
    });
    return { at };
  }, [selector, text, timeout]);
  return { at: handle.evaluate((w) => w.at).finally(() => handle.dispose()) };
}

/** The titles the page's feed shows, in order. */
export function feedTitles(page) {
  return page.locator('[data-testid=feed-title]').allTextContents();
}

/** Saves a full-page screenshot under test-results/; returns its path. */
export async function screenshot(page, name) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true, animations: 'disabled' });
  return path;
}

/**
 * Asserts that the page had no uncaught error nor console error. With
 * allowNetwork, the console errors Chromium logs for requests that failed
 * (a stream cut on purpose, its refused reconnects) are allowed.
 */
export function assertNoErrors(page, what = 'page', { allowNetwork = false } = {}) {
  const network = /^console: (Failed to load resource|.*net::ERR_)/;
  const errors = allowNetwork ? page.errors.filter((e) => !network.test(e)) : page.errors;
  assert.deepEqual(errors, [], `${what} logged errors`);
}
