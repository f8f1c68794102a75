// The checker of the consistency test: given the writes and reads of one
// register (one post), finds every read that returned a value a write had
// certainly overwritten before the read started.
//
// A write is {value, sent, acked, known}: `known` is when the client side
// first knew it was done (its acknowledgement, or its SSE event if that came
// first). A read is {value, start, end}. Value 0 is the value before every
// write. With concurrent writers the database's order of two overlapping
// writes is unknown, so u counts as overwritten by w only when u was
// acknowledged before w was sent. A read R is stale when it returns u and
// some write w with w.known <= R.start overwrote u (equal times: a refetch
// started from the event handler that saw w's event, in one JS thread). For a register with one
// writer this is exactly "R returns at least the highest value acknowledged
// before R started".

/** Returns a list of human-readable violations (empty when none). */
export function staleReads(writes, reads, { t0 = 0, label = '' } = {}) {
  const ws = writes.map((w) => ({ ...w, known: w.known ?? w.acked })).sort((a, b) => a.known - b.known);
  const byValue = new Map(ws.map((w) => [w.value, w]));
  const initial = { value: 0, sent: -Infinity, acked: -Infinity };
  // maxSent[i]: the latest `sent` among the writes known at or before ws[i].
  const maxSent = [];
  ws.forEach((w, i) => { maxSent[i] = Math.max(w.sent, i ? maxSent[i - 1] : -Infinity); });
  const at = (x) => (x - t0).toFixed(1);
  const out = [];
  for (const r of reads) {
    const u = r.value === 0 ? initial : byValue.get(r.value);
    const where = `${label}${r.path ?? 'read'}${r.cache ? ` (x-cache ${r.cache})` : ''} started ${at(r.start)} ms`;
    if (!u) { out.push(`${where} returned v${r.value}, which no acknowledged write sent`); continue; }
    if (u.sent > r.end) { out.push(`${where} returned v${r.value} before it was sent`); continue; }
    let lo = 0;
    let hi = ws.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (ws[mid].known <= r.start) lo = mid + 1; else hi = mid; }
    if (lo === 0 || u.acked >= maxSent[lo - 1]) continue;
    const w = ws.slice(0, lo).find((x) => x.sent === maxSent[lo - 1]);
    out.push(`${where} returned v${r.value} (acknowledged ${at(u.acked)} ms), `
      + `but v${w.value} was sent at ${at(w.sent)} ms and done at ${at(w.known)} ms`);
  }
  return out;
}
