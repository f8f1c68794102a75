// Which Edge served the last read of each path, and how: the Worker's
// `x-polycache-edge` (`edge:<region>:<shard>`) and `x-cache` (hit, miss,
// bypass) headers, recorded by api.ts for every answer that has them. A
// plain store read with useSyncExternalStore, like the activity log, since
// the headers arrive in query functions, not in React renders.

import { useSyncExternalStore } from 'react';

export interface Served {
  /** `x-polycache-edge`, e.g. `edge:default:0`; null when absent. */
  readonly edge: string | null;
  /** `x-cache`: `hit`, `miss` or `bypass`; null when absent. */
  readonly cache: string | null;
  /** When the answer came (Date.now()). */
  readonly at: number;
}

const byPath = new Map<string, Served>();
const listeners = new Set<() => void>();

/** Records how `path` was served, if the answer says (cached reads do). */
export function recordServed(path: string, headers: Headers): void {
  const edge = headers.get('x-polycache-edge');
  const cache = headers.get('x-cache');
  if (edge === null && cache === null) return;
  byPath.set(path, { edge, cache, at: Date.now() });
  for (const l of listeners) l();
}

const subscribe = (l: () => void) => {
  listeners.add(l);
  return () => {
    listeners.delete(l);
  };
};

/** How `path` was last served, or undefined before its first answer. */
export const useServed = (path: string): Served | undefined => useSyncExternalStore(subscribe, () => byPath.get(path));
