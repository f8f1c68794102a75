#!/usr/bin/env node
// polycache under the runtime alone, as production runs it: the built Worker
// (build/entry.mjs, index.js and index_bg.wasm) in workerd through Miniflare, with
// no inspector and without wrangler's dev proxy, so that a request goes from
// the socket straight into workerd. Run by bench/lib/systems.mjs as a child
// process of its own, so that the bench's load and timing code never shares
// an event loop with it; the runtime's memory is then workerd's alone (this
// Node process only starts it and answers nothing per request).
//
// Why Miniflare and not wrangler's unstable_startWorker: startWorker always
// puts wrangler's ProxyWorker (a second workerd) in front of the Worker, which
// is the very dev-only hop that distorts the timings. The bindings,
// vars and compatibility date and flags (enable_request_signal) come from
// wrangler.toml through wrangler's own unstable_getMiniflareWorkerOptions, so
// this runs what `wrangler dev` runs, minus the dev tooling.
//
// --floor runs bench/floor/worker.mjs instead (the runtime's floor: a bare
// Worker and Durable Object in the same shape, with wrangler.toml's
// compatibility date and flags and no other binding).
//
// Vars: wrangler.toml's [vars], then --vars (a JSON object), then each
// --var NAME=VALUE, e.g. the edge tier's regions (docs/architecture.md):
//   --var EDGE_REGIONS=weur,enam,apac --var EDGE_REGION_HEADER=x-polycache-region
// (bench.mjs passes them in --vars: `--regions 3`).
//
//   node bench/lib/runtime-host.mjs --port P --state DIR [--vars '{"K":"V"}'] [--var K=V ...] [--migrate] [--build DIR] [--assets] [--floor] [--verbose]
// prints one JSON line {"ready": url, "pid": pid} once /api/health answers 200,
// then runs until SIGTERM or SIGINT.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Log, LogLevel, Miniflare } from 'miniflare';
import { unstable_getMiniflareWorkerOptions, unstable_readConfig, unstable_splitSqlQuery } from 'wrangler';
import { ROOT } from '../../tests/common/harness.mjs';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    state: { type: 'string' },
    vars: { type: 'string', default: '{}' },
    var: { type: 'string', multiple: true, default: [] },
    migrate: { type: 'boolean', default: false },
    build: { type: 'string' },
    assets: { type: 'boolean', default: false },
    'entry-worker': { type: 'boolean', default: false },
    'inspector-port': { type: 'string' },
    floor: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});
if (!args.port || !args.state) throw new Error('usage: runtime-host.mjs --port P --state DIR [--vars JSON] [--var NAME=VALUE ...]');
const extraVars = { ...JSON.parse(args.vars) };
for (const kv of args.var) {
  const eq = kv.indexOf('=');
  if (eq < 1) throw new Error(`--var ${kv}: expected NAME=VALUE`);
  extraVars[kv.slice(0, eq)] = kv.slice(eq + 1);
}

// --build: a copy of build/ taken when the bench started, so that every row
// of a run measures the same Worker even if someone rebuilds meanwhile.
const BUILD = args.build ?? join(ROOT, 'build');
const configPath = join(ROOT, 'wrangler.toml');
const { workerOptions } = unstable_getMiniflareWorkerOptions(configPath);
delete workerOptions.modulesRules; // the modules are listed below
// wrangler.toml's [assets] (the demo page) puts Miniflare's asset router, a
// Worker of its own, in front of ours, and every streamed chunk passes
// through it (measured: about 40 KiB per stream and a fifth of the p99).
// In production that routing is the platform's, outside our isolate; the
// bench asks for no static file. --assets keeps it, as `wrangler dev` has it.
if (!args.assets) delete workerOptions.assets;
// Its bindings include a developer's `.dev.vars`: take wrangler.toml's
// [vars] alone, plus the bench's own (the test secrets), as the test harness
// does with its own env file.
const { vars: configVars } = unstable_readConfig({ config: configPath });

