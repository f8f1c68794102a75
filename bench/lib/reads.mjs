// Cached reads: throughput and latency of a hit versus an uncached origin
// read, with wrk (Debian's package, installed by scripts/bootstrap.sh) on a
// freshly started system.
//   hit   GET /api/posts, after two reads made sure it is cached (the second
//         answered x-cache: hit)
//   miss  GET /api/posts/<id> with a different id every request (wrk.lua),
//         ids above the demo data: each is a Hub cache read that misses, a D1
//         query (no such row), a Hub cache write, and a 404 (an absent row is
//         cached too, so the same id twice would hit). wrk counts the 404s
//         as "non-2xx", expected here.
// With regions (polycache's edge tier, `--regions`), both spread their
// requests evenly over the regions by the region header (wrk.lua): a hit is
// then served by the Edge of its region, each of which was made to hold the
// entry first. The JSON records which Edge answered the probes and, under
// the edge tier, the Hub's counters during each row (a hit should not reach
// the Hub; before the edge tier every cached read was a call to the Hub).
// The origin rows (bench/lib/origin.mjs) run the same two reads on other
// paths (`paths`): an entity of D1 mode or of the stand-in origin.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { send } from './http.mjs';
import { memory } from './procs.mjs';
import { edgeTier, hubDelta } from './fanout.mjs';
import { sleep } from './clock.mjs';

export const WRK = '/usr/bin/wrk';
const SCRIPT = fileURLToPath(new URL('./wrk.lua', import.meta.url));

