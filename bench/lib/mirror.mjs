// Mirror propagation: two instances A -> B (A's CACHE_MIRRORS is B), one SSE
// client on B. Each write is a PATCH /api/posts/1 on A; measured from A's
// acknowledgement (and from just before it was sent) to the receipt of the
// mirrored event on B's stream. Writes are sequential (latency, not
// throughput), each waits for its event on B for at most 10 s; a write that
// fails or whose event does not come is counted as a failure (at most 20).
import { ADMIN, EDITOR } from '../../tests/common/accounts.mjs';
import { freePort } from '../../tests/common/harness.mjs';
import { login } from '../../tests/common/api.mjs';
import { connect as connectSse } from '../../tests/common/sse.mjs';
import { makeSystem } from './systems.mjs';
import { send } from './http.mjs';
import { nowMs } from './clock.mjs';
import { rounded, summary } from './stats.mjs';

// Retries that do not sleep through a run (the defaults are 1 s to 5 min);
// the first delivery is immediate either way (the Hub sets its alarm to now).
const FAST_RETRY = { MIRROR_RETRY_BASE_MS: '100', MIRROR_RETRY_CAP_MS: '500' };

export async function measureMirror(kind, { writes, log }) {
  const portB = await freePort();
  const a = makeSystem(kind, { INSTANCE_ID: 'bench-a', CACHE_MIRRORS: `http://127.0.0.1:${portB}`, ...FAST_RETRY });
  const b = makeSystem(kind, { INSTANCE_ID: 'bench-b', ...FAST_RETRY });
  let onB = null;
  try {
    await Promise.all([a.start(), b.start({ port: portB })]);
    if (b.url !== `http://127.0.0.1:${portB}`) throw new Error(`B is on ${b.url}, not on port ${portB}`);
    const editor = await login({ url: a.url }, EDITOR);
    await login({ url: b.url }, ADMIN); // B answers logins: A's service login will work
    onB = await connectSse(`${b.url}/api/stream`, { timeoutMs: 30_000 });
    const sendToB = [];
    const ackToB = [];
    const acks = [];
    const failures = [];
    let seen = 0;
    const fromA = () => onB.ofType().filter((e) => e.json?.origin === 'bench-a');
    // performance.now() is what the SSE client stamps events with; convert.
    const offset = nowMs() - performance.now();
    // The first five warm the path up (logins, connections) and are not counted.
    for (let i = 0; i < writes + 5 && failures.length <= 20; i++) {
      try {
        if (onB.ended) {
          // B's stream was cut (a reload of B): open a new one and go on.
          onB = await connectSse(`${b.url}/api/stream`, { timeoutMs: 30_000 });
          seen = 0;
        }
        const res = await send(a.url, 'PATCH', '/api/posts/1', { token: editor, body: { title: `mirror ${i} ${Date.now()}` } });
        if (res.status !== 200) throw new Error(`PATCH on A: ${res.status} ${res.text.slice(0, 200)}`);
        const ev = await onB.waitUntil(() => fromA()[seen], 10_000, `mirrored write ${i} on B`);
        seen++;
        const at = ev.at + offset;
        if (i >= 5) {
          sendToB.push(at - res.sentAt);
          ackToB.push(at - res.ackAt);
          acks.push(res.ms);
        }
      } catch (e) {
        failures.push(String(e.message ?? e).split('\n')[0].slice(0, 300));
        seen = fromA().length;
      }
    }
    const result = {
      system: kind,
      writes,
      received: ackToB.length,
      failures: failures.length,
      failureSamples: failures.slice(0, 5),
      ackToB: rounded(summary(ackToB)),
      sendToB: rounded(summary(sendToB)),
      ackOnA: rounded(summary(acks)),
    };
    log(`  mirror (${kind}): ack on A -> B p50 ${result.ackToB?.p50} ms, p99 ${result.ackToB?.p99} ms over ${result.received} writes`);
    return result;
  } finally {
    onB?.close();
    await Promise.allSettled([a.dispose(), b.dispose()]);
  }
}
