// The connection indicator: what a visitor needs to know is whether the page
// is live, and when it is not, that it is coming back by itself.

import { useStream, type StreamStatus } from '../src/index.js';

const LABELS: Record<StreamStatus, string> = {
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting…',
  closed: 'Offline',
};

const TITLES: Record<StreamStatus, string> = {
  connecting: 'Opening the update stream',
  open: 'Changes appear on this page as they happen',
  reconnecting: 'Connection lost; reconnecting, and catching up on what was missed',
  closed: 'Not receiving updates',
};

export function LiveBadge() {
  const { status } = useStream();
  return (
    <span className={`badge badge-${status}`} data-testid="live-status" data-status={status} title={TITLES[status]} role="status">
      <span className="badge-dot" aria-hidden="true" />
      {LABELS[status]}
    </span>
  );
}