function wrk(url, { secs, conns, env = {} }) {
  return new Promise((resolve, reject) => {
    const args = ['-t1', `-c${conns}`, `-d${secs}s`, '--timeout', '10s', '-s', SCRIPT, url];
    const child = spawn(WRK, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('exit', (code) => {
      const m = /^WRK_JSON (.*)$/m.exec(out);
      if (code !== 0 || !m) reject(new Error(`wrk exited ${code}: ${out.slice(-1000)}`));
      else resolve(JSON.parse(m[1]));
    });
  });
}

function row(system, read, w, probe, hubDuring, cpuMs, path, originRequests) {
  const secs = w.durationUs / 1e6;
  const errors = Object.values(w.errors).reduce((a, b) => a + b, 0) - (read === 'miss' ? w.errors.status : 0);
  return {
    system: system.kind,
    label: system.label,
    edgeCount: system.edgeCount ?? null,
    regions: system.regions?.length ? system.regions : undefined,
    hubDuring: hubDuring ?? undefined,
    // CPU time of the system's processes during the row, per request: less
    // sensitive than req/s and latency to whatever else runs on the machine.
    cpuMs,
    cpuUsPerRequest: w.requests > 0 ? (1000 * cpuMs) / w.requests : null,
    read,
    path,
    // Requests the origin answered during the row (the stand-in's counter;
    // null in D1 mode): one per miss, none for a hit.
    originRequests: originRequests ?? null,
    requests: w.requests,
    // Bytes wrk read per answer (headers and body): what one hit carries.
    bytesPerResponse: w.requests > 0 ? Math.round(w.bytes / w.requests) : null,
    rps: w.requests / secs,
    latencyMs: Object.fromEntries(Object.entries(w.latencyUs).map(([k, v]) => [k, Math.round(v / 10) / 100])),
    errors,
    wrkErrors: w.errors,
    probe,
  };
}

/**
 * Runs both reads on a started polycache system; returns two rows. paths:
 * `hit` (read twice first, then by wrk) and `miss` (the prefix of the new
 * ids, e.g. '/api/posts/'). originCount: a function that returns how many
 * requests the origin answered so far (the stand-in's), read around each row.
 */
export async function measureReads(system, { secs, conns, log, paths = { hit: '/api/posts', miss: '/api/posts/' }, originCount = () => null }) {
  if (!existsSync(WRK)) throw new Error(`${WRK} is missing (scripts/bootstrap.sh installs Debian's wrk)`);
  const regionHeaders = system.regionHeaders?.() ?? [{}];
  const regionEnv = system.regions?.length ? { BENCH_REGIONS: system.regions.join(','), BENCH_REGION_HEADER: system.regionHeader } : {};
  const get = (path, headers) => send(system.url, 'GET', path, { headers });
  // Which cache answered (x-cache) and, under the edge tier, which Edge.
  const said = (res) => `${res.headers['x-cache']}${res.headers['x-polycache-edge'] ? ` ${res.headers['x-polycache-edge']}` : ''}`;
  // Every region's Edge holds the entry before the row (the second read of
  // each region a hit).
  let hitProbe;
  for (let tries = 0; ; tries++) {
    hitProbe = [];
    try {
      for (const headers of regionHeaders) {
        const first = await get(paths.hit, headers);
        const second = await get(paths.hit, headers);
        hitProbe.push({ ...headers, first: said(first), second: said(second), hit: second.headers['x-cache'] === 'hit' });
      }
    } catch (e) {
      hitProbe.push({ error: e.message });
    }
    if (hitProbe.every((p) => p.hit)) break;
    // `wrangler dev` may be reloading (a watched file changed): its cache is gone.
    if (tries === 3) throw new Error(`GET ${paths.hit} twice did not hit: ${JSON.stringify(hitProbe)}`);
    await sleep(2000);
  }
  const cpu = () => memory(system.processes()).cpuMs;
  const hubBefore = await edgeTier(system);
  const hitCpu = cpu();
  const hitOrigin = originCount();
  const hit = await wrk(`${system.url}${paths.hit}`, { secs, conns, env: regionEnv });
  const hitCpuMs = cpu() - hitCpu;
  const hitOriginRequests = hitOrigin === null ? null : originCount() - hitOrigin;
  const hubAfter = await edgeTier(system);
  const after = [];
  for (const headers of regionHeaders) after.push(said(await get(paths.hit, headers)));
  const hitRow = row(system, 'hit', hit, { regions: hitProbe, after }, hubDelta(hubBefore, hubAfter), hitCpuMs, paths.hit, hitOriginRequests);

  const base = 1_000_000 + Math.floor(Math.random() * 1_000_000) * 1000;
  const fresh = await get(`${paths.miss}${base}`, regionHeaders[0]);
  // The same id at once: a hit, so a miss stores what it read (its 404,
  // kept NEGATIVE_CACHE_SECS, 5 s by default: shorter than a row, so the id
  // of the run read again after it, below, misses once more).
  const freshAgain = await get(`${paths.miss}${base}`, regionHeaders[0]);
  const missBefore = await edgeTier(system);
  const missCpu = cpu();
  const missOrigin = originCount();
  const miss = await wrk(`${system.url}${paths.hit}`, { secs, conns, env: { ...regionEnv, BENCH_ID_BASE: String(base), BENCH_ID_PATH: paths.miss } });
  const missCpuMs = cpu() - missCpu;
  const missOriginRequests = missOrigin === null ? null : originCount() - missOrigin;
  const missAfter = await edgeTier(system);
  // An id of the run read again: a hit now, so it was stored by a miss then.
  // (wrk calls request() once before it sends anything: the first id sent is
  // base + 2, and with regions, id base + n went to region n mod their number.)
  const again = await get(`${paths.miss}${base + 3}`, regionHeaders[3 % regionHeaders.length]);
  const missRow = row(system, 'miss', miss, { fresh: said(fresh), freshAgain: said(freshAgain), readAgain: said(again), status: fresh.status },
    hubDelta(missBefore, missAfter), missCpuMs, `${paths.miss}<new id>`, missOriginRequests);
  for (const r of [hitRow, missRow]) {
    log(`  ${r.label} ${r.read}: ${r.rps.toFixed(0)} req/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, ${r.cpuUsPerRequest?.toFixed(0)} µs CPU / request${r.errors ? `, ${r.errors} errors` : ''}`
      + `${r.hubDuring ? `; hub during the row: ${r.hubDuring.requests} requests, ${r.hubDuring.cacheReads} cache reads, ${r.hubDuring.renewals} renewals` : ''}`);
  }
  return [hitRow, missRow];
}
