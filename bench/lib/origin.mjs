// Reads in origin mode beside D1 mode (`--only origin`): on one kind of
// system (the runtime alone, or `wrangler dev`), first polycache in D1 mode,
// then polycache in origin mode in front of the stand-in origin
// (tests/common/origin.mjs, a small shop API), each started fresh, the same
// two wrk reads on each (bench/lib/reads.mjs):
//   hit   one entity read again and again once cached: D1's GET /api/posts/1,
//         the origin's GET /v1/products/1
//   miss  a new id every request (D1: /api/posts/<id>, the origin:
//         /v1/products/<id>), past either's data: every request is a cache
//         miss, a read of the origin (a D1 query, or an HTTP request to the
//         stand-in), and a cache write of its 404 (the memory backend keeps
//         404s, so the same id twice would hit)
// The stand-in runs in the bench's own process with a latency of 0: D1 local
// is also on this machine, so neither origin adds a network. wrk, not the
// bench process, times the requests; the bench process only answers the
// origin-mode misses.
import { makeSystem } from './systems.mjs';
import { measureReads } from './reads.mjs';
import { send } from './http.mjs';
import { startOrigin } from '../../tests/common/origin.mjs';

/** What each mode reads. */
export const MODES = {
  d1: { hit: '/api/posts/1', miss: '/api/posts/' },
  origin: { hit: '/v1/products/1', miss: '/v1/products/' },
};

/**
 * Both modes on a fresh system of this kind, one after the other; returns
 * their rows (two per mode, each with `mode`), or a row with `error` for a
 * mode that failed.
 */
export async function measureOriginReads(kind, { secs, conns, log }) {
  const origin = await startOrigin({ latencyMs: 0 });
  const rows = [];
  try {
    for (const mode of Object.keys(MODES)) {
      const system = makeSystem(kind, mode === 'origin' ? origin.vars() : {});
      log(`reads in ${mode} mode on ${system.label} ...`);
      try {
        await system.start();
        const health = (await send(system.url, 'GET', '/api/health')).json;
        if (health?.mode !== mode) throw new Error(`GET /api/health says mode ${JSON.stringify(health?.mode)}, not ${mode}`);
        // The stand-in's counter (its request log keeps the last 10,000 only).
        const originCount = mode === 'origin' ? () => origin.served : undefined;
        const reads = await measureReads(system, { secs, conns, log, paths: MODES[mode], originCount });
        rows.push(...reads.map((r) => ({ ...r, mode, backend: health.backend ?? null })));
      } catch (e) {
        rows.push({ system: kind, label: system.label, mode, error: e.message });
      } finally {
        await system.dispose();
      }
    }
  } finally {
    await origin.close();
  }
  return rows;
}
