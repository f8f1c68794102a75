// The systems under test, each started fresh for every measurement and
// stopped by the pid of the process the bench started:
//   runtime  polycache in workerd through Miniflare (bench/lib/runtime-host.mjs):
//            no inspector, no dev proxy; memory = workerd's
//   dev      polycache under the `wrangler dev` command, started by the test
//            harness (tests/common/harness.mjs); memory = the whole tree of
//            wrangler's Node processes and its workerd processes
//   peer     a better-sse hub in Node (bench/peers/better-sse.mjs); memory = that process
//   floor    the runtime's floor: a bare Worker and Durable Object in
//            polycache's shape (bench/floor/worker.mjs), served as the
//            runtime rows are; memory = workerd's
// Each offers: start/stop/restart, url, streamPath, processes() (what its
// memory is measured over), subscribers(), and trigger(kind, i), which sends
// the request that makes one event and resolves with {eventId, sentAt, ackAt, ms}.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ROOT, TEST_SECRETS, WorkerInstance, freePort, tiedToThisProcess } from '../../tests/common/harness.mjs';
import { ADMIN, EDITOR } from '../../tests/common/accounts.mjs';
import { login } from '../../tests/common/api.mjs';
import { resetAgent, send } from './http.mjs';
import { cmdline, tree } from './procs.mjs';
import { sleep } from './clock.mjs';

/**
 * The edge tier's regions for the runtime rows (`--regions`): n = 1 is
 * today's default (EDGE_REGIONS unset: one region, `default`, so one Edge
 * with the default EDGE_SHARDS of 1); n > 1 takes the first n hints of this
 * list and sets EDGE_REGION_HEADER, so that the load client picks each
 * request's region with that header (Miniflare has no `cf` location).
 */
export const REGION_HEADER = 'x-polycache-region';
const REGION_HINTS = ['weur', 'enam', 'apac', 'wnam', 'eeur', 'oc', 'sam', 'afr', 'me'];
export function regionVars(n) {
  if (!(n >= 1 && n <= REGION_HINTS.length)) throw new Error(`regions: 1 to ${REGION_HINTS.length}, not ${n}`);
  return n === 1 ? {} : { EDGE_REGIONS: REGION_HINTS.slice(0, n).join(','), EDGE_REGION_HEADER: REGION_HEADER };
}

let buildSnapshot = null;
/**
 * How the runtime rows are served:
 * - assets: Miniflare's static-assets router in front of the Worker
 *   (wrangler.toml's [assets]), as `wrangler dev` has it. Off by default: in
 *   production that routing is the platform's, outside the Worker's isolate
 *   and memory, and the bench requests no static file.
 * - entryWorker: Miniflare's entry Worker (core:entry) in front of ours, as
 *   Miniflare's own socket and `wrangler dev` have it. Off by default: the
 *   runtime host then serves our Worker from a direct socket, as
 *   production's front line hands a request to the isolate.
 * - inspectorPort: workerd's inspector on this port (bench/heap-probe.mjs
 *   only; it slows the runtime, so no latency is read with it).
 */
const runtimeOptions = { assets: false, entryWorker: false, inspectorPort: null };
export function setRuntimeOptions(options) { Object.assign(runtimeOptions, options); }

/** SSE_HEARTBEAT_SECS in wrangler.toml's [vars]. */
function configuredHeartbeatSecs() {
  const m = /^SSE_HEARTBEAT_SECS\s*=\s*"(\d+)"/m.exec(readFileSync(join(ROOT, 'wrangler.toml'), 'utf8'));
  if (!m) throw new Error('wrangler.toml: no SSE_HEARTBEAT_SECS in [vars]');
  return Number(m[1]);
}

/**
 * Copies build/entry.mjs, index.js and index_bg.wasm to a directory of their own,
 * which every runtime row of this run then loads: the same Worker for the
 * whole run, whatever rebuilds happen meanwhile. (`wrangler dev` reads
 * build/ itself.) Returns {dir, sha256} of the copy; removed by stopAll().
 */
