// The repository explains itself: no source, script or doc of it sends the
// reader to a document it does not contain (a design note or a seed text
// kept beside the repository, say). What a comment needs is in the README
// or docs/architecture.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../common/harness.mjs';

const OUTSIDE = /\bDESIGN\.md\b|\.\.\/shared\/|\bthe seed\b|\bseed's\b/i;

test('no tracked file cites a document outside the repository', () => {
  const files = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' }).split('\n')
    .filter((f) => /\.(rs|mjs|js|ts|tsx|sh|toml|md|html|sql)$|^Makefile$/.test(f) && !f.endsWith('package-lock.json'));
  assert.ok(files.length > 50, `read the tracked files: ${files.length}`);
  const cites = [];
  for (const file of files) {
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (OUTSIDE.test(line) && !line.includes('OUTSIDE = ')) cites.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(cites, []);
});
