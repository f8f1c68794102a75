// Bursts: tens of events within milliseconds (a bulk edit, an import, a
// mirror catching up after an outage) to N open streams, measured at each
// stream as a whole: from the first trigger of the burst to the last of its
// events on that stream.
//
// On a freshly started system with N streams open, for each burst size,
// `bursts` bursts one after the other (the next once every stream has the
// last one, or its wait ran out), each sent one of two ways (`kind`):
//   api     `conns` connections send the burst's triggers as fast as the
//           API takes them (each sends its next once the previous was
//           answered): polycache POST /api/cache/invalidate {type: posts,
//           id} with a distinct id each, the peer POST /broadcast {id}
//   mirror  polycache: one bulk mirror catch-up. A sender (a second
//           runtime, CACHE_MIRRORS pointing at the system through a Gate)
//           makes the burst's invalidations, distinct ids, while the link
//           is cut; with MIRROR_MAX_ATTEMPTS=1 each parks at its first
//           failure. The link is mended and the sender's parked entries
//           are put back at once (POST /api/cache/mirrors/retry): its Hub
//           delivers them one after the other, each once the system
//           answered the previous, as after an outage. The first trigger is
//           that retry request. The peer (no mirroring): its triggers from
//           one connection, each once the previous was answered, as the
//           sender's deliveries come.
//
// Per burst: per stream, the time from the first trigger to the last event
// of the burst (only streams that got every event of the burst once and in
// order count there; the share of streams that did is `delivered`), CPU
// time of the system's processes from just before the first trigger until
// the last receipt (/proc), and the chunks and events written to streams
// as the server counts them (/api/status streamChunks and streamEvents:
// polycache's per Edge and summed, the peer's own count; null, printed n/a,
// for a server that does not count them).
import { SseLoad } from './sse-load.mjs';
import { Gate } from './gate.mjs';
import { hubDelta, warmUp } from './fanout.mjs';
import { makeSystem } from './systems.mjs';
import { memory } from './procs.mjs';
import { nowMs, sleep } from './clock.mjs';
import { round, rounded, summary } from './stats.mjs';
import { send } from './http.mjs';
import { ADMIN } from '../../tests/common/accounts.mjs';
import { waitUntil } from '../../tests/common/api.mjs';

// Mirror senders started so far: each mirrors under an origin of its own.
let senders = 0;

// Entity ids of the bursts' invalidations: distinct over the whole run,
// past the demo data, so that nothing merges two of them.
let nextEntity = 100_000;
const entityIds = (n) => Array.from({ length: n }, () => nextEntity++);

/**
 * {chunks, events} written to streams so far as a status answer counts
 * them: the sums at the top (polycache, the peer), else the sum over every
 * Edge that reports them; null when the server does not count them.
 */
export function streamCounters(status) {
  if (Number.isFinite(status?.streamChunks)) {
    return { chunks: status.streamChunks, events: Number.isFinite(status.streamEvents) ? status.streamEvents : null };
  }
  const edges = status?.edges ?? [];
  if (!edges.length || !edges.every((e) => Number.isFinite(e.streamChunks))) return null;
  const sum = (k) => (edges.every((e) => Number.isFinite(e[k])) ? edges.reduce((n, e) => n + e[k], 0) : null);
  return { chunks: sum('streamChunks'), events: sum('streamEvents') };
}

/**
 * The system's /api/status, or {error}: asked twice at most (each bounded
 * by its timeout), because after a large burst a status call was seen to
 * get no answer at all (socket hang up) once, and the row's chunk count
 * needs it.
 */
async function readStatus(system) {
  let error;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      return (await system.status()) ?? { error: 'GET /api/status answered no JSON' };
    } catch (e) {
      error = `GET /api/status: ${e.message ?? e}`;
      await sleep(500);
    }
  }
  return { error };
}

/** Opens `conns` kept-alive connections to the system, so that no burst pays a connection set-up. */
async function openConnections(system, conns) {
  await Promise.all(Array.from({ length: conns }, () => send(system.url, 'GET', '/api/health', { timeoutMs: 10_000 })));
}

/**
 * Sends one trigger per entity id, from `conns` senders at once, each
 * sending its next once the previous was answered. Resolves with
 * {firstSentAt, lastAckAt, ids (the answered triggers' event ids, in the
 * order answered), errors}.
 */
