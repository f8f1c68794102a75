#!/usr/bin/env node
// A stand-in for Upstash Redis's REST API over a real redis-server, for the
// tests and for `CACHE_BACKEND=upstash make dev`. It implements the protocol
// as Upstash documents it (https://upstash.com/docs/redis/features/restapi):
//
//   POST /               body ["CMD", "arg", ...]          -> {"result": r} | 400 {"error": e}
//   POST /pipeline       body [["CMD", ...], ...]          -> [{"result"}|{"error"}, ...]
//   POST /multi-exec     body [["CMD", ...], ...]          -> the same, atomically (MULTI/EXEC);
//                                                             a discarded transaction -> 400 {"error"}
//   GET|POST /cmd/arg/.. path segments are the command; a POST body is its last argument
//   Authorization: Bearer <token> (or ?_token=): anything else -> 401 {"error":"Unauthorized"}
//   upstash-sync-token: every response carries one (increasing); a request's is accepted
//   Upstash-Encoding: base64: strings in results base64-encoded, except "OK"
//
// EVAL, EVALSHA and SCRIPT LOAD are ordinary commands, passed through. When
// redis-server is unreachable the shim answers 500 {"error"}, as a broken
// proxy would.
//
// Usage: node tests/upstash-shim/server.mjs --token T [--port 8079] [--host 127.0.0.1]
//          (--redis-port 6379 | --spawn-redis DIR)
// --spawn-redis starts its own redis-server (persisting nothing) on a free
// port, with its files in DIR, and stops it when the shim stops. The shim
// prints "upstash-shim listening on http://HOST:PORT" once it accepts requests.
// GET /__shim/stats (with the token) answers counters for tests.
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { RespConnection, RedisError } from './resp.mjs';

const MAX_BODY = 10 * 1024 * 1024; // Upstash's largest request on paid plans

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '8079' },
    host: { type: 'string', default: '127.0.0.1' },
    token: { type: 'string' },
    'redis-port': { type: 'string' },
    'spawn-redis': { type: 'string' },
  },
});
if (!opts.token) {
  process.stderr.write('upstash-shim: --token is required\n');
  process.exit(2);
}

let redisProcess = null;
let stopping = false;
async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

let redisPort = Number(opts['redis-port'] ?? 0);
if (opts['spawn-redis']) {
  redisPort = await freePort();
  redisProcess = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1',
    '--save', '', '--appendonly', 'no', '--dir', opts['spawn-redis']], { stdio: 'ignore' });
  redisProcess.on('exit', (code) => { if (!stopping) process.stderr.write(`upstash-shim: redis-server exited ${code}\n`); });
}
if (!redisPort) {
  process.stderr.write('upstash-shim: --redis-port or --spawn-redis is required\n');
  process.exit(2);
}

const redis = new RespConnection({ port: redisPort });
if (redisProcess) {
  // Wait (bounded) for the redis-server we started.
  const deadline = Date.now() + 10_000;
  for (;;) {
    try { await redis.call('PING'); break; } catch (e) {
      if (Date.now() > deadline) { process.stderr.write(`upstash-shim: redis-server did not start: ${e.message}\n`); process.exit(1); }
      await sleep(50);
    }
  }
}

let syncCounter = 0;
const stats = { requests: 0, unauthorized: 0, single: 0, pipeline: 0, multiExec: 0, syncTokensReceived: 0, commands: {} };

const toResult = (reply, base64) => {
  if (reply instanceof RedisError) return { error: reply.message };
  return { result: encodeResult(reply, base64) };
};
function encodeResult(value, base64) {
  if (!base64) return value;
  if (Array.isArray(value)) return value.map((v) => encodeResult(v, true));
  if (typeof value === 'string' && value !== 'OK') return Buffer.from(value, 'utf8').toString('base64');
  return value;
}

function validCommand(cmd) {
  return Array.isArray(cmd) && cmd.length > 0
    && cmd.every((a) => typeof a === 'string' || typeof a === 'number' || typeof a === 'boolean');
}

function count(cmd) {
  const name = String(cmd[0]).toUpperCase();
  stats.commands[name] = (stats.commands[name] ?? 0) + 1;
}

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'upstash-sync-token': `shim-${++syncCounter}`,
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) { reject(new Error('ERR max request size exceeded')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function handle(req, res) {
  stats.requests++;
  const url = new URL(req.url, 'http://shim');
  const auth = req.headers.authorization ?? '';
  const token = auth.startsWith('Bearer ') ? auth.slice(7) : url.searchParams.get('_token');
  if (token !== opts.token) {
    stats.unauthorized++;
    await readBody(req).catch(() => {});
    return send(res, 401, { error: 'Unauthorized' });
  }
  if (!['GET', 'HEAD', 'POST', 'PUT'].includes(req.method)) return send(res, 405, { error: 'Method Not Allowed' });
  if (req.headers['upstash-sync-token']) stats.syncTokensReceived++;
  const base64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64';
  let text;
  try { text = await readBody(req); } catch (e) { return send(res, 400, { error: e.message }); }
  const path = url.pathname.replace(/\/+$/, '');

  if (path === '/__shim/stats') return send(res, 200, stats);

  let parsed;
  if (path === '' || path === '/pipeline' || path === '/multi-exec') {
    try { parsed = JSON.parse(text); } catch { return send(res, 400, { error: 'ERR failed to parse command' }); }
  }
  try {
    if (path === '/pipeline' || path === '/multi-exec') {
      if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every(validCommand)) {
        return send(res, 400, { error: 'ERR failed to parse pipeline request' });
      }
      parsed.forEach(count);
      if (path === '/pipeline') {
        stats.pipeline++;
        const replies = await redis.send(parsed);
        return send(res, 200, replies.map((r) => toResult(r, base64)));
      }
      stats.multiExec++;
      const replies = await redis.send([['MULTI'], ...parsed, ['EXEC']]);
      const exec = replies.at(-1);
      if (exec instanceof RedisError || exec === null) {
        const queued = replies.slice(1, -1).find((r) => r instanceof RedisError);
        return send(res, 400, { error: (queued ?? exec)?.message ?? 'ERR transaction discarded' });
      }
      return send(res, 200, exec.map((r) => toResult(r, base64)));
    }
    let command = parsed;
    if (path !== '') {
      command = path.split('/').slice(1).map(decodeURIComponent);
      if (text.length > 0) command.push(text);
      for (const [k, v] of url.searchParams) if (k !== '_token') command.push(k, v);
    }
    if (!validCommand(command)) return send(res, 400, { error: 'ERR failed to parse command' });
    stats.single++;
    count(command);
    const [reply] = await redis.send([command]);
    const out = toResult(reply, base64);
    return send(res, out.error ? 400 : 200, out);
  } catch (e) {
    return send(res, 500, { error: `ERR redis unavailable: ${e.message}` });
  }
}

const server = createServer((req, res) => {
  handle(req, res).catch((e) => {
    if (!res.headersSent) send(res, 500, { error: `ERR ${e.message}` });
  });
});
server.keepAliveTimeout = 5_000;

function stop() {
  if (stopping) return;
  stopping = true;
  server.close();
  server.closeAllConnections?.();
  redis.close();
  if (redisProcess) redisProcess.kill('SIGTERM');
  // Give redis-server a moment to exit with us; never hang.
  setTimeout(() => process.exit(0), 200).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

server.listen(Number(opts.port), opts.host, () => {
  const { port } = server.address();
  process.stdout.write(`upstash-shim listening on http://${opts.host}:${port}\n`);
});
