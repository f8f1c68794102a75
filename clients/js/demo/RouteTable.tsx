// The deployment's route table (`GET /api/cache/routes`): which paths of the
// origin polycache caches, under which type, and how.

import type { CacheRoute } from './mode.js';

export function RouteTable({ routes }: { routes: readonly CacheRoute[] }) {
  return (
    <section className="card" aria-label="Route table">
      <h2>Route table</h2>
      <p className="muted small">
        Reads of these paths go through the edge cache, keyed by type; a write to one invalidates its type and tells
        every open page. Other paths go to the origin untouched.
      </p>
      <table className="routes" data-testid="route-table">
        <thead>
          <tr>
            <th>Path</th>
            <th>Type</th>
            <th>Public</th>
            <th>Vary</th>
            <th>Query</th>
          </tr>
        </thead>
        <tbody>
          {routes.map((r) => (
            <tr key={r.path} data-testid="route-row" data-path={r.path} data-type={r.type}>
              <td>
                <code>{r.path}</code>
                {r.id !== null && <span className="muted small"> · entity id :{r.id}</span>}
              </td>
              <td>
                <span className="chip">{r.type}</span>
              </td>
              <td>{r.public ? 'yes' : 'no'}</td>
              <td>{r.vary.length > 0 ? r.vary.join(', ') : <span className="muted">—</span>}</td>
              <td title={r.query === null ? 'every query is its own entry' : 'other parameters bypass the cache'}>
                {r.query === null ? <span className="muted">any</span> : r.query.length > 0 ? r.query.join(', ') : 'none'}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
