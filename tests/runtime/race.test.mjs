// A read that races a write, for every cache backend, made deterministic
// by a slow origin: with CACHE_ORIGIN_DELAY_MS the answer of D1 reaches the
// reader that long after D1 was read, and `originReads` in /api/status
// rises once D1 has answered. So the test knows when the slow read holds
// the post as it was, writes the post and has the write acknowledged while
// that read's answer is still on its way; then the read fills the cache
// with data from before the write. The README ("Consistency", "How a read
// stays fresh") promises that the fill is stored under the generation taken
// before D1 was read, which the write has moved on, so the next read misses
// and shows the write.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { startUpstash } from '../common/redis.mjs';
import { EDITOR } from '../common/accounts.mjs';
import { get, login, patch, read, status, waitUntil } from '../common/api.mjs';

/**
 * How long D1's answer takes to reach the reader: the time the test has to
 * see the read's D1 read and have its write acknowledged (a few tens of ms
 * on an idle machine), with room for a loaded one.
 */
const ORIGIN_DELAY_MS = 2_000;

for (const backend of ['memory', 'kv', 'upstash', 'cache']) {
  describe(`a read racing a write (${backend})`, () => {
    let worker;
    let up;
    let editor;

    before(async () => {
      up = backend === 'upstash' ? await startUpstash() : null;
      worker = await startWorker({
        name: `race-${backend}`,
        vars: {
          INSTANCE_ID: `race-${backend}`,
          CACHE_BACKEND: backend,
          CACHE_ORIGIN_DELAY_MS: String(ORIGIN_DELAY_MS),
          ...(up?.vars() ?? {}),
        },
      });
      editor = await login(worker, EDITOR);
    });
    after(async () => {
      await worker?.dispose();
      await up?.dispose();
    });

    test('the fill of a read that began before a write is never served after the write', { timeout: 60_000 }, async () => {
      const path = '/api/posts/4';
      const { originReads } = await status(worker);
      let answered = false;
      const slow = get(worker, path, { timeoutMs: ORIGIN_DELAY_MS + 20_000 }).then((res) => {
        answered = true;
        return res;
      });
      await waitUntil(async () => (await status(worker)).originReads > originReads,
        { timeoutMs: 15_000, intervalMs: 20, what: 'the slow read has read D1' });
      const title = `Written during a slow read ${Date.now()}`;
      const write = await patch(worker, path, { title }, { token: editor });
      assert.equal(write.status, 200, write.text);
      assert.equal(answered, false,
        `the write was acknowledged only after the slow read answered: the race did not happen (${ORIGIN_DELAY_MS} ms were not enough on this machine)`);

      const raced = await slow;
      assert.equal(raced.status, 200, raced.text);
      assert.equal(raced.headers.get('x-cache'), 'miss', 'the slow read read D1 and filled the cache');
      assert.notEqual(raced.json.title, title, 'the slow read holds the post from before the write');

      const next = await read(worker, path);
      assert.equal(next.json.title, title, 'the next read shows the write, not the slow read\'s fill');
      assert.equal(next.cache, 'miss');
      const again = await read(worker, path);
      assert.equal(again.cache, 'hit');
      assert.equal(again.json.title, title);
    });
  });
}
