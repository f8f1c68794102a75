// One fan-out measurement: N streams on a freshly started system, then one
// or more rounds of events (each round: `events` triggering requests sent
// `intervalMs` apart on a fixed schedule, not waiting for the previous
// acknowledgement), each round giving one row of the table.
//
// What is measured, per round:
//   connect     from the first connection attempt until every stream has
//               seen its `hello` (or failed, or ran out of the budget)
//   delivery    receipt on a stream minus the time just before the
//               triggering request was written, over every (stream, event)
//   delivered   receipts / (streams that saw hello x events); a stream the
//               server renews (polycache's `event: renew`) is followed with
//               Last-Event-ID, as browsers do, and its replayed events count
//   ack         the triggering request's round trip
//   memory      RSS of the system's processes with the N streams open (after
//               the first round) minus before connecting (after a warm-up),
//               divided by N
// With regions (polycache's edge tier, `--regions`), the streams spread
// evenly over the regions by the region header, and the JSON adds per
// region the delivery, each Edge's subscribers (from /api/status) and the
// Hub's pushes to the Edges during the round.
import { connect as connectSse } from '../../tests/common/sse.mjs';
import { SseLoad } from './sse-load.mjs';
import { memory } from './procs.mjs';
import { nowMs, sleep } from './clock.mjs';
import { rounded, summary } from './stats.mjs';
import { startPerf } from './profile.mjs';
import { resetAgent, send } from './http.mjs';

/**
 * Warms a started system up: the first requests compile the Worker, create
 * the Hub and start the relay; none of that belongs in the first event.
 */
export async function warmUp(system, kind) {
  // First a cached read per region: the read path and every Edge warm
  // before the streams. (It also kept the bench running on c372ff0, where a
  // restarted Edge did not know its name until a read told it; streams now
  // carry it.) polycache only; harmless on a Worker without the edge tier.
  if (system.regionHeaders) {
    for (const headers of system.regionHeaders()) {
      const res = await send(system.url, 'GET', '/api/posts', { headers, timeoutMs: 30_000 });
      if (res.status !== 200) throw new Error(`warm-up read: ${res.status} ${res.text.slice(0, 200)}`);
    }
  }
  // One stream per region (each region's Edge is created, registers with
  // the Hub and takes its lease here, not in the first event).
  const streams = [];
  try {
    for (const headers of system.regionHeaders?.() ?? [{}]) {
      streams.push(await connectSse(`${system.url}${system.streamPath}`, { headers, timeoutMs: 30_000, follow: true }));
    }
    for (let i = 0; i < 3; i++) {
      const { eventId } = await system.trigger(kind, i);
      for (const stream of streams) {
        await stream.waitFor((e) => e.type === 'app-update' && Number(e.json?.id) === eventId, 10_000, `warm-up event ${eventId}`);
      }
    }
  } finally {
    for (const stream of streams) stream.close();
  }
}

/**
 * The Hub's counters and each Edge's subscribers, from /api/status
 * (polycache with the edge tier): {hub, edges}, or {error} when the status
 * did not answer them; null for a system without the edge tier.
 */
export async function edgeTier(system) {
  if (!system.status || system.edgeTier === false) return null;
  let status;
  try {
    status = await system.status();
  } catch (e) {
    return { error: `GET /api/status: ${e.message ?? e}` };
  }
  if (!status?.hub) return { error: `GET /api/status answered no hub counters: ${JSON.stringify(status).slice(0, 300)}` };
  return {
    hub: status.hub,
    edges: (status.edges ?? []).map((e) => ({ name: e.name, subscribers: e.subscribers, leaseUntil: e.leaseUntil, lastEventId: e.lastEventId })),
  };
}

/**
 * The Hub's counters after minus before (pushes, renewals, ...), the peak
 * as it is after; with both readings, and `hubRestarted` when a counter
 * went down (the counters count from the Hub object's start: it was
 * started anew in between). null when either reading is missing.
 */
export function hubDelta(before, after) {
  if (!before?.hub || !after?.hub) return null;
  const out = {};
  for (const [k, v] of Object.entries(after.hub)) out[k] = k === 'pushesInFlightPeak' ? v : v - (before.hub[k] ?? 0);
  if (after.hub.requests < before.hub.requests) out.hubRestarted = true;
  out.before = before.hub;
  out.after = after.hub;
  return out;
}

