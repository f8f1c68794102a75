// Origin mode when the origin misbehaves or the settings are wrong: a
// stampede on a slow origin makes one origin read per region, an origin that
// is down or hangs answers 502/504 JSON within ORIGIN_TIMEOUT_MS and nothing
// bad is cached (caching resumes when it is back), ORIGIN_UNMATCHED=404 and
// ORIGIN_MAX_BODY_BYTES keep requests from the origin, and a route table
// with an error makes every request answer the configuration error naming
// the entry.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { get, request, show, expectError, sendAtOnce } from '../common/api.mjs';
import { edgeVars, inRegion } from '../common/regions.mjs';
import { startOrigin, EDITOR_TOKEN, ROUTES } from '../common/origin.mjs';

const TIMEOUT_MS = 1500;
/** How much later than ORIGIN_TIMEOUT_MS an answer may come on a loaded machine. */
const MARGIN_MS = 3000;
/** ORIGIN_MAX_BODY_BYTES of the test: its smallest value. */
const MAX_BODY = 1024;
const REGIONS = ['weur', 'enam'];
const STAMPEDE = 200;
const EDITOR = { authorization: `Bearer ${EDITOR_TOKEN}` };

describe('an origin that is slow, down or hanging', () => {
  let origin;
  let worker;
  before(async () => {
    origin = await startOrigin();
    worker = await startWorker({
      name: 'origin-faults',
      vars: {
        ...origin.vars(),
        INSTANCE_ID: 'origin-faults',
        ORIGIN_TIMEOUT_MS: String(TIMEOUT_MS),
        ORIGIN_UNMATCHED: '404',
        ORIGIN_MAX_BODY_BYTES: String(MAX_BODY),
        ...edgeVars({ regions: REGIONS }),
      },
    });
  });
  after(async () => {
    await worker?.dispose();
    await origin?.close();
  });

  const read = async (path, headers) => {
    const res = await get(worker, path, { headers });
    return { ...res, cache: res.headers.get('x-cache') };
  };

  /** 200 GETs of `path` at once, the i-th in regions[i % n]; returns the responses and how many reached the origin. */
  async function stampede(path, regions) {
    origin.resetCounts();
    origin.latencyMs = 500;
    try {
      const requests = Array.from({ length: STAMPEDE }, (_, i) => ({ method: 'GET', path, headers: inRegion(regions[i % regions.length]) }));
      const { responses } = await sendAtOnce(worker, requests, { connections: STAMPEDE, timeoutMs: 30_000 });
      return { responses, originReads: origin.count('GET', path) };
    } finally {
      origin.latencyMs = 0;
    }
  }

  test(`stampede: ${STAMPEDE} readers of a cold key in one region, the origin 500 ms slow, make one origin request`, { timeout: 60_000 }, async () => {
    const { responses, originReads } = await stampede('/v1/products/1', [REGIONS[0]]);
    const statuses = [...new Set(responses.map((r) => r.status))];
    assert.deepEqual(statuses, [200], `every reader got the product: ${responses.filter((r) => r.status !== 200).slice(0, 3).map((r) => `${r.status} ${r.text.slice(0, 200)}`)}`);
    assert.ok(responses.every((r) => JSON.parse(r.text).title === 'Product 1'));
    assert.equal(originReads, 1, 'one origin read');
  });

  test(`stampede: ${STAMPEDE} readers of a cold key over ${REGIONS.length} regions make at most one origin request per region`, { timeout: 60_000 }, async () => {
    const { responses, originReads } = await stampede('/v1/products/2', REGIONS);
    assert.deepEqual([...new Set(responses.map((r) => r.status))], [200]);
    assert.ok(originReads >= 1 && originReads <= REGIONS.length, `origin reads: ${originReads}`);
  });

  test('origin down: a cold GET answers 502 origin_unreachable fast, a cached entry is still a hit; back up, the next GET is a miss with 200, then a hit', async () => {
    const cached = await read('/v1/products/3');
    assert.equal(cached.status, 200, show(cached));
    await origin.down();
    try {
      const res = await read('/v1/products/4');
      expectError(res, 502, 'origin_unreachable', 'GET with the origin down');
      assert.ok(res.ms < TIMEOUT_MS + MARGIN_MS, `answered in ${res.ms.toFixed(0)} ms`);
      assert.ok(!res.text.includes(String(origin.port)), `the origin's address is not shown: ${res.text}`);
      assert.equal((await read('/v1/products/3')).cache, 'hit', 'the cache still serves what it holds');
    } finally {
      await origin.up();
    }
    const back = await read('/v1/products/4');
    assert.deepEqual([back.status, back.cache], [200, 'miss'], show(back));
    assert.equal((await read('/v1/products/4')).cache, 'hit');
  });

  test(`origin hanging: a GET answers 504 origin_timeout after about ORIGIN_TIMEOUT_MS (${TIMEOUT_MS} ms); nothing cached; when it answers again the next GET is a miss, then a hit`, async () => {
    origin.hang = true;
    let res;
    try {
      res = await read('/v1/products/5');
    } finally {
      origin.hang = false;
    }
    expectError(res, 504, 'origin_timeout', 'GET with the origin hanging');
    assert.ok(res.ms >= TIMEOUT_MS - 100 && res.ms < TIMEOUT_MS + MARGIN_MS, `answered in ${res.ms.toFixed(0)} ms`);
    const back = await read('/v1/products/5');
    assert.deepEqual([back.status, back.cache], [200, 'miss'], show(back));
    assert.equal((await read('/v1/products/5')).cache, 'hit');
  });

  test('a write that times out answers 504 and invalidates anyway', async () => {
    await read('/v1/products/6');
    assert.equal((await read('/v1/products/6')).cache, 'hit');
    origin.hang = true;
    let res;
    try {
      res = await request(worker, 'PATCH', '/v1/products/6', { body: { title: 'maybe' }, headers: EDITOR });
    } finally {
      origin.hang = false;
    }
    expectError(res, 504, 'origin_timeout', 'PATCH with the origin hanging');
    assert.equal((await read('/v1/products/6')).cache, 'miss', 'the entry was invalidated');
  });

  test('ORIGIN_UNMATCHED=404: a path outside the table is a JSON 404 and the origin is not asked', async () => {
    origin.resetCounts();
    expectError(await read('/v1/version'), 404, 'not_found', 'GET /v1/version');
    expectError(await request(worker, 'POST', '/v1/version', { body: {}, headers: EDITOR }), [404, 405], undefined, 'POST /v1/version');
    assert.equal(origin.count(null, null), 0);
  });

  test(`ORIGIN_MAX_BODY_BYTES=${MAX_BODY}: a larger request body is 413 and the origin is not asked`, async () => {
    origin.resetCounts();
    const body = { title: 'x'.repeat(MAX_BODY) };
    const res = await request(worker, 'PATCH', '/v1/products/7', { body, headers: EDITOR });
    expectError(res, 413, 'payload_too_large', 'PATCH over the limit');
    assert.equal(origin.count('PATCH', '/v1/products/7'), 0);
    assert.equal((await read('/v1/products/7')).json.title, 'Product 7', 'unchanged');
  });

  test(`an answer over ORIGIN_MAX_BODY_BYTES with its Content-Length passes through uncached (x-cache: bypass)`, async () => {
    // Long titles (as an admin may write them) make the list larger than the limit.
    origin.adminEdit('9', { title: 'A long title, '.repeat(14) });
    origin.adminEdit('10', { title: 'Another long title, '.repeat(10) });
    origin.resetCounts();
    const list = [await read('/v1/products'), await read('/v1/products')];
    assert.ok(list[0].text.length > MAX_BODY, `the list is larger than the limit: ${show(list[0])}`);
    assert.deepEqual(list.map((r) => [r.status, r.cache, r.headers.get('x-polycache-bypass')]), [[200, 'bypass', 'too-large'], [200, 'bypass', 'too-large']]);
    assert.equal(JSON.parse(list[1].text).items.length, 10, 'whole');
    assert.equal(origin.count('GET', '/v1/products'), 2);
  });

  test(`an answer over ORIGIN_MAX_BODY_BYTES without Content-Length is 502 origin_too_large, stored nowhere`, async () => {
    origin.adminEdit('9', { title: 'A long title, '.repeat(14) });
    origin.adminEdit('10', { title: 'Another long title, '.repeat(10) });
    origin.chunked = true;
    try {
      origin.resetCounts();
      const res = await read('/v1/products');
      expectError(res, 502, 'origin_too_large', 'a large chunked answer');
      expectError(await read('/v1/products'), 502, 'origin_too_large', 'again');
      assert.equal(origin.count('GET', '/v1/products'), 2);
    } finally {
      origin.chunked = false;
    }
  });
});