// The same on-disk layout as `wrangler dev --persist-to DIR`: SQLite files for
// D1 and the Hub, so that writes cost what they cost under the dev command.
const persist = (what) => join(args.state, 'v3', what);
// Miniflare's own socket hands every request to its entry Worker
// (core:entry: the cf object, pretty error pages, live reload, request
// logs), which forwards it to ours over a service binding: a second Worker
// and a second pipe per stream that production does not have. A direct
// socket serves our Worker itself, as production's front line does;
// --entry-worker keeps Miniflare's hop.
const direct = !args['entry-worker'];
const FLOOR = join(ROOT, 'bench', 'floor');
const worker = args.floor
  ? {
    name: 'polycache',
    compatibilityDate: workerOptions.compatibilityDate,
    compatibilityFlags: workerOptions.compatibilityFlags,
    modulesRoot: FLOOR,
    modules: [{ type: 'ESModule', path: join(FLOOR, 'worker.mjs') }],
    durableObjects: { HUB: 'Hub' },
  }
  : {
    ...workerOptions,
    name: 'polycache',
    modulesRoot: BUILD,
    modules: [
      { type: 'ESModule', path: join(BUILD, 'entry.mjs') },
      { type: 'ESModule', path: join(BUILD, 'index.js') },
      { type: 'CompiledWasm', path: join(BUILD, 'index_bg.wasm') },
    ],
    bindings: { ...configVars, ...extraVars },
  };
const mf = new Miniflare({
  host: '127.0.0.1',
  port: direct ? 0 : Number(args.port),
  // Diagnostics only (a heap probe); the bench never sets it.
  ...(args['inspector-port'] ? { inspectorPort: Number(args['inspector-port']) } : {}),
  log: new Log(LogLevel.WARN),
  // --verbose: workerd's own, which logs an uncaught error of the Worker
  // (an exception, a rejection nobody awaited: "Uncaught (in promise)"),
  // as wrangler dev's inspector does; console output shows either way.
  // For tests that read the log (tests/hostile); the bench never sets it.
  ...(args.verbose ? { verbose: true } : {}),
  // Offline: no download of Request.cf data (wrangler dev warns and falls back).
  cf: false,
  d1Persist: persist('d1'),
  kvPersist: persist('kv'),
  durableObjectsPersist: persist('do'),
  cachePersist: persist('cache'),
  workers: [{
    ...worker,
    ...(args['inspector-port'] ? { unsafeInspectorProxy: true } : {}),
    ...(direct ? { unsafeDirectSockets: [{ host: '127.0.0.1', port: Number(args.port) }] } : {}),
  }],
});

let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  try { await mf.dispose(); } catch { /* already gone */ }
  process.exit(code);
}
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));

try {
  const url = direct ? await mf.unsafeGetDirectURL('polycache') : await mf.ready;
  // D1 migrations (--migrate, on a new state directory), applied through the
  // binding in the order wrangler applies them (file name), split into
  // statements by wrangler's own splitter.
  if (args.migrate && !args.floor) {
    const db = await mf.getD1Database('DB');
    const dir = join(ROOT, 'migrations');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()) {
      const statements = unstable_splitSqlQuery(readFileSync(join(dir, file), 'utf8'));
      await db.batch(statements.map((s) => db.prepare(s)));
    }
  }
  // Ready means the Worker answers, not only that workerd listens.
  const base = url.href.replace(/\/$/, '');
  let last = '';
  for (const deadline = Date.now() + 30_000; ;) {
    try {
      const res = await fetch(`${base}/api/health`, { signal: AbortSignal.timeout(5000) });
      last = `${res.status} ${(await res.text()).slice(0, 500)}`;
      if (res.ok) break;
    } catch (e) {
      last = String(e);
    }
    if (Date.now() > deadline) throw new Error(`GET /api/health did not answer 200 within 30 s: ${last}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  process.stdout.write(`${JSON.stringify({ ready: base, pid: process.pid })}\n`);
} catch (e) {
  process.stderr.write(`runtime-host: ${e?.stack ?? e}\n`);
  await stop(1);
}