/** Sends `events` triggers on a fixed schedule; resolves with their results (or errors). */
async function round(system, kind, { events, intervalMs, ackTimeoutMs }) {
  // New connections for the round: none that sat idle through the connect
  // phase or the last drain, which the server may be closing just then.
  resetAgent();
  const started = nowMs() + 20;
  const pending = [];
  for (let i = 0; i < events; i++) {
    const wait = started + i * intervalMs - nowMs();
    if (wait > 0) await sleep(wait);
    const sent = nowMs();
    pending.push(system.trigger(kind, i, { timeoutMs: ackTimeoutMs })
      .catch((e) => ({ error: `event ${i + 1} of ${events}, after ${Math.round(nowMs() - sent)} ms: ${e.message ?? e}` })));
  }
  return Promise.all(pending);
}

/**
 * Runs the measurement on a started system. rounds: list of trigger kinds
 * ('invalidate', 'patch'); returns one result object per round.
 */
export async function measureFanout(system, {
  streams, rounds, events, intervalMs, threads, connectTimeoutMs, connectBudgetMs, drainMs, ackTimeoutMs, log, perfBase,
}) {
  await warmUp(system, rounds[0]);
  log('  warmed up');
  await sleep(300);
  const before = memory(system.processes());
  const reloadsBefore = system.reloads?.() ?? 0;
  const restarted = () => {
    const pids = new Set(before.processes.map((p) => p.pid));
    const fresh = system.processes().filter((p) => !pids.has(p.pid));
    const reloads = (system.reloads?.() ?? 0) - reloadsBefore;
    if (!fresh.length && !reloads) return null;
    return [...fresh.map((p) => `${p.comm} ${p.pid}`), ...(reloads ? [`${reloads} reload(s) of the Worker`] : [])].join(', ');
  };
  const load = new SseLoad({
    url: system.url, path: system.streamPath, streams, threads, connectTimeoutMs, connectBudgetMs,
    regions: system.regions ?? [], regionHeader: system.regionHeader ?? null,
  });
  const results = [];
  try {
    const conn = await load.connect();
    log(`  ${conn.helloCount}/${streams} streams open in ${(conn.ms / 1000).toFixed(1)} s${conn.failed ? ` (${conn.failed} failed: ${JSON.stringify(conn.errors)})` : ''}`);
    await sleep(500);
    const connectedMem = memory(system.processes());
    const subscribers = await system.subscribers().catch(() => null);
    const tierConnected = await edgeTier(system);
    let openMem = null;
    for (const kind of rounds) {
      const tierBefore = await edgeTier(system);
      const cpuBefore = memory(system.processes()).cpuMs;
      const clientBefore = process.cpuUsage();
      const perf = perfBase ? startPerf(system.processes().map((p) => p.pid), `${perfBase}-${kind}`) : null;
      if (perf) await sleep(300); // perf attaches to every thread first
      const sends = await round(system, kind, { events, intervalMs, ackTimeoutMs });
      const ok = sends.filter((s) => !s.error);
      const live = conn.helloCount;
      const progress = await load.waitReceived(live * ok.length, drainMs);
      const afterRound = memory(system.processes());
      const client = process.cpuUsage(clientBefore);
      const profile = perf ? await perf.stop() : null;
      const tierAfter = await edgeTier(system);
      if (profile) log(`  profile: ${profile.report}`);
      openMem ??= afterRound;
      const collected = await load.collect();
      const fresh = restarted();
      if (fresh) {
        // `wrangler dev` reloads the Worker when a watched file changes
        // (its [build] watch_dir): streams are cut and the row is void.
        throw Object.assign(new Error(`new processes during the measurement (${fresh}): the Worker was restarted`), { restarted: true });
      }
      const latencies = [];
      const perEvent = [];
      const byRegion = new Map((load.regions ?? []).map((r) => [r, []]));
      for (const s of ok) {
        const mine = [];
        (collected.receipts.get(s.eventId) ?? []).forEach((slots, t) => {
          if (!slots) return;
          for (let i = 0; i < slots.length; i++) {
            if (slots[i] === 0) continue;
            const ms = slots[i] - s.sentAt;
            mine.push(ms);
            if (byRegion.size) byRegion.get(load.regionOf(t, i)).push(ms);
          }
        });
        const e = summary(mine);
        perEvent.push({ eventId: s.eventId, ackMs: s.ms, delivered: mine.length, p50: e?.p50, p99: e?.p99, max: e?.max });
        for (const x of mine) latencies.push(x);
      }
      const expected = live * events;
      const delivery = summary(latencies);
      const perStream = (m) => (live > 0 ? (m.totalKiB - before.totalKiB) / live : null);
      const result = {
        system: system.kind,
        label: system.label,
        trigger: kind,
        streams,
        connected: live,
        connectFailed: conn.failed,
        connectErrors: conn.errors,
        connectMs: conn.ms,
        subscribers,
        events,
        intervalMs,
        eventsAcked: ok.length,
        triggerErrors: sends.filter((s) => s.error).map((s) => s.error).slice(0, 5),
        delivered: latencies.length,
        deliveredFraction: expected > 0 ? latencies.length / expected : null,
        lostAfterHello: progress.lostAfterHello,
        resumes: collected.resumes,
        duplicates: collected.duplicates,
        deliveryMs: rounded(delivery),
        ackMs: rounded(summary(ok.map((s) => s.ms))),
        // The edge tier: how many Edges, each Edge's subscribers with the
        // streams open, the Hub's counters over the round (pushes: one
        // request per write and Edge with a live lease), delivery by region.
        edgeCount: system.edgeCount ?? null,
        regions: load.regions.length ? load.regions : undefined,
        edges: tierConnected?.edges,
        hubDuring: hubDelta(tierBefore, tierAfter) ?? undefined,
        statusErrors: [tierConnected?.error, tierBefore?.error, tierAfter?.error].filter(Boolean),
        perRegion: byRegion.size
          ? Object.fromEntries([...byRegion].map(([r, xs]) => [r, { receiptsPerEvent: xs.length / Math.max(1, ok.length), ...rounded(summary(xs)) }]))
          : undefined,
        perEvent: perEvent.map((e) => rounded(e)),
        // What wrangler dev said about reloads and errors while the system ran.
        systemSaid: system.notable ? [...system.notable] : undefined,
        // The end of the system's own output, when streams or events were
        // lost or the Hub was started anew during the round.
        systemOutput: progress.lostAfterHello > 0 || latencies.length < expected || hubDelta(tierBefore, tierAfter)?.hubRestarted
          ? system.output.slice(-4000) : undefined,
        // CPU time spent from the first event until the last receipt (or
        // the drain timeout): by the system's processes, and by the load
        // client (this process, all its threads; it also sent the events).
        cpuMs: { system: afterRound.cpuMs - cpuBefore, client: (client.user + client.system) / 1000 },
        profile,
        memory: {
          beforeKiB: before.totalKiB,
          connectedKiB: connectedMem.totalKiB,
          openKiB: openMem.totalKiB,
          perStreamKiB: perStream(openMem),
          perStreamConnectedKiB: perStream(connectedMem),
          processes: openMem.processes.map((p) => ({
            ...p, beforeKiB: before.processes.find((b) => b.pid === p.pid)?.rssKiB ?? null,
          })),
        },
      };
      if (result.edges) log(`  edges: ${result.edges.map((e) => `${e.name} ${e.subscribers}`).join(', ')}`);
      if (result.hubDuring) {
        const { before, after, ...d } = result.hubDuring;
        log(`  hub during the round: ${JSON.stringify(d)}`);
      }
      for (const e of result.statusErrors) log(`  ${e}`);
      log(`  ${kind}: p50 ${delivery?.p50.toFixed(1) ?? '-'} ms, p99 ${delivery?.p99.toFixed(1) ?? '-'} ms, max ${delivery?.max.toFixed(1) ?? '-'} ms, delivered ${(100 * (result.deliveredFraction ?? 0)).toFixed(2)} %, ack p50 ${result.ackMs?.p50 ?? '-'} ms, ${result.memory.perStreamKiB?.toFixed(1) ?? '-'} KiB/stream${result.resumes ? `, ${result.resumes} renewals followed` : ''}`);
      results.push(result);
    }
  } finally {
    await load.close().catch(() => {});
    await load.terminate();
  }
  return results;
}
