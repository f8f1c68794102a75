// StreamInvalidator, as in the original app: put it once inside a StreamProvider and a
// QueryClientProvider, and every app-update event refreshes the React Query
// queries it concerns (see invalidator.ts for what exactly, and how bursts
// are merged).

import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useRef } from 'react';
import { ownAliases, withAliases, type AliasMap } from './aliases.js';
import { createInvalidator, type FlushReport } from './invalidator.js';
import { useStream } from './StreamContext.js';

export interface StreamInvalidatorProps {
  /** The client to refresh; the one of the nearest QueryClientProvider by default. */
  readonly queryClient?: QueryClient;
  /** Extra or overriding entries of the alias map (event type -> query keys). */
  readonly aliases?: AliasMap;
  /**
   * The deployment's own type names, when they are not the D1 set (origin
   * mode: the types of `GET /api/cache/routes`). Each is then its own key
   * (`['products']`, `['products', '3']`), with no singular aliases and none
   * of the default map's entries; `aliases` still overrides.
   */
  readonly types?: readonly string[];
  /** Coalescing window in ms (default 30). */
  readonly windowMs?: number;
  /** Longest a change waits while a burst goes on, in ms (default 250). */
  readonly maxWaitMs?: number;
  /** Called after each merged burst was applied. */
  readonly onFlush?: (report: FlushReport) => void;
}

export function StreamInvalidator({ queryClient, aliases, types, windowMs, maxWaitMs, onFlush }: StreamInvalidatorProps): null {
  const client = useQueryClient(queryClient);
  const { subscribe } = useStream();
  // An inline `aliases={{...}}` is a new object on every render: compare by content.
  const aliasKey = JSON.stringify([aliases ?? {}, types ?? null]);
  const merged = useMemo(() => (types ? ownAliases(types, aliases) : withAliases(aliases)), [aliasKey]);
  const own = types !== undefined;
  const flushed = useRef(onFlush);
  flushed.current = onFlush;

  useEffect(() => {
    const invalidator = createInvalidator(client, {
      aliases: merged,
      ...(own && { singular: {} }),
      ...(windowMs !== undefined && { windowMs }),
      ...(maxWaitMs !== undefined && { maxWaitMs }),
      onFlush: (report) => flushed.current?.(report),
    });
    const unsubscribe = subscribe({
      event: (e, info) => invalidator.event(e, info),
      reset: () => invalidator.reset(),
    });
    return () => {
      unsubscribe();
      invalidator.dispose();
    };
  }, [client, subscribe, merged, own, windowMs, maxWaitMs]);
  return null;
}
