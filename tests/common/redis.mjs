// redis-server and the Upstash REST shim (tests/upstash-shim/) for the
// tests: each started on a free port of 127.0.0.1 by the test that needs
// it, and stopped by its pid (never by name). redis-server persists nothing
// and keeps its files in a temporary directory.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, ROOT } from './harness.mjs';
import { RespConnection } from '../upstash-shim/resp.mjs';

const SHIM = join(ROOT, 'tests', 'upstash-shim', 'server.mjs');

/** Stops a child process: SIGTERM, SIGKILL after 5 s; resolves when it is gone. */
async function stopChild(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** A redis-server on a free port. Its `client` runs commands: `await redis.client.call('GET', 'k')`. */
export class RedisServer {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'polycache-redis-'));
    this.child = null;
    this.port = null;
    this.client = null;
    this.output = '';
  }

  async start() {
    this.port = await freePort();
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1',
      '--save', '', '--appendonly', 'no', '--dir', this.dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d) => { this.output = (this.output + d).slice(-5_000); };
    this.child.stdout.on('data', keep);
    this.child.stderr.on('data', keep);
    let exited = null;
    this.child.once('exit', (code) => { exited = code; });
    this.child.once('error', (e) => {
      exited = `with ${e.code ?? e.message} (is Debian's redis-server package installed? scripts/bootstrap.sh installs it)`;
    });
    this.client = new RespConnection({ port: this.port });
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (exited !== null) throw new Error(`redis-server exited ${exited}:\n${this.output}`);
      try {
        if (await this.client.call('PING') === 'PONG') return this;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) { await this.stop(); throw new Error(`redis-server did not start within 15 s:\n${this.output}`); }
      await sleep(50);
    }
  }

  async stop() {
    this.client?.close();
    await stopChild(this.child);
    this.child = null;
  }

  async dispose() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The Upstash REST shim in front of a redis-server, on a fixed free port so that it can be restarted in place. */
export class UpstashShim {
  constructor({ redisPort, token = 'test-upstash-token-0123456789' }) {
    this.redisPort = redisPort;
    this.token = token;
    this.port = null;
    this.child = null;
    this.output = '';
  }

  get url() { return `http://127.0.0.1:${this.port}`; }

  /** Starts (or restarts on the same port), optionally accepting another token. */
  async start({ token } = {}) {
    if (token) this.token = token;
    this.port ??= await freePort();
    this.output = '';
    this.child = spawn(process.execPath, [SHIM, '--port', String(this.port), '--token', this.token,
      '--redis-port', String(this.redisPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d) => { this.output = (this.output + d).slice(-5_000); };
    this.child.stdout.on('data', keep);
    this.child.stderr.on('data', keep);
    let exited = null;
    this.child.once('exit', (code) => { exited = code; });
    const deadline = Date.now() + 15_000;
    while (!this.output.includes('listening on')) {
      if (exited !== null) throw new Error(`upstash shim exited ${exited}:\n${this.output}`);
      if (Date.now() > deadline) { await this.stop(); throw new Error(`upstash shim did not start within 15 s:\n${this.output}`); }
      await sleep(20);
    }
    return this;
  }

  async stop() {
    await stopChild(this.child);
    this.child = null;
  }

  /** One request to the shim: POST `body` (JSON) to `path`, with this token unless told otherwise. */
  async post(path, body, { token = this.token, headers = {} } = {}) {
    const res = await fetch(`${this.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, headers: res.headers, json, text };
  }

  /** GET /__shim/stats. */
  async stats() {
    const res = await fetch(`${this.url}/__shim/stats`, {
      headers: { authorization: `Bearer ${this.token}` }, signal: AbortSignal.timeout(10_000),
    });
    return res.json();
  }
}

/** Starts redis-server and a shim in front of it; dispose() stops both. */
export async function startUpstash(options = {}) {
  const redis = await new RedisServer().start();
  try {
    const shim = await new UpstashShim({ redisPort: redis.port, ...options }).start();
    return {
      redis,
      shim,
      /** The vars that point a Worker at this shim. */
      vars: () => ({ UPSTASH_REDIS_REST_URL: shim.url, UPSTASH_REDIS_REST_TOKEN: shim.token }),
      async dispose() { await shim.stop(); await redis.dispose(); },
    };
  } catch (e) {
    await redis.dispose();
    throw e;
  }
}
