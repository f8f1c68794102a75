// The numbers the README promises for this client, read from its text: a
// 30 ms window, a 250 ms cap and a 5 s grace for a renewed stream. The
// behaviour tests (coalescer, invalidator, stream) write the same numbers
// as literals, never importing src/'s constants, so that changing the code
// or the README alone fails a test.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/** The repository's README: the first README.md above this file (compiled or not) that is polycache's. */
function readme(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 8; up++, dir = dirname(dir)) {
    const path = join(dir, 'README.md');
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      if (text.startsWith('# polycache\n')) return text;
    }
  }
  throw new Error(`no polycache README.md above ${fileURLToPath(import.meta.url)}`);
}

const README = readme().replace(/\s+/g, ' ');

test('the README documents a 30 ms window and a 250 ms cap for merging a burst', () => {
  assert.match(README, /events less than `windowMs` \(30 ms\) apart form one batch/);
  assert.match(README, /flushed at most `maxWaitMs` \(250 ms\) after its first event/);
});

test('the README documents 5 s for a renewed stream to come back before the status changes', () => {
  assert.match(README, /keeps its status `open` meanwhile \(unless the stream is not back within 5 s\)/);
});
