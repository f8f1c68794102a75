// The requests that trigger events, over one keep-alive agent so that a
// connection set-up is never part of an acknowledgement's time. The send time
// is taken just before the request is written (`end()` writes head and body).
import http from 'node:http';
import { nowMs } from './clock.mjs';

// More sockets than events in a round (20): the events go out on their
// schedule even when acknowledgements are slow, never queued in the agent.
const newAgent = () => new http.Agent({ keepAlive: true, maxSockets: 32 });
let agent = newAgent();

/**
 * One request to base (http://127.0.0.1:P). Resolves with {status, headers,
 * text, json, sentAt, ackAt, ms}: sentAt just before the request is written,
 * ackAt when the whole response is in. Rejects on a network error or after
 * timeoutMs. opts: token (a bearer token), body (sent as JSON), headers
 * (more request headers, e.g. the edge tier's region header), timeoutMs.
 */
export function send(base, method, path, opts = {}) {
  return attempt(base, method, path, opts).catch((e) => {
    // A kept-alive connection that the server closed while it sat idle fails
    // as soon as it is reused, before the server saw anything: send again,
    // once, on a new connection (Node's documented remedy).
    if (e.reusedSocket && e.code === 'ECONNRESET') return attempt(base, method, path, opts);
    throw e;
  });
}

function attempt(base, method, path, { token, body, headers: extra = {}, timeoutMs = 30_000 } = {}) {
  const url = new URL(path, base);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers = { ...extra };
  if (payload) { headers['content-type'] = 'application/json'; headers['content-length'] = payload.length; }
  if (token) headers.authorization = `Bearer ${token}`;
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers, timeout: timeoutMs }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => {
        const ackAt = nowMs();
        const text = Buffer.concat(parts).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json, sentAt, ackAt, ms: ackAt - sentAt });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => reject(Object.assign(e, { reusedSocket: req.reusedSocket })));
    const sentAt = nowMs();
    req.end(payload);
  });
}

/** Closes the agent's connections (at the end of a run). */
export function closeAgent() {
  agent.destroy();
}

/**
 * Starts over with new connections: called whenever a system stops, so that
 * a kept-alive connection to a stopped server is never reused for the next
 * one (free ports come round again).
 */
export function resetAgent() {
  agent.destroy();
  agent = newAgent();
}
