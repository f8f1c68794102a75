// The Worker's entry module: the Rust Worker and its Durable Objects (the
// Hub and the Edges) as worker-build generated them (build/index.js), each
// wrapped in a class that extends DurableObject so that it can be called
// over RPC.
//
// Why RPC: an SSE stream is an Edge's `subscribe` answering a Response whose
// body streams from the Edge; the Worker returns that body as its own, and
// the runtime pipes it without running any JavaScript per event. A stream
// fetched with `stub.fetch` would do the same but, under the
// `wrangler dev` command, its inspector turns every chunk of a subrequest's
// response into a debugging event (seconds at p99 for 1,000 streams); an
// RPC stream is not a subrequest and is not tracked (README, "Performance").
//
// Copied to build/entry.mjs by scripts/build.sh, beside index.js.
import { DurableObject } from 'cloudflare:workers';
import worker, { Edge as RustEdge, Hub as RustHub } from './index.js';

export default worker;

/**
 * A Rust Durable Object (worker-build's class) behind a class that extends
 * DurableObject, so that the Worker can call `subscribe` and `unsubscribe`
 * over RPC; `fetch` and `alarm` go to the Rust object as they are.
 */
function rpcObject(RustClass, host) {
  return class extends DurableObject {
    constructor(ctx, env) {
      super(ctx, env);
      this.rust = new RustClass(ctx, env);
    }

    fetch(request) {
      return this.rust.fetch(request);
    }

    alarm() {
      return this.rust.alarm();
    }

    /**
     * Opens an SSE stream: `url` is the object's `/stream?lastEventId=N&types=a,b`,
     * `name` its name (`edge:<region>:<shard>`), sent as the Worker's other
     * requests send it, in `x-polycache-edge`, and `client` the client's
     * address key, in `x-polycache-client` (for the limit per address).
     * Answers `{status, body, id}`: 200 with the stream (a ReadableStream)
     * and its id for `unsubscribe`, or the object's error status with its
     * JSON text and `retryAfter`. A body alone crosses RPC more cheaply than a whole Response.
     */
    async subscribe(url, name, client) {
      const headers = { 'x-polycache-client': String(client ?? '') };
      if (name) headers['x-polycache-edge'] = String(name);
      const res = await this.rust.fetch(new Request(url, { headers }));
      if (res.status !== 200) {
        return { status: res.status, body: await res.text(), retryAfter: res.headers.get('retry-after') };
      }
      const id = Number(res.headers.get('x-stream-id'));
      return { status: 200, body: res.body, id };
    }

    /**
     * Forgets the stream with this id: its client went away. A cancel of
     * the stream does not travel back over RPC, so the Worker says so.
     */
    async unsubscribe(id) {
      const res = await this.rust.fetch(new Request(`https://${host}/stream/close?id=${Number(id)}`, { method: 'POST' }));
      return res.ok;
    }
  };
}

/** The Hub: writes, leases of the Edges, the mirror outbox. */
export const Hub = rpcObject(RustHub, 'hub');
/** An Edge: a region's reads and streams. */
export const Edge = rpcObject(RustEdge, 'edge');
