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
// - slow client: at most queueBytes bytes may wait in a stream's queue
//   (a byte-length queuing strategy); past that it is cut (the client
//   resumes with Last-Event-ID) rather than letting memory grow. Bytes, not
//   chunks: one chunk may carry a burst of events.
// - coalescing: workerd pays a promise continuation and an I/O context
//   entry per chunk per stream (measured at 39-45 us of CPU per delivered
//   chunk, README "Performance"), whatever the chunk's size, so events that
//   arrive within coalesceMs of the first one pending go to each stream as
//   one chunk, each event still with its own id, event and data lines, in
//   order. A burst of 50 invalidations then costs each stream one write,
//   not 50; a lone event waits at most coalesceMs. 0 sends every event at
//   once as its own chunk. Pending chunks are bounded (MAX_PENDING_BYTES),
//   and are sent before a stream opens (its replay already has them) and
//   before a reset.
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
 * Bytes of events that may wait for the coalescing window before they are
 * sent at once: 64 KiB, a few hundred events, so that a burst's chunk
 * stays one read for the client and the wait holds little memory.
 */
export const MAX_PENDING_BYTES = 64 * 1024;

/**
 * The streams of one object. Everything a stream needs (the registry, the
 * heartbeat timer, the settings) hangs off the instance, never off this
 * module: module state is shared by every object in an isolate, and an
 * isolate may run several objects (wrangler dev runs all of them in one).
 */
export class StreamRegistry {
  constructor() {
    /** tag -> Set of streams; a stream: {id, controller, tag, addr, left, queueBytes}. */
    this.byTag = new Map();
    /** id -> stream, for `close`. */
    this.byId = new Map();
    /** client address -> its open streams, for the limit per address. */
    this.byAddr = new Map();
    this.nextId = 0;
    this.timer = null;
    this.timerMs = 0;
    /** tag -> {parts, events, bytes}: events waiting for the coalescing window. */
    this.pending = new Map();
    this.pendingBytes = 0;
    this.flushTimer = null;
    this.coalesceMs = 0;
    /** Chunks of events written to streams, and events in them, summed over streams. */
    this.chunks = 0;
    this.events = 0;
  }

  /** How many streams are open. */
  get count() {
    return this.byId.size;
  }

  /** How many streams this client address holds open. */
  countFor(addr) {
    return this.byAddr.get(addr) ?? 0;
  }

  /** `[chunks, events]` written to streams so far (heartbeats and preambles aside). */
  get stats() {
    return [this.chunks, this.events];
  }

  /**
   * Opens a stream with this filter tag whose first bytes are `preamble`
   * (a view into wasm memory, copied here) for the client at `addr`;
   * returns `{id, body}`. The settings are the object's configuration: a
   * stream keeps its queue bound and write budget; the one heartbeat timer
   * takes the newest period, and the coalescing window the newest
   * `coalesceMs`. Events still waiting for the coalescing
   * window go out first, to the streams open before this one: the
   * preamble's replay already has them.
   */
  open(tag, addr, preamble, heartbeatMs, queueBytes, maxWrites, coalesceMs) {
    this.flush();
    this.coalesceMs = coalesceMs;
    this.nextId += 1;
    const half = Math.ceil(maxWrites / 2);
    // The preamble is the first write; every stream carries at least one more.
    const left = Math.max(1, half + Math.floor(Math.random() * (maxWrites - half + 1)) - 1);
    const stream = { id: this.nextId, controller: null, tag, addr, left, queueBytes };
    // Bytes queued count against the bound, and nothing is wanted ahead:
    // desiredSize is then minus the bytes the client has not read yet.
    const strategy = { highWaterMark: 0, size: (chunk) => chunk.byteLength };
    const body = new ReadableStream({
      start(controller) {
        stream.controller = controller;
        controller.enqueue(preamble.slice());
      },
      cancel: () => {
        this.remove(stream);
      },
    }, strategy);
    let set = this.byTag.get(tag);
    if (!set) this.byTag.set(tag, (set = new Set()));
    set.add(stream);
    this.byId.set(stream.id, stream);
    this.byAddr.set(addr, this.countFor(addr) + 1);
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
   * buffer shared by every stream) on every stream with one of `tags` at
   * once, after whatever events are pending; returns on how many. For
   * frames that are not events (a reset).
   */
  broadcast(tags, bytes) {
    this.flush();
    return this.send(tags, bytes.slice(), 0);
  }

  /**
   * One event's frame (`bytes`, a view into wasm memory) for the streams
   * with one of `tags`: sent at once when the window is 0, else kept until
   * the window has passed since the first event pending (or until
   * MAX_PENDING_BYTES wait), then sent to each stream as one chunk with
   * the other events pending for its tag, in the order they came.
   */
  publish(tags, bytes) {
    const { coalesceMs } = this;
    if (coalesceMs <= 0) {
      this.flush();
      this.send(tags, bytes.slice(), 1);
      return;
    }
    const frame = bytes.slice();
    for (const tag of tags) {
      if (!this.byTag.has(tag)) continue;
      let waiting = this.pending.get(tag);
      if (!waiting) this.pending.set(tag, (waiting = { parts: [], events: 0, bytes: 0 }));
      waiting.parts.push(frame);
      waiting.events += 1;
      waiting.bytes += frame.byteLength;
      this.pendingBytes += frame.byteLength;
    }
    if (this.pendingBytes >= MAX_PENDING_BYTES) this.flush();
    else if (this.flushTimer === null && this.pending.size > 0) {
      this.flushTimer = setTimeout(() => this.flush(), coalesceMs);
    }
  }

  /** Sends every pending event now, one chunk per tag. */
  flush() {
    if (this.flushTimer !== null) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (this.pending.size === 0) return;
    const pending = this.pending;
    this.pending = new Map();
    this.pendingBytes = 0;
    for (const [tag, { parts, events }] of pending) {
      this.send([tag], concat(parts), events);
    }
  }

  /** Enqueues `chunk`, holding `events` events, on every stream with one of `tags`. */
  send(tags, chunk, events) {
    let sent = 0;
    for (const tag of tags) {
      const set = this.byTag.get(tag);
      if (!set) continue;
      for (const stream of set) if (this.push(stream, chunk)) sent += 1;
    }
    if (events > 0) {
      this.chunks += sent;
      this.events += sent * events;
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
    const left = this.countFor(stream.addr) - 1;
    if (left > 0) this.byAddr.set(stream.addr, left);
    else this.byAddr.delete(stream.addr);
    if (set.size === 0) {
      this.byTag.delete(stream.tag);
      this.pendingBytes -= this.pending.get(stream.tag)?.bytes ?? 0;
      this.pending.delete(stream.tag);
    }
    if (this.byId.size === 0) {
      if (this.timer !== null) clearInterval(this.timer);
      this.timer = null;
      if (this.flushTimer !== null) clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
  }

  push(stream, bytes) {
    const { controller } = stream;
    if (controller.desiredSize !== null && -controller.desiredSize + bytes.byteLength > stream.queueBytes) {
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

/** The parts as one buffer (the one copy a coalesced chunk costs). */
function concat(parts) {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}
