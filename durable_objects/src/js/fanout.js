// The Hub's fan-out loop, in JavaScript on purpose: it runs once per event
// for every open stream, and doing it here costs no wasm-to-JS crossing and
// no wrapper object per socket (from Rust, getWebSockets() converts every
// socket into a Rust value and every send is a separate crossing).
//
// `bytes` is a view into wasm memory; it is copied once into one
// ArrayBuffer, and that same buffer is sent to every socket.
export function broadcast(state, tags, bytes) {
  const buffer = bytes.slice().buffer;
  let sent = 0;
  for (const tag of tags) {
    for (const ws of state.getWebSockets(tag)) {
      try {
        ws.send(buffer);
        sent += 1;
      } catch {
        // A closing socket fails to send; its close callback removes it,
        // and its stream resumes with Last-Event-ID.
      }
    }
  }
  return sent;
}

// How many sockets the Hub holds, without wrapping each one for Rust.
export function countSockets(state) {
  return state.getWebSockets().length;
}
