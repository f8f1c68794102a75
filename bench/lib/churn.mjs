// Streams that go away must not stay behind: `rounds` rounds of `streams`
// connects (each sees its hello), then closes, on a freshly started system.
// After each round's closes it measures how long until the Hub's
// subscriber count is back at zero and the runtime's (workerd's) open file
// descriptors are back at their value before the first round, against the heartbeat
// (SSE_HEARTBEAT_SECS): a gone client is only noticed when a write to it
// fails, and the heartbeat is that write.
//
// Bounded: each wait ends after `waitMs` (then the row says what it saw).
import { SseLoad } from './sse-load.mjs';
import { memory } from './procs.mjs';
import { nowMs, sleep } from './clock.mjs';

/**
 * Open descriptors of the runtime: the system's workerd processes (under
 * `wrangler dev`, its dev proxy and the Worker's). wrangler's own Node
 * processes are left out: no stream passes through them, and they open
 * files of their own meanwhile (three more during a run of 00:27 UTC, in
 * every round alike).
 */
const fds = (system) => memory(system.processes().filter((p) => p.comm.startsWith('workerd')))
  .processes.reduce((n, p) => n + p.fds, 0);

/**
 * Runs the rounds on a started system; returns {streams, rounds: [{connected,
 * connectMs, zeroMs, fdsBackMs, subscribersLeft, fdsBefore, fdsAfter}],
 * heartbeatSecs}.
 */
export async function measureChurn(system, { streams, rounds, heartbeatSecs, threads, waitMs, log }) {
  // The baseline includes the connection the polls below keep open (the
  // bench's keep-alive agent; under `wrangler dev` also the proxy's to the
  // Worker): it is the measurement's, not a stream's.
  await system.subscribers().catch(() => null);
  await sleep(500);
  const fdsBefore = fds(system);
  const out = [];
  for (let r = 0; r < rounds; r++) {
    const load = new SseLoad({ url: system.url, path: system.streamPath, streams, threads });
    let conn;
    try {
      conn = await load.connect();
      await load.close();
    } finally {
      await load.terminate();
    }
    const closedAt = nowMs();
    let zeroMs = null;
    let fdsBackMs = null;
    let subscribers = null;
    let now = fdsBefore;
    while (nowMs() - closedAt < waitMs && (zeroMs === null || fdsBackMs === null)) {
      subscribers = await system.subscribers().catch(() => null);
      now = fds(system);
      const t = nowMs() - closedAt;
      if (zeroMs === null && subscribers === 0) zeroMs = t;
      if (fdsBackMs === null && now <= fdsBefore) fdsBackMs = t;
      await sleep(100);
    }
    const row = {
      connected: conn.helloCount,
      connectMs: conn.ms,
      zeroMs,
      fdsBackMs,
      subscribersLeft: subscribers,
      fdsBefore,
      fdsAfter: now,
    };
    log(`  round ${r + 1}: ${row.connected}/${streams} open in ${(conn.ms / 1000).toFixed(1)} s; after the closes `
      + `subscribers 0 in ${zeroMs === null ? `(not within ${waitMs} ms: ${subscribers})` : `${Math.round(zeroMs)} ms`}, `
      + `descriptors back to ${fdsBefore} in ${fdsBackMs === null ? `(not within ${waitMs} ms: ${now})` : `${Math.round(fdsBackMs)} ms`}`);
    out.push(row);
  }
  return { streams, heartbeatSecs, rounds: out };
}
