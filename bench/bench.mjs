#!/usr/bin/env node
// polycache's benchmark: fan-out to N SSE streams under the runtime alone,
// under `wrangler dev` and in better-sse (the peer), side by side from one
// run, with the runtime's floor (a bare Worker and Durable Object in the
// same shape, bench/floor/worker.mjs) beside them; a PATCH row for the
// product path; mirror propagation; cached reads; write acknowledgement;
// and, in invocations of their own, bursts of events (`--only bursts`) and
// reads in origin mode beside D1 mode (`--only origin`).
// The runtime rows run once per number of regions of the edge tier
// (`--regions`): 1 is today's default (EDGE_REGIONS unset, one Edge), 3 is
// three regions (three Edges) with the streams and reads spread evenly over
// them by a region header.
// Prints the tables (markdown) and writes bench/results/<timestamp>.json.
// Run by `make bench` through bench/run.sh (which raises the fd limit and
// installs the peer); bench/README.md explains every column. Options:
//   --only LIST            parts to run, of runtime,floor,dev,peer,mirror,reads,acks,churn (default: all
//                          of these), bursts and origin (never by default: their own invocations,
//                          `--only bursts`, `--only origin`)
//   --regions LIST         numbers of edge-tier regions the runtime rows (fan-out, reads, acks) run
//                          with (1,3): 1 = EDGE_REGIONS unset (one Edge); n > 1 = the first n of
//                          weur,enam,apac,wnam,... with EDGE_REGION_HEADER=x-polycache-region, each
//                          stream and read sending the header with the regions in turn
//   --streams LIST         concurrent streams (default 1000,2000,5000,10000; for bursts 1000,2000)
//   --events N             events per round (20)        --interval-ms MS  between events (200)
//   --patch-streams N      where the PATCH /api/posts/1 row runs (1000; 0: none)
//   --threads N            load-client worker threads (2)
//   --mirror-writes N      writes of the mirror row (120)   --mirror-system runtime|dev (dev)
//   --reads-secs S         wrk duration per read row (5)    --reads-conns N (10)
//   --reads-systems LIST   where the read rows run (runtime,dev); the runtime at every --regions
//   --origin-systems LIST  where the origin rows run (runtime,dev): each in D1 mode, then in origin
//                          mode in front of the stand-in origin (latency 0), --reads-secs and
//                          --reads-conns as the read rows, one region
//   --acks-writes N        sequential writes per acknowledgement row (100, after 5 uncounted)
//   --acks-streams N       streams open during them, spread over the regions (30)
//   --acks-triggers LIST   the writes of the acknowledgement rows (invalidate,patch)
//   --churn-streams N      streams per churn round (1000)   --churn-rounds N (3)
//   --churn-systems LIST   where the churn rounds run (runtime,dev)
//   --burst-sizes LIST     events per burst (10,50)      --bursts N  bursts per row (3)
//   --burst-kinds LIST     how a burst is sent (api,mirror): api = from --burst-conns connections as fast
//                          as the API takes them; mirror = one bulk mirror catch-up (the peer: its
//                          triggers one after the other from one connection)
//   --burst-conns N        connections of an api burst (10)
//   --burst-systems LIST   systems of the burst rows (runtime,peer; also floor); the runtime at every --regions
//   --burst-wait-ms MS     how long a burst's events may take to reach every stream, from its first trigger (60000)
//   --runtime-assets       serve the runtime rows with Miniflare's static-assets router in
//                          front of the Worker, as `wrangler dev` does (default: the Worker alone)
//   --runtime-vars JSON    more vars for the runtime rows, e.g. '{"SSE_MAX_WRITES":"40"}' (a trade-off)
//                          or '{"SSE_COALESCE_MS":"0"}' (the burst rows without coalescing)
//   --runtime-entry-worker serve the runtime rows through Miniflare's entry Worker, as its own
//                          socket and `wrangler dev` do (default: a direct socket to the Worker)
//   --drain-ms MS          how long to wait for the last receipts after the last acknowledgement (15000)
//   --ack-timeout-ms MS    how long a triggering request may take (60000); past it the event counts as lost
//   --connect-timeout-ms MS how long one stream may take to see its hello (60000)
//   --connect-budget-ms MS how long opening the N streams may take in all (180000)
//   --max-minutes M        skip what is left after this long (14)
//   --out DIR              where the JSON goes (bench/results)
//   --perf                 profile each fan-out row's events with perf (bench/lib/profile.mjs)
//   --help                 this text
// Example, one configuration quickly: bash bench/run.sh --only runtime --streams 1000
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../tests/common/harness.mjs';
import { makeSystem, regionVars, setRuntimeOptions, snapshotBuild, stopAll } from './lib/systems.mjs';
import { measureFanout } from './lib/fanout.mjs';
import { measureMirror } from './lib/mirror.mjs';
import { measureReads } from './lib/reads.mjs';
import { measureChurn } from './lib/churn.mjs';
import { measureAcks } from './lib/acks.mjs';
import { measureBursts } from './lib/bursts.mjs';
import { measureOriginReads } from './lib/origin.mjs';
import { closeAgent } from './lib/http.mjs';
import {
  acksTable, burstsTable, churnTable, fanoutTable, memoryTable, mirrorTable, originRatioTable, originTable, peerTable, readsTable,
} from './lib/report.mjs';
import { nowMs, withTimeout } from './lib/clock.mjs';

