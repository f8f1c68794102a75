// Bundles the demo page (demo/main.tsx and the library it shows) into
// public/app.js at the repository root, where the Worker's static assets
// are served from (wrangler.toml, [assets]). The file is written only when
// its content changed: `wrangler dev` watches the assets folder and would
// reload every running instance on a rewrite of the same bytes.
import { build } from 'esbuild';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, '..');
const out = join(pkg, '..', '..', 'public', 'app.js');

const result = await build({
  entryPoints: [join(pkg, 'demo', 'main.tsx')],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  jsx: 'automatic',
  minify: true,
  legalComments: 'none',
  define: { 'process.env.NODE_ENV': '"production"' },
  write: false,
  logLevel: 'warning',
});
const code = result.outputFiles[0].contents;
const old = await readFile(out).catch(() => null);
if (old && Buffer.compare(old, code) === 0) {
  console.log(`demo: public/app.js unchanged (${code.length} bytes)`);
} else {
  await writeFile(out, code);
  console.log(`demo: wrote public/app.js (${code.length} bytes)`);
}