async function sendFrom(system, entities, conns, ackTimeoutMs) {
  const answers = [];
  const errors = [];
  const started = nowMs();
  let next = 0;
  const sender = async () => {
    while (next < entities.length) {
      const k = next++;
      const sent = nowMs();
      try {
        answers.push(await system.trigger('invalidate', k, { timeoutMs: ackTimeoutMs, entityId: entities[k] }));
      } catch (e) {
        errors.push(`trigger ${k + 1} of ${entities.length}, ${Math.round(sent - started)} ms into the burst, after ${Math.round(nowMs() - sent)} ms: ${e.message ?? e}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(conns, entities.length) }, sender));
  return {
    firstSentAt: answers.length ? Math.min(...answers.map((a) => a.sentAt)) : started,
    lastAckAt: answers.length ? Math.max(...answers.map((a) => a.ackAt)) : null,
    ids: answers.map((a) => a.eventId),
    errors,
  };
}

/** Bursts sent to the system's own API from `conns` connections (1: one after the other). */
function apiSource(system, conns, ackTimeoutMs) {
  return {
    how: conns === 1 ? '1 connection, in turn' : `${conns} connections`,
    async start() {},
    async arm(size) {
      const entities = entityIds(size);
      await openConnections(system, conns);
      return { fire: () => sendFrom(system, entities, conns, ackTimeoutMs), verify: async () => [] };
    },
    processes: () => [],
    async stop() {},
  };
}

/**
 * The mirror catch-up: a sender (polycache, runtime alone, one Edge, no
 * streams) whose mirror is the system under test, through a Gate.
 */
function mirrorSource(receiver, ackTimeoutMs, log) {
  const gate = new Gate();
  let sender = null;
  let token = null;
  /** The sender's one mirror: {pending, delivered, parked: [...]}. */
  const outbox = async () => {
    const res = await send(sender.url, 'GET', '/api/cache/mirrors', { token, timeoutMs: 10_000 });
    const mirror = res.json?.mirrors?.find((m) => m.configured);
    if (res.status !== 200 || !mirror) throw new Error(`sender's GET /api/cache/mirrors: ${res.status} ${res.text.slice(0, 200)}`);
    return mirror;
  };
  const invalidateOnSender = async (ids) => {
    for (const id of ids) {
      const res = await send(sender.url, 'POST', '/api/cache/invalidate', { token, body: { type: 'posts', id: String(id) }, timeoutMs: ackTimeoutMs });
      if (res.status !== 200) throw new Error(`invalidate on the sender: ${res.status} ${res.text.slice(0, 200)}`);
    }
  };
  return {
    how: 'mirror catch-up',
    async start() {
      await gate.listen();
      // Every failed delivery parks at once (MIRROR_MAX_ATTEMPTS=1): the
      // backlog waits for the retry, not for a backoff timer. A new origin
      // for every sender: the receiver keeps its state from one row to the
      // next and remembers the (origin, eventId) pairs it was sent, and a
      // fresh sender's ids start again at 1, which under one origin it
      // would acknowledge as repeats without an event (seen).
      senders += 1;
      sender = makeSystem('runtime', {
        INSTANCE_ID: `bench-sender-${process.pid}-${senders}`, CACHE_MIRRORS: gate.url, MIRROR_MAX_ATTEMPTS: '1',
      });
      await sender.start();
      token = await sender.token(ADMIN);
      gate.open(receiver.url);
      // One delivery through the open link before any burst: the sender
      // logs in to the receiver then and keeps the token (as a sender
      // does that was delivering before its outage).
      const before = (await outbox()).delivered;
      await invalidateOnSender(entityIds(1));
      await waitUntil(async () => (await outbox()).delivered > before, { timeoutMs: 30_000, what: 'the warm-up delivery to the receiver' });
      log(`  mirror sender up on ${sender.url}, through ${gate.url} to ${receiver.url}`);
    },
    async arm(size) {
      // The outage: the burst's invalidations are made on the sender and
      // park, one by one, as their deliveries fail.
      gate.shut();
      const base = await outbox();
      await invalidateOnSender(entityIds(size));
      await waitUntil(async () => {
        const m = await outbox();
        return m.pending === 0 && m.parked.length === base.parked.length + size;
      }, { timeoutMs: 60_000, what: `${size} parked entries on the sender` });
      gate.open(receiver.url);
      return {
        // `status`: the receiver's, just before: its events of the
        // catch-up are the next `size` ids.
        fire: async (status) => {
          const res = await send(sender.url, 'POST', '/api/cache/mirrors/retry', { token, timeoutMs: ackTimeoutMs });
          if (res.status !== 200) return { firstSentAt: res.sentAt, lastAckAt: null, ids: [], errors: [`retry: ${res.status} ${res.text.slice(0, 200)}`] };
          const requeued = res.json?.requeued;
          const ids = Array.from({ length: size }, (_, k) => status.lastEventId + 1 + k);
          return { firstSentAt: res.sentAt, lastAckAt: null, ids, errors: requeued === size + base.parked.length ? [] : [`retry requeued ${requeued}, not ${size}`] };
        },
        // What the sender says: every entry delivered, none left.
        verify: async () => {
          try {
            await waitUntil(async () => {
              const m = await outbox();
              return m.pending === 0 && m.parked.length === 0;
            }, { timeoutMs: 10_000, what: 'the sender\'s queue empty' });
            const m = await outbox();
            return m.delivered === base.delivered + size ? [] : [`the sender delivered ${m.delivered - base.delivered}, not ${size}`];
          } catch (e) {
            return [String(e.message ?? e)];
          }
        },
      };
    },
    processes: () => sender?.processes() ?? [],
    async stop() {
      await sender?.dispose();
      await gate.close();
    },
  };
}

/** The source of the bursts of this kind for this system. */
function sourceFor(system, kind, { conns, ackTimeoutMs, log }) {
  if (kind === 'api') return apiSource(system, conns, ackTimeoutMs);
  if (kind !== 'mirror') throw new Error(`unknown burst kind ${kind}`);
  // Only polycache mirrors; the others get their triggers as a sender's
  // deliveries come: one connection, one after the other.
  return system.kind === 'runtime' ? mirrorSource(system, ackTimeoutMs, log) : apiSource(system, 1, ackTimeoutMs);
}

/**
 * The receipts of one burst: per stream, from the first trigger to the
 * last of the burst's events, where every event came once and in order.
 */
function analyse(collected, ids, size, firstSentAt) {
  const last = [];
  const first = [];
  let receipts = 0;
  const perEvent = ids.map((id) => collected.receipts.get(id) ?? []);
  collected.anomalies.forEach((anomalies, t) => {
    for (let i = 0; i < anomalies.length; i++) {
      let lo = Infinity;
      let hi = 0;
      let got = 0;
      for (const threads of perEvent) {
        const at = threads[t]?.[i] ?? 0;
        if (at === 0) continue;
        got++;
        if (at < lo) lo = at;
        if (at > hi) hi = at;
      }
      receipts += got;
      if (got === size && ids.length === size && anomalies[i] === 0) {
        last.push(hi - firstSentAt);
        first.push(lo - firstSentAt);
      }
    }
  });
  return { last, first, receipts, complete: last.length };
}

/** chunks and events per stream over a burst (null where the server counts none). */
function perStream(before, after, live) {
  const a = streamCounters(before);
  const b = streamCounters(after);
  if (!a || !b || live === 0) return { chunks: null, events: null };
  return {
    chunks: (b.chunks - a.chunks) / live,
    events: a.events === null || b.events === null ? null : (b.events - a.events) / live,
  };
}

/**
 * Runs the bursts on a started system: warm-up, N streams, then for each
 * size its bursts. Returns one row per size.
 */
export async function measureBursts(system, {
  streams, kind, sizes, bursts, conns, threads, connectTimeoutMs, connectBudgetMs, waitMs, settleMs = 500, ackTimeoutMs, deadline, log,
}) {
  await warmUp(system, 'invalidate');
  const source = sourceFor(system, kind, { conns, ackTimeoutMs, log });
  const load = new SseLoad({
    url: system.url, path: system.streamPath, streams, threads, connectTimeoutMs, connectBudgetMs,
    regions: system.regions ?? [], regionHeader: system.regionHeader ?? null,
  });
  const rows = [];
  try {
    await source.start();
    const conn = await load.connect();
    const live = conn.helloCount;
    log(`  ${live}/${streams} streams open in ${(conn.ms / 1000).toFixed(1)} s${conn.failed ? ` (${conn.failed} failed: ${JSON.stringify(conn.errors)})` : ''}`);
    await sleep(settleMs);
    for (const size of sizes) {
      const done = [];
      const notes = [];
      const lastTimes = []; // every (stream, burst) pair's, for the row's percentiles
      for (let b = 0; b < bursts; b++) {
        if (nowMs() > deadline) { notes.push(`bursts ${b + 1} to ${bursts} skipped: out of time`); break; }
        const armed = await source.arm(size);
        const before = await readStatus(system);
        const cpuBefore = memory(system.processes()).cpuMs;
        const senderCpuBefore = memory(source.processes()).cpuMs;
        const shot = await armed.fire(before);
        const progress = await load.waitReceived(live * shot.ids.length, Math.max(0, shot.firstSentAt + waitMs - nowMs()));
        const cpuMs = memory(system.processes()).cpuMs - cpuBefore;
        const senderCpuMs = memory(source.processes()).cpuMs - senderCpuBefore;
        const collected = await load.collect();
        const after = await readStatus(system);
        const seen = analyse(collected, shot.ids, size, shot.firstSentAt);
        const errors = [...shot.errors, ...await armed.verify(), before.error, after.error].filter(Boolean);
        if (kind === 'mirror' && Number.isFinite(before.lastEventId) && after.lastEventId !== before.lastEventId + size) {
          errors.push(`the receiver's lastEventId went from ${before.lastEventId} to ${after.lastEventId}, not by ${size}`);
        }
        const counted = perStream(before, after, live);
        const last = summary(seen.last);
        for (const ms of seen.last) lastTimes.push(ms);
        done.push({
          burst: b + 1,
          ids: shot.ids.length ? [shot.ids[0], shot.ids[shot.ids.length - 1]] : [],
          triggersMs: shot.lastAckAt === null ? null : round(shot.lastAckAt - shot.firstSentAt),
          complete: seen.complete,
          receipts: seen.receipts,
          lastEventMs: rounded(last),
          firstEventMs: rounded(summary(seen.first)),
          cpuMs,
          senderCpuMs: source.processes().length ? senderCpuMs : undefined,
          chunksPerStream: round(counted.chunks),
          eventsPerStream: round(counted.events),
          hubDuring: hubDelta(before, after) ?? undefined,
          lostAfterHello: progress.lostAfterHello,
          resumes: collected.resumes,
          duplicates: collected.duplicates,
          streamsWithAnomalies: collected.anomalies.reduce((n, a) => n + a.filter((x) => x > 0).length, 0),
          errors: errors.slice(0, 5),
          // The end of the system's own output when the burst was not
          // delivered whole or the Hub was started anew meanwhile.
          systemOutput: errors.length || seen.complete < live || hubDelta(before, after)?.hubRestarted
            ? system.output.slice(-4000) : undefined,
        });
        log(`  ${size} events (${source.how}), burst ${b + 1}/${bursts}: last event p50 ${last?.p50.toFixed(1) ?? '-'} ms, p99 ${last?.p99.toFixed(1) ?? '-'} ms, `
          + `${seen.complete}/${live} streams complete, CPU ${cpuMs} ms, chunks/stream ${counted.chunks?.toFixed(2) ?? 'n/a'}${errors.length ? `; ${errors.join('; ')}` : ''}`);
        await sleep(settleMs);
      }
      rows.push(row(system, { streams, kind, how: source.how, size, bursts, conns, conn, live, done, notes, lastTimes }));
    }
  } finally {
    await load.close().catch(() => {});
    await load.terminate();
    await source.stop();
  }
  return rows;
}

/** One row of the table: a size's bursts together. */
function row(system, { streams, kind, how, size, bursts, conns, conn, live, done, notes, lastTimes }) {
  const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  // A server's count over the row: n/a (null) when any burst lacks it.
  const counted = (k) => (done.length && done.every((d) => d[k] !== null) ? mean(done.map((d) => d[k])) : null);
  return {
    system: system.kind,
    label: system.label,
    edgeCount: system.edgeCount ?? null,
    streams,
    kind,
    how,
    size,
    bursts: done.length,
    burstsAsked: bursts,
    conns: kind === 'api' ? conns : undefined,
    connected: live,
    connectFailed: conn.failed,
    connectErrors: conn.errors,
    connectMs: conn.ms,
    lastEventMs: rounded(summary(lastTimes)),
    deliveredFraction: live && done.length ? done.reduce((n, d) => n + d.complete, 0) / (live * done.length) : null,
    eventsDeliveredFraction: live && done.length ? done.reduce((n, d) => n + d.receipts, 0) / (live * size * done.length) : null,
    cpuMsPerBurst: mean(done.map((d) => d.cpuMs)),
    chunksPerStream: counted('chunksPerStream'),
    eventsPerStream: counted('eventsPerStream'),
    triggersMs: rounded(summary(done.map((d) => d.triggersMs).filter((x) => x !== null))),
    errors: done.flatMap((d) => d.errors).slice(0, 10),
    notes,
    perBurst: done,
  };
}