const { values: opt } = parseArgs({
  options: {
    only: { type: 'string', default: 'runtime,floor,dev,peer,mirror,reads,acks,churn' },
    regions: { type: 'string', default: '1,3' },
    // No default here: the fan-out rows' and the burst rows' differ (below).
    streams: { type: 'string' },
    events: { type: 'string', default: '20' },
    'interval-ms': { type: 'string', default: '200' },
    'patch-streams': { type: 'string', default: '1000' },
    threads: { type: 'string', default: '2' },
    'mirror-writes': { type: 'string', default: '120' },
    'mirror-system': { type: 'string', default: 'dev' },
    'reads-secs': { type: 'string', default: '5' },
    'reads-conns': { type: 'string', default: '10' },
    'reads-systems': { type: 'string', default: 'runtime,dev' },
    'origin-systems': { type: 'string', default: 'runtime,dev' },
    'acks-writes': { type: 'string', default: '100' },
    'acks-streams': { type: 'string', default: '30' },
    'acks-triggers': { type: 'string', default: 'invalidate,patch' },
    'churn-streams': { type: 'string', default: '1000' },
    'churn-rounds': { type: 'string', default: '3' },
    'churn-systems': { type: 'string', default: 'runtime,dev' },
    'burst-sizes': { type: 'string', default: '10,50' },
    bursts: { type: 'string', default: '3' },
    'burst-kinds': { type: 'string', default: 'api,mirror' },
    'burst-conns': { type: 'string', default: '10' },
    'burst-systems': { type: 'string', default: 'runtime,peer' },
    'burst-wait-ms': { type: 'string', default: '60000' },
    'runtime-assets': { type: 'boolean', default: false },
    'runtime-entry-worker': { type: 'boolean', default: false },
    'runtime-vars': { type: 'string', default: '{}' },
    'drain-ms': { type: 'string', default: '15000' },
    'ack-timeout-ms': { type: 'string', default: '60000' },
    'connect-timeout-ms': { type: 'string', default: '60000' },
    'connect-budget-ms': { type: 'string', default: '180000' },
    'max-minutes': { type: 'string', default: '14' },
    out: { type: 'string', default: join(ROOT, 'bench', 'results') },
    perf: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opt.help) {
  // The comment at the top of this file is the help.
  const text = readFileSync(new URL(import.meta.url), 'utf8').split('\n');
  console.log(text.slice(1, text.findIndex((l) => l.startsWith('import'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}
const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
const parts = new Set(list(opt.only));
for (const p of parts) {
  if (!['runtime', 'floor', 'dev', 'peer', 'mirror', 'reads', 'acks', 'churn', 'bursts', 'origin'].includes(p)) throw new Error(`--only: unknown part ${p}`);
}
const numbers = (s) => list(s).map(Number).sort((a, b) => a - b);
const streamCounts = numbers(opt.streams ?? '1000,2000,5000,10000');
// Bursts cost far more per stream than one event: 1,000 and 2,000 streams
// unless --streams says otherwise.
const burstStreamCounts = numbers(opt.streams ?? '1000,2000');
const burstSizes = numbers(opt['burst-sizes']);
const burstKinds = list(opt['burst-kinds']);
for (const k of burstKinds) if (!['api', 'mirror'].includes(k)) throw new Error(`--burst-kinds: unknown kind ${k}`);
const regionCounts = [...new Set(list(opt.regions).map(Number))].sort((a, b) => a - b);
for (const n of regionCounts) regionVars(n); // checks the numbers
// The fan-out rows' systems in the order they run for each number of
// streams: the runtime once per number of regions, then the others.
const systems = ['runtime', 'floor', 'dev', 'peer'].filter((s) => parts.has(s));
/** The systems in the order they run: the runtime once per number of regions, then the others. */
const withRegions = (kinds) => kinds.flatMap((kind) => (kind === 'runtime'
  ? regionCounts.map((regions) => ({ key: `runtime@${regions}`, kind, regions }))
  : [{ key: kind, kind, regions: null }]));
const fanoutSystems = withRegions(systems);
const burstSystems = withRegions(['runtime', 'floor', 'peer'].filter((s) => list(opt['burst-systems']).includes(s)));
const patchAt = Number(opt['patch-streams']) === 0 ? null
  : (streamCounts.includes(Number(opt['patch-streams'])) ? Number(opt['patch-streams']) : streamCounts[0]);
const runtimeVars = JSON.parse(opt['runtime-vars']);
setRuntimeOptions({ assets: opt['runtime-assets'], entryWorker: opt['runtime-entry-worker'] });
const started = nowMs();
const deadline = started + Number(opt['max-minutes']) * 60_000;
const log = (msg) => process.stderr.write(`${msg}\n`);

/** The open-files limit of this process (run.sh raised it; children inherit it). */
function fdLimit() {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

/**
 * Descriptors one process of the system needs per stream: the load client
 * holds one socket per stream; workerd one; under `wrangler dev` the proxy
 * workerd holds the client's and one towards the Worker's workerd.
 */
const FDS_PER_STREAM = { runtime: 1, floor: 1, dev: 2, peer: 1 };
// Room for everything else a process has open (libraries, pipes, listeners).
const FD_HEADROOM = 500;
/** Descriptors the busiest process of a system of this kind needs with n streams open. */
const fdsNeeded = (kind, n) => Math.max(n, n * FDS_PER_STREAM[kind]) + FD_HEADROOM;

function version(pkg) {
  try { return JSON.parse(readFileSync(join(ROOT, pkg, 'package.json'), 'utf8')).version; } catch { return null; }
}

const startedAt = new Date().toISOString();
const stamp = startedAt.replace(/[:.]/g, '-');
mkdirSync(opt.out, { recursive: true });
const results = {
  startedAt,
  machine: { cpus: cpus().length, model: cpus()[0]?.model, loadBefore: loadavg(), node: process.version, fdLimit: fdLimit() },
  versions: {
    wrangler: version('node_modules/wrangler'),
    miniflare: version('node_modules/miniflare'),
    workerd: version('node_modules/workerd'),
    betterSse: version('bench/peers/node_modules/better-sse'),
  },
  config: {
    ...opt, streams: streamCounts, regions: regionCounts, systems, patchAt, runtimeVars,
    ...(parts.has('bursts') ? { burstStreams: burstStreamCounts, burstSizes, burstKinds, burstSystems: burstSystems.map((s) => s.key) } : {}),
  },
  // The Worker the runtime rows ran (a copy of build/ taken at the start).
  build: null,
  fanout: [],
  mirror: [],
  reads: [],
  acks: [],
  churn: [],
  bursts: [],
  origin: [],
  notes: [],
};
const note = (msg) => { results.notes.push(msg); log(`note: ${msg}`); };

const outOfTime = (what) => {
  if (nowMs() < deadline) return false;
  note(`skipped ${what}: the run passed --max-minutes ${opt['max-minutes']}`);
  return true;
};

async function fanoutPart() {
  const limit = fdLimit();
  const instances = Object.fromEntries(fanoutSystems.map(({ key, kind, regions }) => [key,
    makeSystem(kind, kind === 'runtime' ? { ...regionVars(regions), ...runtimeVars } : undefined)]));
  try {
    for (const n of streamCounts) {
      for (const { key, kind } of fanoutSystems) {
        const system = instances[key];
        if (outOfTime(`${system.label} at ${n} streams`)) continue;
        const need = fdsNeeded(kind, n);
        if (need > limit) {
          note(`${system.label} at ${n} streams skipped: needs about ${need} open files in one process, the limit is ${limit} (ulimit -Hn)`);
          results.fanout.push({ system: kind, label: system.label, edgeCount: system.edgeCount, streams: n, trigger: 'invalidate', error: `skipped: needs ~${need} fds, limit ${limit}` });
          continue;
        }
        const rounds = ['invalidate'];
        if ((kind === 'runtime' || kind === 'dev') && n === patchAt) rounds.push('patch');
        log(`${system.label}, ${n} streams (${rounds.join(', ')}) ...`);
        try {
          const measure = async () => {
            const t0 = nowMs();
            await system.restart();
            log(`  started in ${((nowMs() - t0) / 1000).toFixed(1)} s on ${system.url}`);
            return measureFanout(system, {
              streams: n,
              rounds,
              events: Number(opt.events),
              intervalMs: Number(opt['interval-ms']),
              threads: Number(opt.threads),
              connectTimeoutMs: Number(opt['connect-timeout-ms']),
              connectBudgetMs: Number(opt['connect-budget-ms']),
              drainMs: Number(opt['drain-ms']),
              ackTimeoutMs: Number(opt['ack-timeout-ms']),
              log,
              perfBase: opt.perf ? join(opt.out, `${stamp}-${key.replace('@', '-')}-${n}`) : null,
            });
          };
          // Every step of a row is bounded; this bounds the row as a whole,
          // in case something unforeseen hangs (stopping the system then
          // ends whatever waits on it).
          const rowMs = Number(opt['connect-budget-ms']) + 420_000;
          const bounded = () => withTimeout(measure(), rowMs, `the row did not end within ${rowMs / 1000} s`);
          let rows;
          try {
            rows = await bounded();
          } catch (e) {
            if (!e.restarted) throw e;
            note(`${system.label} at ${n} streams measured again: ${e.message} (a file watched by wrangler dev changed)`);
            rows = await bounded();
          }
          results.fanout.push(...rows);
        } catch (e) {
          note(`${system.label} at ${n} streams failed: ${e.message}\n${system.output?.slice(-2000) ?? ''}`);
          results.fanout.push({ system: kind, label: system.label, edgeCount: system.edgeCount, streams: n, trigger: 'invalidate', error: e.message });
        } finally {
          await system.stop();
        }
      }
    }
  } finally {
    await Promise.allSettled(Object.values(instances).map((s) => s.dispose()));
  }
}

/**
 * The burst rows: for each number of streams and each way of sending a
 * burst, every burst system one after the other, each started fresh, its
 * burst sizes on the same open streams (bench/lib/bursts.mjs).
 */
async function burstsPart() {
  const limit = fdLimit();
  const instances = Object.fromEntries(burstSystems.map(({ key, kind, regions }) => [key,
    makeSystem(kind, kind === 'runtime' ? { ...regionVars(regions), ...runtimeVars } : undefined)]));
  const bursts = Number(opt.bursts);
  const waitMs = Number(opt['burst-wait-ms']);
  try {
    for (const n of burstStreamCounts) {
      for (const burstKind of burstKinds) {
        for (const { key, kind } of burstSystems) {
          const system = instances[key];
          const what = `bursts (${burstKind}) on ${system.label} at ${n} streams`;
          const failed = (error) => results.bursts.push({ system: kind, label: system.label, edgeCount: system.edgeCount, streams: n, kind: burstKind, size: 0, error });
          if (outOfTime(what)) continue;
          const need = fdsNeeded(kind, n);
          if (need > limit) {
            note(`${what} skipped: needs about ${need} open files in one process, the limit is ${limit} (ulimit -Hn)`);
            failed(`skipped: needs ~${need} fds, limit ${limit}`);
            continue;
          }
          log(`${what}: ${burstSizes.join(', ')} events, ${bursts} bursts each ...`);
          try {
            const t0 = nowMs();
            await system.restart();
            log(`  started in ${((nowMs() - t0) / 1000).toFixed(1)} s on ${system.url}`);
            // Every step is bounded; this bounds the whole, in case something unforeseen hangs.
            const rowMs = Number(opt['connect-budget-ms']) + burstSizes.length * bursts * (waitMs + 90_000) + 120_000;
            results.bursts.push(...await withTimeout(measureBursts(system, {
              streams: n,
              kind: burstKind,
              sizes: burstSizes,
              bursts,
              conns: Number(opt['burst-conns']),
              threads: Number(opt.threads),
              connectTimeoutMs: Number(opt['connect-timeout-ms']),
              connectBudgetMs: Number(opt['connect-budget-ms']),
              waitMs,
              ackTimeoutMs: Number(opt['ack-timeout-ms']),
              deadline,
              log,
            }), rowMs, `the bursts did not end within ${rowMs / 1000} s`));
          } catch (e) {
            note(`${what} failed: ${e.message}\n${system.output?.slice(-2000) ?? ''}`);
            failed(e.message);
          } finally {
            await system.stop();
          }
        }
      }
    }
  } finally {
    await Promise.allSettled(Object.values(instances).map((s) => s.dispose()));
  }
}

async function mirrorPart() {
  if (outOfTime('mirror propagation')) return;
  const kind = opt['mirror-system'];
  log(`mirror propagation, two instances (${kind}) ...`);
  try {
    results.mirror.push(await measureMirror(kind, { writes: Number(opt['mirror-writes']), log }));
  } catch (e) {
    note(`mirror propagation failed: ${e.message}`);
    results.mirror.push({ system: kind, error: e.message });
  }
}

async function readsPart() {
  // The runtime once per number of regions (its --runtime-vars too), wrangler dev as it is.
  const runs = list(opt['reads-systems']).flatMap((kind) => (kind === 'runtime'
    ? regionCounts.map((regions) => makeSystem(kind, { ...regionVars(regions), ...runtimeVars }))
    : [makeSystem(kind)]));
  for (const system of runs) {
    if (outOfTime(`reads on ${system.label}`)) { await system.dispose(); continue; }
    log(`cached reads on ${system.label} ...`);
    try {
      await system.start();
      results.reads.push(...await measureReads(system, { secs: Number(opt['reads-secs']), conns: Number(opt['reads-conns']), log }));
    } catch (e) {
      note(`reads on ${system.label} failed: ${e.message}`);
      results.reads.push({ system: system.kind, label: system.label, error: e.message });
    } finally {
      await system.dispose();
    }
  }
}

/** Reads in D1 mode and in origin mode, on each of --origin-systems (bench/lib/origin.mjs). */
async function originPart() {
  for (const kind of list(opt['origin-systems'])) {
    if (outOfTime(`origin-mode reads on ${kind}`)) continue;
    try {
      const rows = await withTimeout(measureOriginReads(kind, { secs: Number(opt['reads-secs']), conns: Number(opt['reads-conns']), log }),
        300_000, 'the origin rows did not end within 300 s');
      for (const r of rows.filter((x) => x.error)) note(`${r.mode} mode reads on ${r.label} failed: ${r.error}`);
      results.origin.push(...rows);
    } catch (e) {
      note(`origin-mode reads on ${kind} failed: ${e.message}`);
      results.origin.push({ system: kind, label: kind, mode: '-', error: e.message });
    }
  }
}

async function acksPart() {
  for (const regions of regionCounts) {
    const system = makeSystem('runtime', { ...regionVars(regions), ...runtimeVars });
    if (outOfTime(`write acknowledgement on ${system.label}`)) { await system.dispose(); continue; }
    log(`write acknowledgement on ${system.label} ...`);
    try {
      await system.start();
      const rows = await withTimeout(measureAcks(system, {
        writes: Number(opt['acks-writes']),
        streams: Number(opt['acks-streams']),
        triggers: list(opt['acks-triggers']),
        threads: 1,
        ackTimeoutMs: Number(opt['ack-timeout-ms']),
        budgetMs: 120_000,
        drainMs: Number(opt['drain-ms']),
        log,
      }), 300_000, 'the write acknowledgement rows did not end within 300 s');
      results.acks.push(...rows);
    } catch (e) {
      note(`write acknowledgement on ${system.label} failed: ${e.message}`);
      results.acks.push({ system: 'runtime', label: system.label, edgeCount: system.edgeCount, error: e.message });
    } finally {
      await system.dispose();
    }
  }
}

async function churnPart() {
  for (const kind of list(opt['churn-systems'])) {
    if (outOfTime(`churn on ${kind}`)) continue;
    const streams = Number(opt['churn-streams']);
    const rounds = Number(opt['churn-rounds']);
    log(`churn on ${kind}: ${rounds} rounds of ${streams} connects then closes ...`);
    const system = makeSystem(kind);
    try {
      await system.start();
      const heartbeatSecs = Number(system.heartbeatSecs());
      const row = await measureChurn(system, {
        streams, rounds, heartbeatSecs, threads: Number(opt.threads), waitMs: 4 * heartbeatSecs * 1000, log,
      });
      results.churn.push({ system: kind, label: system.label, ...row });
    } catch (e) {
      note(`churn on ${kind} failed: ${e.message}`);
      results.churn.push({ system: kind, label: system.label, error: e.message });
    } finally {
      await system.dispose();
    }
  }
}

function render() {
  const m = results.machine;
  const out = [
    `## polycache bench, ${results.startedAt}`,
    '',
    `${m.cpus} cores (${m.model}), load average ${m.loadBefore.map((x) => x.toFixed(2)).join(' ')} before and ${m.loadAfter?.map((x) => x.toFixed(2)).join(' ')} after; `
      + `Node ${m.node}, wrangler ${results.versions.wrangler}, workerd ${results.versions.workerd}, better-sse ${results.versions.betterSse}; `
      + `open-files limit ${m.fdLimit}; ${opt.events} events ${opt['interval-ms']} ms apart per row; ${Math.round(results.durationSecs)} s in all.`,
  ];
  if (Object.keys(runtimeVars).length) out.push('', `Runtime vars: \`${JSON.stringify(runtimeVars)}\`.`);
  if (results.fanout.length) {
    out.push('', '### Fan-out', '', fanoutTable(results.fanout));
    const against = peerTable(results.fanout);
    if (against) out.push('', '### Against the peer (same run)', '', against);
    out.push('', '### Memory with the streams open, by process', '', memoryTable(results.fanout));
  }
  if (results.mirror.length) out.push('', '### Mirror propagation', '', mirrorTable(results.mirror));
  if (results.reads.length) out.push('', `### Reads (wrk, 1 thread, ${opt['reads-conns']} connections, ${opt['reads-secs']} s each)`, '', readsTable(results.reads));
  if (results.acks.length) out.push('', `### Write acknowledgement: sequential writes, ${opt['acks-streams']} streams open (spread over the regions)`, '', acksTable(results.acks));
  if (results.bursts.length) {
    out.push('', `### Bursts: ${opt.bursts} per row, each from its first trigger to its last event at each stream`, '', burstsTable(results.bursts));
  }
  if (results.origin.length) {
    out.push('', `### Reads in origin mode beside D1 mode (wrk, 1 thread, ${opt['reads-conns']} connections, ${opt['reads-secs']} s each; the stand-in origin's latency 0)`,
      '', originTable(results.origin));
    const ratios = originRatioTable(results.origin);
    if (ratios) out.push('', '### Origin mode over D1 mode (same run)', '', ratios);
  }
  if (results.churn.length) out.push('', `### Churn: rounds of connects then closes (a gone client is noticed at a heartbeat write)`, '', churnTable(results.churn));
  if (results.notes.length) out.push('', '### Notes', '', ...results.notes.map((n) => `- ${n.split('\n')[0]}`));
  return out.join('\n');
}

let finished = false;
/** Writes the JSON, prints the table, stops everything and exits. */
async function finish(reason) {
  if (finished) return;
  finished = true;
  if (reason) note(reason);
  await stopAll();
  closeAgent();
  results.machine.loadAfter = loadavg();
  results.finishedAt = new Date().toISOString();
  results.durationSecs = (nowMs() - started) / 1000;
  const file = join(opt.out, `${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(render());
  console.log(`\n(JSON: ${file})`);
  const failed = reason || [...results.fanout, ...results.mirror, ...results.reads, ...results.acks, ...results.churn, ...results.bursts, ...results.origin].some((r) => r.error && !r.error.startsWith('skipped'));
  // Explicitly: a load-client thread of a row that timed out may still be alive.
  process.exit(failed ? 1 : 0);
}

// Ctrl-C (or a SIGTERM): stop everything the bench started, by pid, and
// still print what was measured.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`\n${sig}: stopping everything the bench started ...`);
    finish(`interrupted by ${sig}`);
  });
}
// A stray rejection must not end the run without its table.
process.on('unhandledRejection', (e) => log(`unhandled: ${e?.stack ?? e}`));
// The last bound: whatever still runs 5 minutes past --max-minutes is cut,
// and what was measured is printed.
setTimeout(() => finish(`the run was cut ${5} minutes past --max-minutes`), deadline - nowMs() + 5 * 60_000).unref();

try {
  if (parts.has('runtime') || parts.has('acks') || (parts.has('reads') && list(opt['reads-systems']).includes('runtime'))
      || (parts.has('origin') && list(opt['origin-systems']).includes('runtime'))
      || (parts.has('churn') && list(opt['churn-systems']).includes('runtime'))
      || (parts.has('mirror') && opt['mirror-system'] === 'runtime')
      || (parts.has('bursts') && burstSystems.some((s) => s.kind === 'runtime'))) {
    results.build = { sha256: (await snapshotBuild()).sha256 };
  }
  // The short parts first: if the fan-out rows run out of time (--max-minutes),
  // what is skipped is the largest of them.
  if (parts.has('mirror')) await mirrorPart();
  if (parts.has('reads')) await readsPart();
  if (parts.has('acks')) await acksPart();
  if (systems.length) await fanoutPart();
  if (parts.has('churn')) await churnPart();
  if (parts.has('bursts')) await burstsPart();
  if (parts.has('origin')) await originPart();
} catch (e) {
  results.error = String(e?.stack ?? e);
  await finish(`the run failed: ${e?.message ?? e}`);
} finally {
  await finish();
}
