// Starts and stops `wrangler dev` instances for the runtime tests: each on a
// free port of 127.0.0.1, with its own state directory (D1, KV and Durable
// Object storage), its own vars, stopped by its process group id (never by
// name). The Worker is built once by `make test`; POLYCACHE_PREBUILT=1 keeps
// wrangler's [build] step from rebuilding it for every instance.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { AUTH_USERS, SERVICE } from './accounts.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WRANGLER = join(ROOT, 'node_modules', '.bin', 'wrangler');

/**
 * The secrets every test instance gets unless a test overrides them (a var
 * given as null or undefined is left out). AUTH_USERS holds the accounts of
 * accounts.mjs. Values go to `wrangler dev --var KEY:VALUE`; wrangler splits
 * at the first colon only, so JSON with colons and quotes arrives intact
 * (spawn passes arguments without a shell), and `--var` overrides both
 * wrangler.toml and a developer's `.dev.vars`.
 */
export const TEST_SECRETS = {
  JWT_SECRET: 'test-secret-0123456789abcdef0123456789abcdef',
  SERVICE_EMAIL: SERVICE.email,
  SERVICE_PASSWORD: SERVICE.password,
  AUTH_USERS,
};

const SETPRIV = '/usr/bin/setpriv';

/**
 * `[command, args]` that run `cmd args` and end it with SIGTERM if this
 * process dies without stopping it (a run killed, or interrupted with
 * Ctrl-C, which never reaches a detached process group): util-linux's
 * `setpriv --pdeathsig`, which then execs `cmd` in the same pid. Without
 * setpriv, `cmd args` as they are.
 */
export function tiedToThisProcess(cmd, args) {
  return existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'TERM', '--', cmd, ...args]] : [cmd, args];
}

/** A free TCP port on 127.0.0.1. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function run(args, env, { quiet = true, stdoutOnly = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(WRANGLER, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stdout = '';
    child.stdout.on('data', (d) => { out += d; stdout += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(stdoutOnly ? stdout : out);
      else reject(new Error(`wrangler ${args.join(' ')} exited ${code}:\n${out}`));
    });
    if (!quiet) child.stdout.pipe(process.stderr);
  });
}

/**
 * A `wrangler dev` instance of the Worker.
 * Options: vars (object of vars and secrets), stateDir (reuse one, e.g. for a
 * restart on the same state), port (reuse one), migrate (apply D1 migrations),
 * requireHealthy (false: any answer of /api/health counts as started).
 */
export class WorkerInstance {
  constructor({ vars = {}, stateDir, port, migrate = true, name = 'worker', requireHealthy = true } = {}) {
    this.requireHealthy = requireHealthy;
    this.vars = { ...TEST_SECRETS, ...vars };
    this.ownsState = !stateDir;
    this.stateDir = stateDir ?? mkdtempSync(join(tmpdir(), 'polycache-state-'));
    this.port = port;
    this.migrate = migrate;
    this.name = name;
    this.child = null;
    this.output = '';
  }

  get url() { return `http://127.0.0.1:${this.port}`; }

  env() {
    // CLOUDFLARE_CF_FETCH_ENABLED=false: Miniflare's stand-in `cf` data (Austin,
    // Texas) without trying workers.cloudflare.com first, which offline
    // prints a stack trace and online makes the region depend on the machine.
    return {
      ...process.env, WRANGLER_SEND_METRICS: 'false', POLYCACHE_PREBUILT: '1', NO_COLOR: '1', CI: 'true',
      CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    };
  }

