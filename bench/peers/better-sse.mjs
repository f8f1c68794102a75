#!/usr/bin/env node
// The peer: what a user would otherwise pick, a minimal Node hub on
// better-sse (pinned in package-lock.json beside this file), one channel.
//   GET  /stream     an SSE session on the channel; opens with `retry:` and an
//                    `event: hello` like polycache's stream
//   POST /broadcast  broadcasts one `app-update` event (about 110 bytes of
//                    JSON, the shape of polycache's) with the next id, then
//                    answers {eventId}; a body {"id": ...} names the entity
//                    (the burst rows send distinct ones, as to polycache)
//   GET  /api/status {subscribers, lastEventId, streamChunks, streamEvents}:
//                    the writes of events to sessions, counted as polycache's
//                    /api/status counts its own (one per write per stream,
//                    keep-alives aside); better-sse writes every event to
//                    every session as its own chunk, so the two are equal
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
// Every push is one write (better-sse's Session.push flushes at once): the
// burst rows compare chunks per stream with polycache's count.
let streamChunks = 0;
let streamEvents = 0;
const countWrite = () => { streamChunks += 1; streamEvents += 1; };

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The request body's `id` as a string (null without one), as polycache's event carries it. */
async function entityOf(req) {
  const parts = [];
  for await (const part of req) parts.push(part);
  if (!parts.length) return null;
  try {
    const id = JSON.parse(Buffer.concat(parts).toString('utf8'))?.id;
    return id === undefined || id === null ? null : String(id);
  } catch {
    return null;
  }
}

const server = createServer(async (req, res) => {
  const path = req.url.split('?')[0];
  try {
    if (req.method === 'GET' && path === '/stream') {
      const session = await createSession(req, res, { retry: RETRY_MS });
      session.push({ lastEventId }, 'hello');
      // After the hello, which polycache does not count either (a preamble).
      session.on('push', countWrite);
      channel.register(session);
      return;
    }
    if (req.method === 'POST' && path === '/broadcast') {
      const entityId = await entityOf(req);
      const id = ++lastEventId;
      channel.broadcast({
        id, type: 'post', types: ['posts', 'feed'], entityId, action: 'update', origin: 'better-sse', ts: Date.now(),
      }, 'app-update', { eventId: String(id) });
      json(res, 200, { ok: true, eventId: id });
      return;
    }
    if (req.method === 'GET' && path === '/api/status') {
      json(res, 200, { subscribers: channel.sessionCount, lastEventId, streamChunks, streamEvents });
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
