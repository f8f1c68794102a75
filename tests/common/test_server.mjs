// A small HTTP server for tests that stand in for a mirror (or a proxy in
// front of one) on 127.0.0.1: it records every request and answers it with
// a handler of the test.
import { createServer } from 'node:http';
import { freePort } from './harness.mjs';
import { waitUntil } from './api.mjs';

/**
 * An HTTP server of a test on 127.0.0.1 that stands in for a mirror:
 * `handle(req, body, res, record)` answers each request after its body is
 * read. Every request is recorded (method, path, headers, body, when it
 * came, and `closedAt`: when its connection closed, by either side).
 */
export class TestServer {
  constructor(name, handle) {
    this.name = name;
    this.handle = handle;
    this.requests = [];
    this.server = null;
    this.port = null;
  }

  get url() { return `http://127.0.0.1:${this.port}`; }

  /** Listens on its port (a free one the first time, the same one again after stop()). */
  async start() {
    this.port ??= await freePort();
    this.server = createServer(async (req, res) => {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const body = Buffer.concat(chunks).toString('utf8');
      const record = { method: req.method, path: req.url, headers: req.headers, at: Date.now(), body, closedAt: null };
      // One listener per connection (keep-alive carries many requests).
      const socket = req.socket;
      if (!socket.testRecords) {
        socket.testRecords = [];
        socket.once('close', () => {
          for (const r of socket.testRecords) r.closedAt ??= Date.now();
        });
      }
      socket.testRecords.push(record);
      this.requests.push(record);
      try {
        await this.handle(req, body, res, record);
      } catch (e) {
        if (!res.headersSent) {
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'bad_gateway', message: `${this.name}: ${e.message}` } }));
        }
      }
    });
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', resolve);
    });
    return this;
  }

  /** Stops listening and drops every open connection: the port refuses from now on. */
  async stop() {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  /**
   * Waits until every request so far has been answered (a proxy records
   * the status when the target's answer is in, which can be after the
   * target's stream already carried the event).
   */
  settled() {
    return waitUntil(() => this.requests.every((r) => r.status !== undefined), { what: `${this.name}: every request answered`, timeoutMs: 10_000, intervalMs: 20 });
  }

  logins(from = 0) { return this.requests.slice(from).filter((r) => r.path === '/api/auth/login'); }
  invalidations(from = 0) { return this.requests.slice(from).filter((r) => r.path === '/api/cache/invalidate'); }
  /** method, path and status of the requests from index `from`, for assertion messages. */
  describe(from = 0) { return this.requests.slice(from).map((r) => `${r.path} ${r.status ?? '-'}`).join(', '); }
}

/**
 * A proxy to `target()` that forwards method, path, content-type,
 * authorization and body, and answers with the target's status and body
 * (recorded as `status`). `tokenLifetimeMs`, when set, replaces the
 * `expiresAt` of a successful login answer with now + that. `down`, when
 * true, answers 503 to everything without forwarding: the receiver is down
 * (its streams stay open).
 */
export function proxyTo(target) {
  const proxy = new TestServer('proxy', async (req, body, res, record) => {
    if (record.path === '/api/auth/login') record.email = JSON.parse(body || '{}').email;
    if (proxy.down) {
      record.status = 503;
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'unavailable', message: 'the proxy is down' } }));
      return;
    }
    const headers = {};
    for (const h of ['content-type', 'authorization']) if (req.headers[h]) headers[h] = req.headers[h];
    const up = await fetch(`${target()}${req.url}`, {
      method: req.method, headers, body: body || undefined, signal: AbortSignal.timeout(8_000),
    });
    let text = await up.text();
    record.status = up.status;
    if (record.path === '/api/auth/login' && up.status === 200 && proxy.tokenLifetimeMs) {
      const answer = JSON.parse(text);
      record.expiresAt = Date.now() + proxy.tokenLifetimeMs;
      text = JSON.stringify({ ...answer, expiresAt: record.expiresAt });
    }
    res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' });
    res.end(text);
  });
  proxy.tokenLifetimeMs = null;
  proxy.down = false;
  return proxy;
}
