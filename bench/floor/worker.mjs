// The runtime's floor: the least a Worker and a Durable Object can do to fan
// one event out to N SSE streams, in the shape polycache's Hub uses
// (durable_objects/src/js/streams.js and src/js/entry.mjs): the Hub keeps a
// ReadableStream per stream, hands it to the Worker over RPC, and the
// Worker returns it as its response body; an event is one shared buffer
// enqueued on every stream. No wasm, no authentication, no storage, no
// event log, no filter, no heartbeat, no renewal.
//
// Run by bench/lib/runtime-host.mjs --floor beside polycache's runtime rows,
// in the same workerd, so that the table can tell what polycache costs above
// what the runtime itself costs per stream and per event.
//   GET  /stream     an SSE stream: `retry:` and `event: hello` first
//   POST /broadcast  one app-update event (the peer's payload) with the next
//                    id; answers {ok, eventId}
//   GET  /api/status {subscribers, lastEventId}
//   GET  /api/health {ok}
import { DurableObject } from 'cloudflare:workers';

const encoder = new TextEncoder();
const HELLO = encoder.encode('retry: 2000\nevent: hello\ndata: {"lastEventId":0}\n\n');
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };

export class Hub extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.controllers = new Set();
    this.lastEventId = 0;
  }

  subscribe() {
    const controllers = this.controllers;
    let mine = null;
    return new ReadableStream({
      start(controller) {
        mine = controller;
        controllers.add(controller);
        controller.enqueue(HELLO);
      },
      cancel() { controllers.delete(mine); },
    });
  }

  broadcast() {
    const id = ++this.lastEventId;
    // The peer's event (bench/peers/better-sse.mjs), in the same SSE framing.
    const data = JSON.stringify({
      id, type: 'post', types: ['posts', 'feed'], entityId: null, action: 'update', origin: 'floor', ts: Date.now(),
    });
    const bytes = encoder.encode(`id: ${id}\nevent: app-update\ndata: ${data}\n\n`);
    for (const controller of this.controllers) {
      try { controller.enqueue(bytes); } catch { this.controllers.delete(controller); }
    }
    return id;
  }

  status() { return { subscribers: this.controllers.size, lastEventId: this.lastEventId }; }
}

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    const hub = env.HUB.get(env.HUB.idFromName('hub'));
    if (request.method === 'GET' && pathname === '/stream') {
      return new Response(await hub.subscribe(), { headers: SSE_HEADERS });
    }
    if (request.method === 'POST' && pathname === '/broadcast') {
      return Response.json({ ok: true, eventId: await hub.broadcast() });
    }
    if (request.method === 'GET' && pathname === '/api/status') return Response.json(await hub.status());
    if (request.method === 'GET' && pathname === '/api/health') return Response.json({ ok: true });
    return Response.json({ error: { code: 'not_found', message: pathname } }, { status: 404 });
  },
};