export async function snapshotBuild() {
  // A build may be under way (someone runs `make build`): wait for two files
  // that are there, unchanged for half a second, the wasm whole (its magic
  // number; Node 20 cannot validate it: it uses newer exception handling).
  const files = ['entry.mjs', 'index.js', 'index_bg.wasm'].map((f) => join(ROOT, 'build', f));
  const read = () => {
    try {
      return files.map((f) => ({ f, bytes: readFileSync(f), mtime: statSync(f).mtimeMs }));
    } catch {
      return null;
    }
  };
  let copy = null;
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(500)) {
    const first = read();
    await sleep(500);
    const second = read();
    if (first && second && first.every((x, i) => x.mtime === second[i].mtime && x.bytes.equals(second[i].bytes))
        && second[2].bytes.subarray(0, 4).equals(Buffer.from([0, 0x61, 0x73, 0x6d])) && second[1].bytes.length > 0) {
      copy = second;
      break;
    }
  }
  if (!copy) throw new Error('build/entry.mjs, index.js and index_bg.wasm did not settle within 2 minutes (a build under way?)');
  const dir = mkdtempSync(join(tmpdir(), 'polycache-bench-build-'));
  buildSnapshot = dir;
  const hash = createHash('sha256');
  for (const { f, bytes } of copy) {
    hash.update(bytes);
    writeFileSync(join(dir, basename(f)), bytes);
  }
  return { dir, sha256: hash.digest('hex') };
}

/** Every system started and not yet stopped, for the cleanup on exit. */
const live = new Set();

/**
 * Stops every system still running (on the way out, also on failure or
 * Ctrl-C), then whatever else this process started and is still running (a
 * `wrangler d1 migrations apply` of the harness, wrk, perf): each by its pid.
 */
