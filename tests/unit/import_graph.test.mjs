// Dependencies between the modules of each crate point one way (entry ->
// router -> handlers -> services -> platform): no two modules import each
// other, directly or around a loop. A module's `mod child;` declaration is
// not an import; a `use crate::…`, `use super::…` or an inline
// `crate::x::y` path is. Test modules (`#[cfg(test)]` to the end of a file)
// are left out: they import their parent by design.
//
// Our own reader of `use` lines rather than a crate: cargo-modules (which
// has an `--acyclic` check) builds rust-analyzer, a quarter of an hour on
// this 2-core machine for every fresh CI run, to answer what forty lines of
// text matching answer for code written in this repository's style.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { ROOT } from '../common/harness.mjs';

/** Every .rs file under dir. */
function rustFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return rustFiles(path);
    return name.endsWith('.rs') ? [path] : [];
  });
}

/** The module path of a file: lib.rs/main.rs -> [], a/mod.rs -> [a], a/b.rs -> [a, b]. */
function modulePath(srcDir, file) {
  const parts = relative(srcDir, file).split(sep);
  const last = parts.pop().replace(/\.rs$/, '');
  if (!(parts.length === 0 && (last === 'lib' || last === 'main')) && last !== 'mod') parts.push(last);
  return parts;
}

/** The code of a file without comments and without its test module. */
function code(text) {
  const cut = text.search(/^#\[cfg\(test\)\]/m);
  return (cut >= 0 ? text.slice(0, cut) : text)
    .split('\n')
    .map((line) => line.replace(/\/\/.*$/, ''))
    .join('\n');
}

/** The paths (as segment lists, from the crate root) that `source` refers to. */
function references(source, self) {
  const out = [];
  const expand = (prefix, body) => {
    // `a::{b, c::d}`: split the braces' top level.
    let depth = 0; let start = 0;
    const items = [];
    for (let i = 0; i <= body.length; i++) {
      const c = body[i];
      if (c === '{') depth++;
      else if (c === '}') depth--;
      else if ((c === ',' && depth === 0) || i === body.length) { items.push(body.slice(start, i).trim()); start = i + 1; }
    }
    for (const item of items.filter(Boolean)) walk(prefix, item);
  };
  const walk = (prefix, path) => {
    const brace = path.indexOf('{');
    if (brace >= 0) {
      const head = path.slice(0, brace).split('::').filter(Boolean);
      expand([...prefix, ...head], path.slice(brace + 1, path.lastIndexOf('}')));
    } else {
      out.push([...prefix, ...path.split(/\s+as\s+/)[0].split('::').filter(Boolean)]);
    }
  };
  const base = (kw) => (kw === 'crate' ? [] : self.slice(0, -1));
  // `use` items first (they may hold nested braces), then inline paths.
  const rest = source.replace(/\buse\s+(crate|super)::([^;]+);/g, (_, kw, path) => {
    walk(base(kw), path.replace(/\s+/g, ' ').replace(/::\s+/g, '::'));
    return '';
  });
  for (const m of rest.matchAll(/\b(crate|super)::([A-Za-z0-9_:]+)/g)) walk(base(m[1]), m[2]);
  return out;
}

/** Tarjan's strongly connected components of more than one module. */
function circles(graph) {
  let index = 0;
  const stack = []; const on = new Set(); const idx = new Map(); const low = new Map(); const found = [];
  const visit = (v) => {
    idx.set(v, index); low.set(v, index); index++; stack.push(v); on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do { w = stack.pop(); on.delete(w); scc.push(w); } while (w !== v);
      if (scc.length > 1) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

/** module -> modules it imports, for the crate whose sources are in srcDir. */
export function importGraph(srcDir) {
  const files = rustFiles(srcDir);
  const modules = new Map(files.map((f) => [modulePath(srcDir, f).join('::') || 'crate', f]));
  const graph = new Map();
  for (const [name, file] of modules) {
    const self = name === 'crate' ? [] : name.split('::');
    const edges = new Set();
    const source = code(readFileSync(file, 'utf8'));
    const resolve = (ref) => {
      // The longest prefix of the path that is a module of this crate.
      for (let n = ref.length; n >= 0; n--) {
        const target = ref.slice(0, n).join('::') || 'crate';
        if (modules.has(target)) { if (target !== name) edges.add(target); return n; }
      }
      return 0;
    };
    // A child module declared here (`mod kv;`) is in scope by its name too.
    const children = [...source.matchAll(/^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;/gm)].map((m) => [...self, m[1]]);
    for (const ref of [...references(source, self), ...children]) {
      // `use crate::handlers;` then `handlers::content::get(…)`: the path
      // through the imported module's name reaches its submodule. (A
      // declared child is no edge until it is used by name.)
      const isChild = children.includes(ref);
      const depth = isChild ? (modules.has(ref.join('::')) ? ref.length : 0) : resolve(ref);
      if (depth === ref.length && ref.length > 0) {
        const alias = ref.at(-1);
        // Any path through the name counts (`d1::Db`, `entity::{A, B}`),
        // down to the deepest module it names.
        for (const m of source.matchAll(new RegExp(`(?<![:\\w])${alias}::((?:[a-z_][a-z0-9_]*::)*)`, 'g'))) {
          resolve([...ref, ...m[1].split('::').filter(Boolean)]);
        }
      }
    }
    graph.set(name, edges);
  }
  return graph;
}

const CRATES = ['src', 'durable_objects/src', 'crates/cli/src', 'crates/core/src'];

for (const dir of CRATES) {
  test(`no import circle among the modules of ${dir}`, () => {
    const graph = importGraph(join(ROOT, dir));
    assert.ok(graph.size > 3, `read the modules of ${dir}: ${[...graph.keys()]}`);
    const found = circles(graph);
    const describe = found.map((scc) => scc.map((m) => `${m} -> ${[...graph.get(m)].filter((t) => scc.includes(t)).join(', ')}`).join('; '));
    assert.deepEqual(describe, [], `modules that import each other in ${dir}`);
  });
}

test('the checker finds a circle where there is one', () => {
  const graph = new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])], ['d', new Set(['a'])]]);
  assert.deepEqual(circles(graph), [['a', 'b', 'c']]);
  const refs = references('use crate::{router::{Ctx, json}, error::ApiError};\nlet x = super::memory::read();', ['backends', 'kv']);
  assert.deepEqual(refs, [['router', 'Ctx'], ['router', 'json'], ['error', 'ApiError'], ['backends', 'memory', 'read']]);
});
