// The page in origin mode: polycache in front of the visitor's own API, so
// there is no blog to show. Instead: the route table, live reads of its
// routes, a box to send writes through polycache, and the activity log.

import { ActivityLog } from './ActivityLog.js';
import { useRecordStream } from './activity.js';
import { LiveBadge } from './LiveBadge.js';
import type { CacheRoute } from './mode.js';
import { OriginReads } from './OriginReads.js';
import { RequestBox } from './RequestBox.js';
import { RouteTable } from './RouteTable.js';

export function OriginApp({ routes }: { routes: readonly CacheRoute[] }) {
  useRecordStream();
  return (
    <div className="shell" data-testid="origin-view">
      <header className="topbar">
        <a className="brand" href="#/">
          <span className="brand-mark" aria-hidden="true">
            ◆
          </span>
          <span className="brand-name">Your API</span>
          <span className="brand-tag">behind polycache, in origin mode</span>
        </a>
        <div className="topbar-right">
          <LiveBadge />
        </div>
      </header>

      <main className="layout">
        <section className="column-main origin-main" aria-label="Reads">
          <RouteTable routes={routes} />
          <OriginReads routes={routes} />
        </section>
        <aside className="column-side">
          <RequestBox routes={routes} />
          <ActivityLog />
        </aside>
      </main>

      <footer className="footer">
        Reads go through the edge cache in front of your API; every write that passes through invalidates it and tells
        open pages over Server-Sent Events.
      </footer>
    </div>
  );
}
