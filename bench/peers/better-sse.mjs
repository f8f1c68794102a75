#!/usr/bin/env node
// The peer: what a user would otherwise pick, a minimal Node hub on
// better-sse (pinned in package-lock.json beside this file), one channel.
//   GET  /stream     an SSE session on the channel; opens with `retry:` and an
//                    `event: hello` like polycache's stream
//   POST /broadcast  broadcasts one `app-update` event (about 110 bytes of
//                    JSON, the shape of polycache's) with the next id, then
//                    answers {eventId}
//   GET  /api/status {subscribers, lastEventId}
//   GET  /api/health {ok}
// Everything else is better-sse's defaults (keep-alive comment every 10 s),
// as a user would run it.
//   node bench/peers/better-sse.mjs --port P
// prints one JSON line {"ready": url, "pid": pid} once listening.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { createChannel, createSession } from 'better-sse';

const { values: args } = parseArgs({ options: { port: { type: 'string', default: '0' } } });

// polycache's `retry:` (crates/core/src/sse.rs, RETRY_MS).
const RETRY_MS = 2000;
const channel = createChannel();
let lastEventId = 0;

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = createServer(async (req, res) => {
  const path = req.url.split('?')[0];
  try {
    if (req.method === 'GET' && path === '/stream') {
      const session = await createSession(req, res, { retry: RETRY_MS });
      session.push({ lastEventId }, 'hello');
      channel.register(session);
      return;
    }
    if (req.method === 'POST' && path === '/broadcast') {
      for await (const _ of req) { /* drain the body */ }
      const id = ++lastEventId;
      channel.broadcast({
        id, type: 'post', types: ['posts', 'feed'], entityId: null, action: 'update', origin: 'better-sse', ts: Date.now(),
      }, 'app-update', { eventId: String(id) });
      json(res, 200, { ok: true, eventId: id });
      return;
    }
    if (req.method === 'GET' && path === '/api/status') {
      json(res, 200, { subscribers: channel.sessionCount, lastEventId });
      return;
    }
    if (req.method === 'GET' && path === '/api/health') {
      json(res, 200, { ok: true });
      return;
    }
    json(res, 404, { error: { code: 'not_found', message: path } });
  } catch (e) {
    if (!res.headersSent) json(res, 500, { error: { code: 'internal', message: String(e) } });
  }
});
// Streams stay open for the whole run; Node's default request timeout
// (300 s) only bounds reading a request, but say so for the idle ones too.
server.requestTimeout = 0;
server.timeout = 0;
server.listen({ port: Number(args.port), host: '127.0.0.1', backlog: 4096 }, () => {
  const { port } = server.address();
  process.stdout.write(`${JSON.stringify({ ready: `http://127.0.0.1:${port}`, pid: process.pid })}\n`);
});
const stop = () => { server.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
