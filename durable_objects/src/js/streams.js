// An object's streams, in JavaScript on purpose: the fan-out runs once per
// event for every open stream, and doing it here costs no wasm-to-JS
// crossing and no wrapper object per stream.
//
// Each SSE stream is a ReadableStream whose controller the Hub keeps; the
// stream is returned to the Worker over RPC (`Hub.subscribe`,
// src/js/entry.mjs) and becomes the Worker's response body as it is, so an
// event costs the Hub one enqueue of one shared buffer per stream and the
// Worker no JavaScript at all. (Measured against a WebSocket per stream
// relayed by the Worker, and against an IdentityTransformStream per stream,
// which cost about 60 KiB more per stream: README, "Performance".)
//
// Policies, with their numbers from the Hub's configuration:
// - heartbeat: ": ping" to every stream every heartbeatMs, from one timer.
//   workerd only notices a gone client when a write to it fails; then the
//   Worker's request signal aborts and the Worker calls `Hub.unsubscribe`
//   with the stream's id (a cancel does not travel back over RPC: measured,
//   the stream just stops being read).
// - slow client: at most queueLimit chunks may wait in a stream's queue;
//   past that it is cut (the client resumes with Last-Event-ID) rather than
//   letting memory grow.
// - renewal: after maxWrites writes (each stream at a random count between
//   half of that and that, so that streams opened together do not all come
//   back at once) the Hub ends the stream with `event: renew` and a short
//   `retry:`, and the client reconnects with Last-Event-ID, missing
//   nothing. Why: workerd pumps a JavaScript stream into RPC with a promise
//   chain that grows by two promises and two reactions, about 96 bytes, per
//   chunk and is only freed when the stream ends (heap snapshots,
//   bench/heap-probe.mjs: about 330,000 promises kept after 160 events on
//   1,000 streams, none once they closed). A stream that never
//   ended would grow the Hub's heap until the runtime reset it. A native
//   IdentityTransformStream has no such chain but costs about 68 KiB more
//   per open stream (README, "Performance").
const encoder = new TextEncoder();
const PING = encoder.encode(': ping\n\n');
/**
 * Written last on a renewed stream: `renew` tells clients that this end is
 * not a cut (the TypeScript client keeps its status open), and the short
 * retry brings them back soon rather than after the usual 2 s. 250 ms: the
 * events of that moment wait at most that long (they are replayed on
 * reconnect), and streams renewed at the same event (they get random write
 * counts, so a few at a time) do not come back in the same millisecond.
 */
const RENEW = encoder.encode('retry: 250\nevent: renew\ndata: {}\n\n');

/**
 * The streams of one object. Everything a stream needs (the registry, the
 * heartbeat timer, the settings) hangs off the instance, never off this
 * module: module state is shared by every object in an isolate, and an
 * isolate may run several objects (wrangler dev runs all of them in one).
 */
export class StreamRegistry {
  constructor() {
    /** tag -> Set of streams; a stream: {id, controller, tag, left, queueLimit}. */
    this.byTag = new Map();
    /** id -> stream, for `close`. */
    this.byId = new Map();
    this.nextId = 0;
    this.timer = null;
    this.timerMs = 0;
  }

  /** How many streams are open. */
  get count() {
    return this.byId.size;
  }

  /**
   * Opens a stream with this filter tag whose first bytes are `preamble`
   * (a view into wasm memory, copied here); returns `{id, body}`. The
   * settings are the object's configuration: a stream keeps its queue
   * limit and write budget; the one heartbeat timer takes the newest
   * period.
   */
  open(tag, preamble, heartbeatMs, queueLimit, maxWrites) {
    this.nextId += 1;
    const half = Math.ceil(maxWrites / 2);
    // The preamble is the first write; every stream carries at least one more.
    const left = Math.max(1, half + Math.floor(Math.random() * (maxWrites - half + 1)) - 1);
    const stream = { id: this.nextId, controller: null, tag, left, queueLimit };
    const body = new ReadableStream({
      start(controller) {
        stream.controller = controller;
        controller.enqueue(preamble.slice());
      },
      cancel: () => {
        this.remove(stream);
      },
    });
    let set = this.byTag.get(tag);
    if (!set) this.byTag.set(tag, (set = new Set()));
    set.add(stream);
    this.byId.set(stream.id, stream);
    if (this.timer === null || this.timerMs !== heartbeatMs) {
      if (this.timer !== null) clearInterval(this.timer);
      this.timerMs = heartbeatMs;
      this.timer = setInterval(() => this.beat(), heartbeatMs);
    }
    return { id: stream.id, body };
  }

  /** Forgets the stream with this id (its client went away) and closes it. */
  close(id) {
    const stream = this.byId.get(id);
    if (!stream) return false;
    this.remove(stream);
    try { stream.controller.close(); } catch { /* already closed */ }
    return true;
  }

  /**
   * Enqueues `bytes` (a view into wasm memory, copied once here into one
   * buffer shared by every stream) on every stream with one of `tags`;
   * returns on how many.
   */
  broadcast(tags, bytes) {
    const shared = bytes.slice();
    let sent = 0;
    for (const tag of tags) {
      const set = this.byTag.get(tag);
      if (!set) continue;
      for (const stream of set) if (this.push(stream, shared)) sent += 1;
    }
    return sent;
  }

  /** Whether any open stream has this tag. */
  hasTag(tag) {
    return this.byTag.has(tag);
  }

  remove(stream) {
    const set = this.byTag.get(stream.tag);
    if (!set || !set.delete(stream)) return;
    this.byId.delete(stream.id);
    if (set.size === 0) this.byTag.delete(stream.tag);
    if (this.byId.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  push(stream, bytes) {
    const { controller } = stream;
    if (controller.desiredSize !== null && controller.desiredSize < -stream.queueLimit) {
      this.remove(stream);
      try { controller.error(new Error('slow client: queue limit reached')); } catch { /* closed */ }
      return false;
    }
    try {
      controller.enqueue(bytes);
    } catch {
      this.remove(stream);
      return false;
    }
    stream.left -= 1;
    if (stream.left <= 0) {
      this.remove(stream);
      try {
        controller.enqueue(RENEW);
        controller.close();
      } catch { /* already closed */ }
    }
    return true;
  }

  beat() {
    for (const set of this.byTag.values()) {
      for (const stream of set) this.push(stream, PING);
    }
  }
}