  async start() {
    this.port ??= await freePort();
    const inspectorPort = await freePort();
    if (this.migrate) {
      await run(['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', this.stateDir], this.env())
        .catch((e) => { if (!/No migrations/.test(String(e))) throw e; });
    }
    // An empty env file of our own: without one, wrangler would also load a
    // developer's `.dev.vars` (written by `make dev`) into every test instance.
    const envFile = join(this.stateDir, 'test.env');
    writeFileSync(envFile, '# vars come from --var\n');
    const args = ['dev', '--ip', '127.0.0.1', '--port', String(this.port),
      '--inspector-port', String(inspectorPort), '--persist-to', this.stateDir,
      '--env-file', envFile, '--show-interactive-dev-session=false'];
    for (const [k, v] of Object.entries(this.vars)) {
      if (v !== undefined && v !== null) args.push('--var', `${k}:${v}`);
    }
    this.output = '';
    // detached: its own process group, so stop() ends wrangler and workerd together.
    // wrangler stops its workerd when it gets SIGTERM: tied to this process,
    // a killed test run leaves no instance behind.
    this.child = spawn(...tiedToThisProcess(WRANGLER, args), { cwd: ROOT, env: this.env(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d) => { this.output = (this.output + d).slice(-1_000_000); };
    this.child.stdout.on('data', keep);
    this.child.stderr.on('data', keep);
    const exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.exited = exited;
    const deadline = Date.now() + 90_000;
    let early = null;
    exited.then((code) => { early = code; });
    while (Date.now() < deadline) {
      if (early !== null) throw new Error(`${this.name}: wrangler dev exited ${early}:\n${this.output}`);
      try {
        const res = await fetch(`${this.url}/api/health`, { signal: AbortSignal.timeout(2000) });
        // A misconfigured instance answers, with an error: that is up, too.
        if (res.ok || !this.requireHealthy) { await res.arrayBuffer(); return this; }
        await res.body?.cancel();
      } catch { /* not up yet */ }
      await sleep(200);
    }
    await this.stop();
    throw new Error(`${this.name}: no health within 90 s:\n${this.output}`);
  }

  /**
   * Stops the instance and replaces the Hub's SQLite database in its state
   * (Miniflare's layout: v3/do/<script>-<class>/<object id>.sqlite, with its
   * -wal and -shm) with bytes that are not a database, keeping the real
   * files aside: the next start has a Hub that cannot open its storage.
   * Returns `repair()`, which puts the real files back (the Hub opens its
   * storage again on the next request that needs it).
   */
  async breakHubStorage() {
    const dir = join(this.stateDir, 'v3', 'do', 'polycache-Hub');
    await this.stop();
    const files = readdirSync(dir).filter((f) => /^[0-9a-f]{64}\.sqlite(-wal|-shm)?$/.test(f));
    const db = files.find((f) => f.endsWith('.sqlite'));
    if (!db) throw new Error(`no Hub database in ${dir}: ${readdirSync(dir)}`);
    for (const f of files) renameSync(join(dir, f), join(dir, `${f}.kept`));
    writeFileSync(join(dir, db), 'this is not an SQLite database\n'.repeat(512));
    return () => {
      for (const f of readdirSync(dir).filter((f) => files.includes(f))) rmSync(join(dir, f));
      for (const f of files) renameSync(join(dir, `${f}.kept`), join(dir, f));
    };
  }

  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) { this.child = null; return; }
    try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
    const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
    await this.exited;
    clearTimeout(timer);
    // workerd may outlive wrangler for a moment; the group kill reaches it too.
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    this.child = null;
  }

  async restart() { await this.stop(); await this.start(); }

  /** Stops the instance and removes its state directory if the harness made it. */
  async dispose() {
    await this.stop();
    if (this.ownsState) rmSync(this.stateDir, { recursive: true, force: true });
  }

  /**
   * The processes of this instance (wrangler, workerd, ...), from /proc: those
   * of its process group. Returns [{pid, comm, fds}] (fds: open descriptors).
   */
  processes() {
    if (!this.child) return [];
    const out = [];
    for (const name of readdirSync('/proc')) {
      if (!/^[0-9]+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        const close = stat.lastIndexOf(')');
        const comm = stat.slice(stat.indexOf('(') + 1, close);
        const pgrp = Number(stat.slice(close + 2).split(' ')[2]);
        if (pgrp !== this.child.pid) continue;
        out.push({ pid: Number(name), comm, fds: readdirSync(`/proc/${name}/fd`).length });
      } catch { /* gone meanwhile */ }
    }
    return out;
  }

  /** Open file descriptors of the instance's workerd processes. */
  workerdFds() {
    return this.processes().filter((p) => p.comm.startsWith('workerd')).reduce((n, p) => n + p.fds, 0);
  }

  /**
   * The last lines of wrangler's output without the per-request lines: what to
   * show when a test fails (reloads, errors, panics).
   */
  notes(lines = 30) {
    return this.output.split('\n')
      .filter((l) => l.trim() && !/^\[wrangler:info\] [A-Z]+ \//.test(l))
      .slice(-lines).join('\n');
  }

  /**
   * Runs SQL on the instance's local D1 directly, as another writer of the
   * same database would (no invalidation, no event); safe while it runs.
   */
  d1(sql) {
    return run(['d1', 'execute', 'DB', '--local', '--persist-to', this.stateDir, '--command', sql], this.env());
  }

  /**
   * The keys of a KV namespace in the instance's local state, as
   * `wrangler kv key list` gives them: [{name, expiration?, metadata?}],
   * expiration in seconds since the epoch; safe while it runs.
   */
  async kvKeys(binding, { prefix } = {}) {
    const args = ['kv', 'key', 'list', '--binding', binding, '--local', '--persist-to', this.stateDir];
    if (prefix) args.push('--prefix', prefix);
    return JSON.parse(await run(args, this.env(), { stdoutOnly: true }));
  }

  /** fetch() relative to the instance. */
  fetch(path, init) { return fetch(`${this.url}${path}`, init); }
}

/** Starts an instance; stop it with dispose(). */
export async function startWorker(options) {
  return new WorkerInstance(options).start();
}
