// Opens a stream on an Edge over RPC (src/js/entry.mjs, Edge.subscribe):
// workers-rs has no binding for a Durable Object's RPC methods. Answers a
// Response: the stream, or the Edge's JSON error with its status (and its
// retry-after, when it refuses a stream past its limits).
//
// When the client goes away (the request's signal aborts, which with the
// enable_request_signal flag happens at the first failed write, that is
// within one heartbeat), the Hub is told to forget the stream: a cancel of
// the response body does not travel back to the Hub over RPC.
export async function subscribe(stub, url, name, client, signal, ctx) {
  const { status, body, id, retryAfter } = await stub.subscribe(url, name, client);
  if (status === 200 && signal) {
    const gone = () => ctx.waitUntil(stub.unsubscribe(id).catch(() => {}));
    if (signal.aborted) gone();
    else signal.addEventListener('abort', gone, { once: true });
  }
  const headers = retryAfter ? { 'retry-after': retryAfter } : {};
  return new Response(body, { status, headers });
}
