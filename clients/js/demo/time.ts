// Human times: "just now", "5 min ago", "Nov 3".

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto', style: 'short' });
const day = new Intl.DateTimeFormat('en', { month: 'short', day: 'numeric', year: 'numeric' });
const clock = new Intl.DateTimeFormat('en', { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

export function ago(ms: number, now = Date.now()): string {
  const s = Math.round((now - ms) / 1000);
  if (s < 10) return 'just now';
  if (s < 60) return relative.format(-s, 'second');
  if (s < 3600) return relative.format(-Math.round(s / 60), 'minute');
  if (s < 86_400) return relative.format(-Math.round(s / 3600), 'hour');
  return day.format(ms);
}

export const timeOfDay = (ms: number): string => clock.format(ms);
