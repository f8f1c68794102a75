// The alias map against the entity types the Rust side declares
// (crates/core/src/types.rs), which this package cannot import: they are read
// from `polycache types --json`, run through cargo from the repository's root
// (or the binary in POLYCACHE_CLI_BIN). A type or an alias declared there and
// missing here would reach the browser as an unknown name, whose keys are
// only its own: a `post` event would not refresh `posts`.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_ALIASES, SINGULAR_ALIASES } from '../src/aliases.js';

interface Declared {
  name: string;
  alias: string | null;
  content: boolean;
  closure: string[];
}

/** The repository's root: the first directory above this file with a Cargo.lock. */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'Cargo.lock'))) {
    const up = dirname(dir);
    assert.notEqual(up, dir, 'no Cargo.lock above this test: it runs inside the polycache repository');
    dir = up;
  }
  return dir;
}

function declaredTypes(): Declared[] {
  const bin = process.env['POLYCACHE_CLI_BIN'];
  const [command, args] = bin
    ? [bin, ['types', '--json']]
    : ['cargo', ['run', '--quiet', '-p', 'polycache-cli', '--', 'types', '--json']];
  const out = execFileSync(command, args, { cwd: repositoryRoot(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const types = (JSON.parse(out) as { types: Declared[] }).types;
  assert.ok(types.length > 0, out);
  return types;
}

const declared = declaredTypes();
const sorted = (xs: Iterable<string>) => [...xs].sort();

test('SINGULAR_ALIASES is every declared alias, mapped to its type', () => {
  const expected = Object.fromEntries(declared.flatMap((t) => (t.alias === null ? [] : [[t.alias, t.name]])));
  assert.deepEqual({ ...SINGULAR_ALIASES }, expected);
});

test('DEFAULT_ALIASES has an entry for every declared name and alias, and for nothing else', () => {
  const names = declared.flatMap((t) => (t.alias === null ? [t.name] : [t.name, t.alias]));
  assert.deepEqual(sorted(Object.keys(DEFAULT_ALIASES)), sorted(names));
});

test('each type\'s own entities live under its own name, its first key', () => {
  for (const t of declared) {
    assert.deepEqual(DEFAULT_ALIASES[t.name]?.[0], [t.name], t.name);
    if (t.alias !== null) assert.deepEqual(DEFAULT_ALIASES[t.alias], DEFAULT_ALIASES[t.name], t.alias);
  }
});