describe('a route table with an error', () => {
  let origin;
  before(async () => { origin = await startOrigin(); });
  after(async () => { await origin?.close(); });

  const cases = [
    ['a route on polycache\'s own /api/status', JSON.stringify([ROUTES[0], { path: '/api/status', type: 'statuses' }]), /CACHE_ROUTES\b.*\[1\] \("\/api\/status"\)/],
    ['not JSON', '[{"path": "/v1/products", "type": ', /CACHE_ROUTES/],
    ['a type with upper case', JSON.stringify([{ path: '/v1/products', type: 'Products' }]), /CACHE_ROUTES\b.*\[0\] \("\/v1\/products"\).*"Products"/],
  ];
  for (const [what, routes, names] of cases) {
    test(`${what}: every request answers the configuration error naming the entry; the origin is never asked`, { timeout: 60_000 }, async () => {
      origin.resetCounts();
      const bad = await startWorker({
        name: 'origin-config', requireHealthy: false,
        vars: { ...origin.vars(), CACHE_ROUTES: routes, CACHE_DEPENDENCIES: undefined, INSTANCE_ID: 'origin-config' },
      });
      try {
        for (const path of ['/api/health', '/v1/products/1', '/v1/version', '/api/stream']) {
          const res = await get(bad, path);
          const error = expectError(res, 500, 'configuration', `GET ${path}`);
          assert.match(error.message, names, `GET ${path}: the message names the entry`);
        }
        assert.equal(origin.count(null, null), 0);
      } finally {
        await bad.dispose();
      }
    });
  }
});

