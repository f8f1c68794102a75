// Write acknowledgement: how long a write takes to be answered when the
// edge tier holds leases. Under the edge tier the Hub answers a write only
// once every Edge with a live lease applied it (or its lease ran out), so
// the number of Edges is in every write's round trip; this row measures it
// alone, without the load of a large fan-out.
//
// On a freshly started system: a few streams (`streams`, spread evenly over
// the regions) stay open throughout, so that every Edge renews its lease and
// receives every push; then, for each trigger kind ('invalidate': POST
// /api/cache/invalidate, 'patch': PATCH /api/posts/1), `warmUp` uncounted
// writes, then `writes` writes one after the other (each sent once the
// previous one was answered). Columns: the acknowledgement (the request's
// round trip) p50/p90/p99/max; the Hub's pushes to the Edges per write
// (/api/status; the number of Edges holding a lease); and, as a check that
// the pushes did their work, the delivery of the counted writes to the
// streams. Bounded: every write by ackTimeoutMs, the writes of a kind by
// budgetMs (the rest are skipped and said so), the last receipts by drainMs.
import { SseLoad } from './sse-load.mjs';
import { edgeTier, hubDelta, warmUp } from './fanout.mjs';
import { nowMs, sleep } from './clock.mjs';
import { rounded, summary } from './stats.mjs';
import { memory } from './procs.mjs';

export async function measureAcks(system, {
  writes, streams, triggers, threads, warmUpWrites = 5, ackTimeoutMs, budgetMs, drainMs, log,
}) {
  await warmUp(system, triggers[0]);
  const load = new SseLoad({
    url: system.url, path: system.streamPath, streams, threads,
    regions: system.regions ?? [], regionHeader: system.regionHeader ?? null,
  });
  const rows = [];
  try {
    const conn = await load.connect();
    log(`  ${conn.helloCount}/${streams} streams open${conn.failed ? ` (${conn.failed} failed: ${JSON.stringify(conn.errors)})` : ''}`);
    await sleep(300);
    const tierConnected = await edgeTier(system);
    for (const kind of triggers) {
      for (let i = 0; i < warmUpWrites; i++) await system.trigger(kind, i, { timeoutMs: ackTimeoutMs });
      const tierBefore = await edgeTier(system);
      const acks = [];
      const errors = [];
      const cpuBefore = memory(system.processes()).cpuMs;
      const started = nowMs();
      let skipped = 0;
      for (let i = 0; i < writes; i++) {
        if (nowMs() - started > budgetMs) { skipped = writes - i; break; }
        try {
          acks.push(await system.trigger(kind, warmUpWrites + i, { timeoutMs: ackTimeoutMs }));
        } catch (e) {
          errors.push(`write ${i + 1}: ${e.message ?? e}`);
        }
      }
      const cpuMs = memory(system.processes()).cpuMs - cpuBefore;
      const tierAfter = await edgeTier(system);
      const live = conn.helloCount;
      // Every receipt of this kind's writes, the warm-up's included.
      await load.waitReceived(live * (warmUpWrites + acks.length), drainMs);
      const collected = await load.collect();
      const delivery = [];
      for (const a of acks) {
        for (const slots of collected.receipts.get(a.eventId) ?? []) {
          if (!slots) continue;
          for (let i = 0; i < slots.length; i++) if (slots[i] !== 0) delivery.push(slots[i] - a.sentAt);
        }
      }
      const hubDuring = hubDelta(tierBefore, tierAfter);
      const row = {
        system: system.kind,
        label: system.label,
        edgeCount: system.edgeCount ?? null,
        regions: system.regions?.length ? system.regions : undefined,
        trigger: kind,
        streams,
        connected: live,
        writes: acks.length,
        skipped,
        errors: errors.slice(0, 5),
        errorCount: errors.length,
        ackMs: rounded(summary(acks.map((a) => a.ms))),
        writesPerSec: acks.length / ((nowMs() - started) / 1000),
        // CPU time of the system's processes during the counted writes (and
        // their pushes and forwarding to the streams), per write.
        cpuMs,
        cpuMsPerWrite: acks.length ? cpuMs / acks.length : null,
        // pushes: the Hub's push requests to Edges during the counted writes
        // (with the lease renewals and status calls of that time).
        hubDuring: hubDuring ?? undefined,
        pushesPerWrite: hubDuring && acks.length ? hubDuring.pushes / acks.length : null,
        edges: tierConnected?.edges,
        statusErrors: [tierConnected?.error, tierBefore?.error, tierAfter?.error].filter(Boolean),
        delivered: delivery.length,
        deliveredFraction: live * acks.length > 0 ? delivery.length / (live * acks.length) : null,
        deliveryMs: rounded(summary(delivery)),
      };
      log(`  ${kind}: ${acks.length} sequential writes, ack p50 ${row.ackMs?.p50 ?? '-'} ms, p99 ${row.ackMs?.p99 ?? '-'} ms`
        + `${row.pushesPerWrite !== null ? `, ${row.pushesPerWrite.toFixed(2)} pushes per write` : ''}`
        + `, delivered ${(100 * (row.deliveredFraction ?? 0)).toFixed(1)} %${errors.length ? `, ${errors.length} errors` : ''}`);
      rows.push(row);
    }
  } finally {
    await load.close().catch(() => {});
    await load.terminate();
  }
  return rows;
}