export async function stopAll() {
  await Promise.allSettled([...live].map((s) => s.dispose()));
  if (buildSnapshot) rmSync(buildSnapshot, { recursive: true, force: true });
  const rest = tree(process.pid).filter((p) => p.pid !== process.pid);
  for (const p of rest) {
    try { process.kill(p.pid, 'SIGTERM'); } catch { /* gone */ }
  }
  if (rest.length) await sleep(1000);
  for (const p of rest) {
    if (tree(p.pid)[0]?.comm === p.comm) {
      try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
}

/** Signals every process of the tree under pid (pid first), by pid. */
function signalTree(pid, signal) {
  const procs = tree(pid);
  for (const p of procs) {
    try { process.kill(p.pid, signal); } catch { /* gone */ }
  }
  return procs;
}

/**
 * A Node child that prints one JSON line {"ready": url} once it serves
 * (runtime-host.mjs, the peer). Started in a process group of its own, so
 * that a Ctrl-C reaches the bench first, which then stops it in order.
 */
export class NodeChild {
  constructor(name, script, args) {
    this.name = name;
    this.script = script;
    this.args = args;
    this.child = null;
    this.output = '';
    this.url = null;
  }

  async start(timeoutMs = 60_000) {
    const child = spawn(...tiedToThisProcess(process.execPath, [this.script, ...this.args]), {
      cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' },
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig)));
    const keep = (d) => { this.output = (this.output + d).slice(-20_000); };
    child.stderr.on('data', keep);
    let lineBuf = '';
    const ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: not ready within ${timeoutMs} ms:\n${this.output}`)), timeoutMs);
      child.stdout.on('data', (d) => {
        keep(d);
        if (this.url) return;
        lineBuf += d;
        const nl = lineBuf.indexOf('\n');
        if (nl < 0) return;
        try {
          this.url = JSON.parse(lineBuf.slice(0, nl)).ready;
          clearTimeout(timer);
          resolve();
        } catch { /* a line before the ready one */ lineBuf = lineBuf.slice(nl + 1); }
      });
      this.exited.then((code) => { clearTimeout(timer); reject(new Error(`${this.name} exited ${code}:\n${this.output}`)); });
    });
    await ready;
  }

  get pid() { return this.child?.pid; }

  /** The processes this child started (for a runtime host, workerd), not the child itself. */
  children() { return this.child ? tree(this.child.pid).filter((p) => p.pid !== this.child.pid) : []; }

  async stop() {
    const child = this.child;
    if (!child) return;
    this.child = null;
    this.url = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    // Remember the tree now: once the parent is gone its children are re-parented.
    const procs = signalTree(child.pid, 'SIGTERM');
    await Promise.race([this.exited, sleep(5000)]);
    // Whatever of the tree outlived the parent (or a parent that did not
    // stop in time) is killed, each by its pid, if that pid is still the
    // same process.
    for (const p of procs) {
      if (tree(p.pid)[0]?.comm === p.comm) {
        try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
      }
    }
    await this.exited;
  }
}

class Polycache {
  constructor(kind, vars) {
    this.kind = kind;
    this.vars = vars;
    this.streamPath = '/api/stream';
    this.tokens = {};
    this.stateDir = mkdtempSync(join(tmpdir(), `polycache-bench-${kind}-`));
    this.migrated = false;
  }

  /** Logs in (once per account; tokens survive restarts: same JWT_SECRET). */
  async token(account) {
    this.tokens[account.email] ??= await login({ url: this.url }, account);
    return this.tokens[account.email];
  }

  async subscribers() {
    return (await this.status({ timeoutMs: 10_000 }))?.subscribers ?? null;
  }

  /**
   * GET /api/status (its JSON, or null). Under the edge tier it asks every
   * live Edge for its report, which waits behind an Edge's fan-out: at
   * 5,000 streams and more, 10 s was not always enough.
   */
  async status({ timeoutMs = 30_000 } = {}) {
    const res = await send(this.url, 'GET', '/api/status', { timeoutMs });
    return res.json ?? null;
  }

  /**
   * The edge tier's regions this instance runs with (EDGE_REGIONS, when
   * EDGE_REGION_HEADER lets a request choose; [] otherwise: every request
   * goes to the first or only region) and that header.
   */
  get regions() {
    return this.vars.EDGE_REGIONS && this.vars.EDGE_REGION_HEADER ? this.vars.EDGE_REGIONS.split(',').map((r) => r.trim()) : [];
  }

  get regionHeader() { return this.regions.length ? this.vars.EDGE_REGION_HEADER : null; }

  /** How many Edges serve reads and streams: regions x EDGE_SHARDS. */
  get edgeCount() {
    const regions = this.vars.EDGE_REGIONS ? this.vars.EDGE_REGIONS.split(',').length : 1;
    return regions * Number(this.vars.EDGE_SHARDS ?? 1);
  }

  /** One set of request headers per region (one empty set without regions). */
  regionHeaders() {
    return this.regions.length ? this.regions.map((r) => ({ [this.regionHeader]: r })) : [{}];
  }

  /**
   * kind 'invalidate': POST /api/cache/invalidate {type: posts} (with `id`
   * when entityId is given: the burst rows name a distinct post each time);
   * 'patch': PATCH /api/posts/1.
   */
  async trigger(kind, i, { timeoutMs, entityId } = {}) {
    if (kind === 'invalidate') {
      const token = await this.token(ADMIN);
      const body = entityId === undefined ? { type: 'posts' } : { type: 'posts', id: String(entityId) };
      const res = await send(this.url, 'POST', '/api/cache/invalidate', { token, body, timeoutMs });
      if (res.status !== 200) throw new Error(`invalidate: ${res.status} ${res.text.slice(0, 200)}`);
      return { eventId: res.json.eventId, sentAt: res.sentAt, ackAt: res.ackAt, ms: res.ms };
    }
    if (kind === 'patch') {
      const token = await this.token(EDITOR);
      const res = await send(this.url, 'PATCH', '/api/posts/1', { token, body: { title: `bench ${i} ${Date.now()}` }, timeoutMs });
      if (res.status !== 200) throw new Error(`PATCH: ${res.status} ${res.text.slice(0, 200)}`);
      return { eventId: Number(res.headers['x-invalidation-event']), sentAt: res.sentAt, ackAt: res.ackAt, ms: res.ms };
    }
    throw new Error(`${this.kind} has no trigger ${kind}`);
  }

  async restart() { await this.stop(); await this.start(); }

  /**
   * Whether the Worker has the edge tier (its /api/status has the Hub's
   * counters; not on a commit before it), found once, after the first start.
   */
  async detectEdgeTier() {
    if (this.edgeTier !== undefined) return;
    const status = await this.status().catch(() => null);
    if (status) this.edgeTier = Boolean(status.hub);
  }

  /** The heartbeat period this instance runs with. */
  heartbeatSecs() { return Number(this.vars.SSE_HEARTBEAT_SECS ?? configuredHeartbeatSecs()); }

  async dispose() {
    await this.stop();
    rmSync(this.stateDir, { recursive: true, force: true });
    live.delete(this);
  }
}

/**
 * The limits a public deployment sets on streams, raised: the bench opens up
 * to 10,000 streams from 127.0.0.1 on one Edge, where production caps one
 * address at 200 and an Edge at 10,000 (README, "Security").
 */
const BENCH_LIMITS = { SSE_STREAMS_PER_ADDRESS: '100000', SSE_STREAMS_PER_OBJECT: '100000' };

/** polycache in workerd through Miniflare: the runtime alone. */
export class RuntimeSystem extends Polycache {
  constructor(vars = {}) {
    super('runtime', { ...TEST_SECRETS, INSTANCE_ID: 'bench-runtime', ...BENCH_LIMITS, ...vars });
    this.label = `polycache, runtime alone, ${this.edgesLabel()}`;
    this.host = null;
  }

  async start({ port } = {}) {
    live.add(this);
    port ??= await freePort();
    const args = ['--port', String(port), '--state', this.stateDir, '--vars', JSON.stringify(this.vars)];
    if (!this.migrated) args.push('--migrate');
    if (buildSnapshot) args.push('--build', buildSnapshot);
    const { assets, entryWorker, inspectorPort } = runtimeOptions;
    if (assets) args.push('--assets');
    if (entryWorker) args.push('--entry-worker');
    if (inspectorPort) args.push('--inspector-port', String(inspectorPort));
    const extras = [entryWorker && 'entry Worker', assets && 'assets router'].filter(Boolean);
    this.label = `polycache, runtime alone, ${this.edgesLabel()}${extras.length ? ` (+ ${extras.join(', + ')})` : ''}`;
    this.host = new NodeChild('runtime-host', join(ROOT, 'bench/lib/runtime-host.mjs'), args);
    await this.host.start();
    this.migrated = true;
    this.url = this.host.url;
    await this.detectEdgeTier();
    // A Worker from before the edge tier (this bench run on an older
    // commit, to compare) has no Edge. Its rows say so rather than "1 Edge".
    if (this.edgeTier === false) this.label = this.label.replace(/, \d+ Edges?( \([^+)][^)]*\))?/, ', before the edge tier (no Edge: reads and streams through the Hub)');
  }

  async stop() { await this.host?.stop(); this.host = null; resetAgent(); }

  /** "1 Edge", "3 Edges (weur, enam, apac)", "6 Edges (weur, enam, apac x 2 shards)". */
  edgesLabel() {
    const n = this.edgeCount;
    const shards = Number(this.vars.EDGE_SHARDS ?? 1);
    const where = [this.vars.EDGE_REGIONS && this.vars.EDGE_REGIONS.split(',').join(', '), shards > 1 && `x ${shards} shards`].filter(Boolean).join(' ');
    return `${n} Edge${n === 1 ? '' : 's'}${where ? ` (${where})` : ''}`;
  }

  /** workerd: the host's children (the Node host itself serves no request). */
  processes() { return this.host?.children() ?? []; }

  get output() { return this.host?.output ?? ''; }
}

/**
 * `wrangler d1 migrations apply DB --local --persist-to DIR`, what the test
 * harness runs before a first start, but bounded in time: under a heavily
 * loaded machine it was seen to take minutes, and the bench must end.
 */
async function migrate(stateDir, timeoutMs = 120_000) {
  const child = spawn(join(ROOT, 'node_modules', '.bin', 'wrangler'),
    ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', stateDir], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', CI: 'true' },
    });
  let out = '';
  child.stdout.on('data', (d) => { out = (out + d).slice(-4000); });
  child.stderr.on('data', (d) => { out = (out + d).slice(-4000); });
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig)));
  const code = await Promise.race([exited, sleep(timeoutMs).then(() => 'timeout')]);
  if (code === 'timeout') {
    for (const p of tree(child.pid)) {
      try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    throw new Error(`wrangler d1 migrations apply: no end within ${timeoutMs / 1000} s:\n${out}`);
  }
  if (code !== 0 && !/No migrations/.test(out)) throw new Error(`wrangler d1 migrations apply exited ${code}:\n${out}`);
}

/** polycache under the `wrangler dev` command, as a developer runs it. */
export class DevSystem extends Polycache {
  constructor(vars = {}) {
    super('dev', { INSTANCE_ID: 'bench-dev', ...BENCH_LIMITS, ...vars });
    this.label = 'polycache, wrangler dev';
    this.instance = null;
  }

  async start({ port } = {}) {
    live.add(this);
    if (!this.migrated) await migrate(this.stateDir);
    this.migrated = true;
    this.instance = new WorkerInstance({ name: 'dev', vars: this.vars, stateDir: this.stateDir, migrate: false, port });
    this.reloadCount = 0;
    this.notable = [];
    await this.instance.start();
    // wrangler dev rebuilds and reloads the Worker when a file under its
    // [build] watch_dir changes (someone editing the tree): count the
    // rebuilds and reloads, so that a measurement they cut can be told apart
    // and repeated, and keep what wrangler said about them.
    const watch = (d) => {
      for (const line of String(d).split('\n')) {
        if (/changed, restarting build|Reloading local server/.test(line)) this.reloadCount++;
        if (/restart|reload|changed|updated|error/i.test(line) && this.notable.length < 200) {
          this.notable.push(`${new Date().toISOString()} ${line.trim().slice(0, 300)}`);
        }
      }
    };
    this.instance.child.stdout.on('data', watch);
    this.instance.child.stderr.on('data', watch);
    this.url = this.instance.url;
    await this.detectEdgeTier();
  }

  async stop() { await this.instance?.stop(); this.instance = null; resetAgent(); }

  /** How often wrangler dev reloaded the Worker since it started. */
  reloads() { return this.reloadCount; }

  /**
   * wrangler's Node processes and every workerd under them; the workerd
   * that listens on the instance's port is the dev proxy, the other runs
   * the Worker.
   */
  processes() {
    if (!this.instance?.child) return [];
    return tree(this.instance.child.pid).map((p) => {
      if (p.comm !== 'workerd') return p;
      const proxy = cmdline(p.pid).includes(`=127.0.0.1:${this.instance.port} `);
      return { ...p, comm: proxy ? 'workerd (dev proxy)' : 'workerd (Worker)' };
    });
  }

  get output() { return this.instance?.output ?? ''; }
}

/**
 * A system that is one Node child serving GET /stream, POST /broadcast and
 * GET /api/status: the peer, and the runtime's floor.
 */
class BroadcastSystem {
  constructor(kind, label, script) {
    this.kind = kind;
    this.label = label;
    this.script = script;
    this.args = []; // more arguments after --port
    this.streamPath = '/stream';
    this.node = null;
    // Not polycache: no Hub counters or Edges in its status (fanout.mjs, edgeTier).
    this.edgeTier = false;
  }

  async start() {
    live.add(this);
    this.node = new NodeChild(this.kind, this.script, ['--port', String(await freePort()), ...this.args]);
    await this.node.start();
    this.url = this.node.url;
  }

  async stop() { await this.node?.stop(); this.node = null; resetAgent(); }

  async restart() { await this.stop(); await this.start(); }

  async dispose() { await this.stop(); live.delete(this); }

  async subscribers() {
    return (await this.status({ timeoutMs: 10_000 }))?.subscribers ?? null;
  }

  /** GET /api/status (its JSON, or null). */
  async status({ timeoutMs = 30_000 } = {}) {
    const res = await send(this.url, 'GET', '/api/status', { timeoutMs });
    return res.json ?? null;
  }

  /** One broadcast; with entityId, the event names that entity (the burst rows). */
  async trigger(kind, i, { timeoutMs, entityId } = {}) {
    if (kind !== 'invalidate') throw new Error(`${this.label} has no trigger ${kind}`);
    const res = await send(this.url, 'POST', '/broadcast', { body: entityId === undefined ? {} : { id: String(entityId) }, timeoutMs });
    if (res.status !== 200) throw new Error(`broadcast: ${res.status} ${res.text.slice(0, 200)}`);
    return { eventId: res.json.eventId, sentAt: res.sentAt, ackAt: res.ackAt, ms: res.ms };
  }

  get output() { return this.node?.output ?? ''; }
}

/** The peer: better-sse in Node. */
export class PeerSystem extends BroadcastSystem {
  constructor() {
    super('peer', 'better-sse (peer)', join(ROOT, 'bench/peers/better-sse.mjs'));
  }

  processes() { return this.node ? tree(this.node.pid) : []; }
}

/**
 * The runtime's floor: bench/floor/worker.mjs in workerd, served as the
 * runtime rows are (runtime-host.mjs --floor, the same direct socket or
 * entry Worker). What the runtime costs with no polycache code at all.
 */
export class FloorSystem extends BroadcastSystem {
  constructor() {
    super('floor', 'runtime floor (bare Worker + DO)', join(ROOT, 'bench/lib/runtime-host.mjs'));
    this.stateDir = mkdtempSync(join(tmpdir(), 'polycache-bench-floor-'));
  }

  async start() {
    this.args = ['--state', this.stateDir, '--floor', ...(runtimeOptions.entryWorker ? ['--entry-worker'] : [])];
    this.label = `runtime floor (bare Worker + DO${runtimeOptions.entryWorker ? ', + entry Worker' : ''})`;
    await super.start();
  }

  /** workerd: the host's children (the Node host itself serves no request). */
  processes() { return this.node?.children() ?? []; }

  async dispose() {
    await super.dispose();
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** A system of this kind: runtime, dev, peer or floor. */
export function makeSystem(kind, vars) {
  if (kind === 'runtime') return new RuntimeSystem(vars);
  if (kind === 'dev') return new DevSystem(vars);
  if (kind === 'peer') return new PeerSystem();
  if (kind === 'floor') return new FloorSystem();
  throw new Error(`unknown system ${kind}`);
}
