// The relay of one SSE stream: messages from the stream's WebSocket to the
// Hub go into the response body as they are, with a heartbeat written here.
//
// Written in JavaScript on purpose: it runs for every event on every stream,
// and staying in JS avoids a JS-to-wasm crossing and a copy per chunk
// (DESIGN.md, "How to serve the streams": a subscriber set in a small JS
// module enqueueing one shared Uint8Array was the cheapest per event).
//
// Policies, with their numbers set by the Worker:
// - heartbeat: ": ping" every heartbeatMs. workerd only notices a gone client
//   when a write fails, so without it closed streams would leak.
// - slow client: at most queueLimit chunks wait in the response's queue;
//   past that the stream is cut (the client resumes with Last-Event-ID)
//   rather than letting memory grow.
// - cleanup: a client that goes away (abort signal, cancel, failed write)
//   closes the socket at once, so the Hub forgets the stream.
const PING = new TextEncoder().encode(': ping\n\n');

export function relayStream(ws, preamble, heartbeatMs, queueLimit, signal) {
  const encoder = new TextEncoder();
  let controller = null;
  let timer = null;
  let done = false;

  const finish = (error) => {
    if (done) return;
    done = true;
    if (timer !== null) clearInterval(timer);
    try { ws.close(1000, 'stream closed'); } catch { /* already closed */ }
    try {
      if (error) controller.error(error); else controller.close();
    } catch { /* already closed or cancelled */ }
  };

  const push = (chunk) => {
    if (done) return;
    if (controller.desiredSize !== null && controller.desiredSize < -queueLimit) {
      finish(new Error('slow client: queue limit reached'));
      return;
    }
    try { controller.enqueue(chunk); } catch { finish(); }
  };

  return new ReadableStream({
    start(c) {
      controller = c;
      if (preamble) c.enqueue(encoder.encode(preamble));
      ws.addEventListener('message', (event) => {
        const data = event.data;
        push(typeof data === 'string' ? encoder.encode(data) : new Uint8Array(data));
      });
      ws.addEventListener('close', () => finish());
      ws.addEventListener('error', () => finish());
      // Binary frames arrive as Blobs unless asked otherwise, and a Blob
      // cannot be enqueued synchronously.
      ws.binaryType = 'arraybuffer';
      ws.accept();
      timer = setInterval(() => push(PING), heartbeatMs);
      if (signal) {
        if (signal.aborted) finish();
        else signal.addEventListener('abort', () => finish(), { once: true });
      }
    },
    cancel() { finish(); },
  });
}
