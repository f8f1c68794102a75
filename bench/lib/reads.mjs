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
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { send } from './http.mjs';
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

function row(system, read, w, probe) {
  const secs = w.durationUs / 1e6;
  const errors = Object.values(w.errors).reduce((a, b) => a + b, 0) - (read === 'miss' ? w.errors.status : 0);
  return {
    system,
    read,
    requests: w.requests,
    rps: w.requests / secs,
    latencyMs: Object.fromEntries(Object.entries(w.latencyUs).map(([k, v]) => [k, Math.round(v / 10) / 100])),
    errors,
    wrkErrors: w.errors,
    probe,
  };
}

/** Runs both reads on a started polycache system; returns two rows. */
export async function measureReads(system, { secs, conns, log }) {
  if (!existsSync(WRK)) throw new Error(`${WRK} is missing (scripts/bootstrap.sh installs Debian's wrk)`);
  let hitProbe;
  for (let tries = 0; ; tries++) {
    try {
      const first = await send(system.url, 'GET', '/api/posts');
      const second = await send(system.url, 'GET', '/api/posts');
      hitProbe = { first: first.headers['x-cache'], second: second.headers['x-cache'] };
    } catch (e) {
      hitProbe = { error: e.message };
    }
    if (hitProbe.second === 'hit') break;
    // `wrangler dev` may be reloading (a watched file changed): its cache is gone.
    if (tries === 3) throw new Error(`GET /api/posts twice did not hit: ${JSON.stringify(hitProbe)}`);
    await sleep(2000);
  }
  const hit = await wrk(`${system.url}/api/posts`, { secs, conns });
  const after = await send(system.url, 'GET', '/api/posts');
  const hitRow = row(system.kind, 'hit', hit, { ...hitProbe, after: after.headers['x-cache'] });

  const base = 1_000_000 + Math.floor(Math.random() * 1_000_000) * 1000;
  const fresh = await send(system.url, 'GET', `/api/posts/${base}`);
  const miss = await wrk(`${system.url}/api/posts`, { secs, conns, env: { BENCH_ID_BASE: String(base) } });
  // An id of the run read again: a hit now, so it was stored by a miss then.
  // (wrk calls request() once before it sends anything: the first id sent is base + 2.)
  const again = await send(system.url, 'GET', `/api/posts/${base + 3}`);
  const missRow = row(system.kind, 'miss', miss, { fresh: fresh.headers['x-cache'], readAgain: again.headers['x-cache'], status: fresh.status });
  for (const r of [hitRow, missRow]) {
    log(`  ${r.system} ${r.read}: ${r.rps.toFixed(0)} req/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms${r.errors ? `, ${r.errors} errors` : ''}`);
  }
  return [hitRow, missRow];
}
