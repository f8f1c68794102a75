// The page: a header with the connection badge, the feed, and a sidebar
// with the open entry (and its editor), the sign-in card and the activity log.

import { ActivityLog } from './ActivityLog.js';
import { useRecordStream } from './activity.js';
import { Feed } from './Feed.js';
import { LiveBadge } from './LiveBadge.js';
import { Reader } from './Reader.js';
import { useRoute } from './route.js';
import { canEdit, useSession } from './session.js';
import { SignIn } from './SignIn.js';

export function App() {
  const route = useRoute();
  const { session, signIn, signOut } = useSession();
  useRecordStream();

  return (
    <div className="shell">
      <header className="topbar">
        <a className="brand" href="#/">
          <span className="brand-mark" aria-hidden="true">
            ◆
          </span>
          <span className="brand-name">Edge Notes</span>
          <span className="brand-tag">a polycache demo</span>
        </a>
        <div className="topbar-right">
          {session && (
            <span className="who" data-testid="signed-in">
              {session.email}
              <span className="role">{session.role}</span>
            </span>
          )}
          <LiveBadge />
        </div>
      </header>

      <main className="layout">
        <section className="column-main" aria-label="Feed">
          <Feed selected={route} editor={canEdit(session)} />
        </section>
        <aside className="column-side">
          <Reader route={route} session={canEdit(session) ? session : null} onUnauthorized={signOut} />
          <SignIn session={session} onSignIn={signIn} onSignOut={signOut} />
          <ActivityLog />
        </aside>
      </main>

      <footer className="footer">
        Reads go through the edge cache; every write invalidates it and tells open pages over Server-Sent Events.
      </footer>
    </div>
  );
}
