// The printed table (markdown) of a run's results.

const f = (x, digits = 0) => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(digits));
const EVENT = { invalidate: 'invalidate', patch: 'PATCH /api/posts/1' };

/** A markdown table; the first `left` columns are text, the rest numbers (right-aligned). */
function table(head, rows, left) {
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i < left ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

const SYSTEM_ORDER = { runtime: 0, floor: 1, dev: 2, peer: 3 };
/** The order of rows of the same streams: the runtime by its number of Edges, then the others. */
const bySystem = (a, b) => SYSTEM_ORDER[a.system] - SYSTEM_ORDER[b.system] || (a.edgeCount ?? 0) - (b.edgeCount ?? 0);

export function fanoutTable(results) {
  const rows = [...results]
    .sort((a, b) => a.streams - b.streams || (a.trigger === 'patch') - (b.trigger === 'patch') || bySystem(a, b))
    .map((r) => {
      if (r.error) return [r.label, f(r.streams), '-', `**${r.error.startsWith('skipped') ? 'not run' : 'failed'}**: ${r.error.split('\n')[0].slice(0, 120)}`, '', '', '', '', '', '', '', ''];
      return [
        r.label,
        f(r.streams),
        r.system === 'peer' ? 'broadcast' : EVENT[r.trigger],
        r.connected === r.streams ? f(r.connected) : `${r.connected} of ${r.streams}`,
        f(r.connectMs / 1000, 1),
        f(r.deliveryMs?.p50, 1),
        f(r.deliveryMs?.p99, 1),
        f(r.deliveryMs?.max, 1),
        r.deliveredFraction === null ? '-' : `${(100 * r.deliveredFraction).toFixed(r.deliveredFraction === 1 ? 0 : 2)} %`,
        `${f(r.ackMs?.p50, 1)} / ${f(r.ackMs?.p99, 1)}`,
        f(r.memory?.perStreamKiB, 1),
        f(r.cpuMs ? r.cpuMs.system / 1000 : null, 1),
      ];
    });
  return table(['system', 'streams', 'event', 'connected', 'connect s', 'p50 ms', 'p99 ms', 'max ms', 'delivered', 'ack p50 / p99 ms', 'RSS KiB / stream', 'CPU s'], rows, 3);
}

/**
 * Each system's invalidate row against the peer's at the same stream count:
 * p99 as a multiple of the peer's, the CPU time the system spent per
 * delivered event, and its memory per stream connected and after the round.
 * The floor's rows say how much of a gap is the runtime's own. null when no
 * peer row is there to compare with.
 */
export function peerTable(results) {
  const ok = results.filter((r) => !r.error && r.trigger === 'invalidate' && r.delivered > 0);
  const peers = new Map(ok.filter((r) => r.system === 'peer').map((r) => [r.streams, r]));
  if (!peers.size) return null;
  const perDelivery = (r) => (r.cpuMs ? (1000 * r.cpuMs.system) / r.delivered : null);
  const rows = [...ok]
    .filter((r) => peers.has(r.streams))
    .sort((a, b) => a.streams - b.streams || bySystem(a, b))
    .map((r) => {
      const peer = peers.get(r.streams);
      return [
        r.label, f(r.streams), f(r.deliveryMs?.p99, 1),
        r.system === 'peer' ? '1' : f(r.deliveryMs.p99 / peer.deliveryMs.p99, 2),
        f(perDelivery(r), 1),
        r.system === 'peer' ? '1' : f(perDelivery(r) / perDelivery(peer), 2),
        f(r.memory?.perStreamConnectedKiB, 1), f(r.memory?.perStreamKiB, 1),
      ];
    });
  return table(['system', 'streams', 'p99 ms', 'p99 / peer', 'CPU µs / delivery', 'CPU / peer', 'KiB / stream connected', 'after the round'], rows, 2);
}

export function mirrorTable(results) {
  const rows = results.map((r) => (r.error
    ? [`A -> B (${r.system})`, `**failed**: ${r.error.split('\n')[0].slice(0, 120)}`, '', '', '', '', '']
    : [`A -> B (${r.system})`, `${r.received} of ${r.writes}`, f(r.ackToB?.p50, 1), f(r.ackToB?.p99, 1), f(r.ackToB?.max, 1), f(r.sendToB?.p50, 1), f(r.sendToB?.p99, 1)]));
  return table(['mirror', 'writes', 'ack on A -> B p50 ms', 'p99 ms', 'max ms', 'send -> B p50 ms', 'p99 ms'], rows, 2);
}

/**
 * The read rows; `Hub requests` is what the Hub served during the row
 * (/api/status, under the edge tier: a hit through an Edge should add none
 * but the Edges' lease renewals; '-' where the Worker has no such counter).
 */
export function readsTable(results) {
  const label = { hit: 'hit: GET /api/posts', miss: 'uncached: GET /api/posts/<new id>' };
  const rows = results.map((r) => (r.error
    ? [r.label ?? r.system, '-', `**failed**: ${r.error.split('\n')[0].slice(0, 120)}`, '', '', '', '', '', '']
    : [r.label ?? r.system, label[r.read], f(r.rps), f(r.latencyMs.p50, 2), f(r.latencyMs.p99, 2), f(r.latencyMs.max, 2), f(r.errors),
      f(r.cpuUsPerRequest), f(r.hubDuring?.requests)]));
  return table(['system', 'read', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'CPU µs / request', 'Hub requests'], rows, 2);
}

/**
 * The origin rows (`--only origin`): hit and miss in D1 mode and in origin
 * mode, per system.
 */
export function originTable(results) {
  const read = { hit: 'hit', miss: 'miss (new id)' };
  const rows = results.map((r) => (r.error
    ? [r.label ?? r.system, r.mode, '-', '-', `**failed**: ${r.error.split('\n')[0].slice(0, 120)}`, '', '', '', '', '', '', '']
    : [r.label, r.mode === 'd1' ? 'D1' : 'origin', read[r.read], `\`${r.path}\``, f(r.rps), f(r.latencyMs.p50, 2), f(r.latencyMs.p99, 2),
      f(r.latencyMs.max, 2), f(r.errors), f(r.cpuUsPerRequest), f(r.bytesPerResponse), f(r.originRequests)]));
  return table(['system', 'mode', 'read', 'path', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'CPU µs / request', 'bytes / answer', 'origin requests'],
    rows, 4);
}

/**
 * Origin mode over D1 mode, per system and read: the ratios of req/s, p50,
 * p99 and CPU per request (above 1: origin mode takes more, or serves more
 * per second). null when no pair is complete.
 */
export function originRatioTable(results) {
  const ok = results.filter((r) => !r.error);
  const rows = [];
  for (const o of ok.filter((r) => r.mode === 'origin')) {
    const d = ok.find((r) => r.mode === 'd1' && r.system === o.system && r.read === o.read);
    if (!d) continue;
    const ratio = (a, b) => (a && b ? f(a / b, 2) : '-');
    rows.push([o.label, o.read, ratio(o.rps, d.rps), ratio(o.latencyMs.p50, d.latencyMs.p50), ratio(o.latencyMs.p99, d.latencyMs.p99),
      ratio(o.cpuUsPerRequest, d.cpuUsPerRequest)]);
  }
  return rows.length ? table(['system', 'read', 'req/s origin / D1', 'p50', 'p99', 'CPU / request'], rows, 2) : null;
}

/**
 * The write acknowledgement rows: sequential writes with a few streams open
 * (so that every Edge holds a lease and gets every push).
 */
export function acksTable(results) {
  const rows = [...results].sort((a, b) => (a.edgeCount ?? 0) - (b.edgeCount ?? 0)).map((r) => (r.error
    ? [r.label ?? r.system, '-', `**failed**: ${r.error.split('\n')[0].slice(0, 120)}`, '', '', '', '', '', '', '', '']
    : [
      r.label, EVENT[r.trigger] ?? r.trigger,
      `${r.writes}${r.skipped ? ` (${r.skipped} skipped)` : ''}${r.errorCount ? ` (${r.errorCount} failed)` : ''}`,
      f(r.ackMs?.p50, 1), f(r.ackMs?.p90, 1), f(r.ackMs?.p99, 1), f(r.ackMs?.max, 1),
      f(r.cpuMsPerWrite, 1),
      f(r.pushesPerWrite, 2),
      r.deliveredFraction === null ? '-' : `${(100 * r.deliveredFraction).toFixed(r.deliveredFraction === 1 ? 0 : 2)} %`,
      f(r.deliveryMs?.p99, 1),
    ]));
  return table(['system', 'write', 'writes', 'ack p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'CPU ms / write', 'pushes / write', 'delivered', 'delivery p99 ms'], rows, 2);
}

/** Per stream, by process: where each system's memory per stream goes. */
export function memoryTable(results) {
  const rows = [...results]
    .filter((r) => !r.error && r.trigger === 'invalidate' && r.connected > 0)
    .sort((a, b) => a.streams - b.streams || bySystem(a, b))
    .map((r) => {
      const parts = r.memory.processes
        .map((p) => ({ comm: p.comm, kib: (p.rssKiB - (p.beforeKiB ?? 0)) / r.connected, total: p.rssKiB }))
        .filter((p) => Math.abs(p.kib) >= 0.5)
        .map((p) => `${p.comm} ${p.kib.toFixed(1)}`);
      return [r.label, f(r.streams), parts.join(' + ') || '-', f(r.memory.openKiB / 1024, 0)];
    });
  return table(['system', 'streams', 'RSS KiB / stream by process', 'RSS MiB in all'], rows, 3);
}

/** The churn rounds: when the subscribers and the descriptors were back. */
export function churnTable(results) {
  const ms = (x) => (x === null || x === undefined ? 'not back' : f(x / 1000, 1));
  const rows = [];
  for (const r of results) {
    if (r.error) {
      rows.push([r.label ?? r.system, '-', `**failed**: ${r.error.split('\n')[0].slice(0, 120)}`, '', '', '', '']);
      continue;
    }
    r.rounds.forEach((x, i) => rows.push([
      r.label, `${i + 1} of ${r.rounds.length}`, `${x.connected} of ${r.streams}`, f(r.heartbeatSecs),
      `${ms(x.zeroMs)}${x.zeroMs == null ? ` (${x.subscribersLeft})` : ''}`,
      `${ms(x.fdsBackMs)}`, `${x.fdsBefore} / ${x.fdsAfter}`,
    ]));
  }
  return table(['system', 'round', 'streams opened', 'heartbeat s', 'subscribers 0 after s', 'descriptors back after s', 'descriptors before / after'], rows, 2);
}

/**
 * The burst rows: per stream, the time from the burst's first trigger to
 * its last event (over every stream and burst of the row), the share of
 * streams that got every event of a burst once and in order, CPU per
 * burst, and the chunks and events written per stream per burst as the
 * server counts them (n/a where it does not). `p99 / peer` against the
 * peer's row of the same streams, size and kind.
 */
export function burstsTable(results) {
  const KIND = { api: 0, mirror: 1 };
  const key = (r) => `${r.streams}/${r.kind}/${r.size}`;
  const peers = new Map(results.filter((r) => r.system === 'peer' && !r.error && r.lastEventMs).map((r) => [key(r), r]));
  const pct = (x) => (x === null || x === undefined ? '-' : `${(100 * x).toFixed(x === 1 ? 0 : 2)} %`);
  const na = (x, digits) => (x === null || x === undefined ? 'n/a' : f(x, digits));
  const rows = [...results]
    .sort((a, b) => a.streams - b.streams || KIND[a.kind] - KIND[b.kind] || a.size - b.size || bySystem(a, b))
    .map((r) => {
      if (r.error) return [r.label, f(r.streams), '-', r.kind, `**${r.error.startsWith('skipped') ? 'not run' : 'failed'}**: ${r.error.split('\n')[0].slice(0, 120)}`, '', '', '', '', '', '', ''];
      const peer = peers.get(key(r));
      return [
        r.label, f(r.streams), f(r.size), r.how,
        f(r.lastEventMs?.p50, 1), f(r.lastEventMs?.p99, 1), f(r.lastEventMs?.max, 1),
        r.system === 'peer' ? '1' : (peer && r.lastEventMs ? f(r.lastEventMs.p99 / peer.lastEventMs.p99, 2) : '-'),
        pct(r.deliveredFraction),
        f(r.cpuMsPerBurst, 0),
        na(r.chunksPerStream, 2), na(r.eventsPerStream, 2),
      ];
    });
  return table(['system', 'streams', 'events', 'sent as', 'last event p50 ms', 'p99 ms', 'max ms', 'p99 / peer', 'delivered (all once, in order)', 'CPU ms / burst', 'chunks / stream', 'events / stream'], rows, 4);
}
