// What an event does to a React Query cache (the original app's StreamInvalidator,
// without React): for an event about one entity, reset that entity's query;
// then invalidate the queries of every type in the event's closure, through
// the alias map; on `reset`, invalidate every key the map knows.
//
// Two rules keep a burst from becoming a refetch storm:
//  - Events are coalesced (coalescer.ts): a burst is planned as one batch, so
//    each matching query is reset or invalidated once per burst; a replay
//    after a reconnect is one burst however the network splits it.
//  - A query that is fetching when its invalidation comes is not refetched
//    at once (that would cancel the fetch under way, or with
//    `cancelRefetch: false` be deduplicated into it and lost, although that
//    fetch may have started before the write); it is refetched once after
//    its fetch settles, however many invalidations came meanwhile.

import { partialMatchKey, type Query, type QueryClient, type QueryKey } from '@tanstack/react-query';
import { allKeys, DEFAULT_ALIASES, keysOf, SINGULAR_ALIASES, uniqueKeys, type AliasMap } from './aliases.js';
import { createCoalescer } from './coalescer.js';
import type { Clock } from './clock.js';
import type { AppUpdate } from './events.js';

/** One entity whose query is reset: `[...key, id]` (and any key below it). */
export interface EntityTarget {
  readonly key: QueryKey;
  readonly id: string;
}

/** What one batch of events asks of the cache. */
export interface Plan {
  /** Entity queries to reset (data dropped, refetched if on screen). */
  readonly entities: readonly EntityTarget[];
  /** Key prefixes to invalidate. */
  readonly keys: readonly QueryKey[];
  /** True when the batch held a `reset`. */
  readonly reset: boolean;
}

/** An item of a batch: an `app-update`, or a `reset` of the stream. */
export type Signal = { readonly kind: 'event'; readonly event: AppUpdate } | { readonly kind: 'reset' };

/** Plans a batch: pure, so the mapping is tested without a QueryClient. */
export function plan(
  batch: readonly Signal[],
  aliases: AliasMap = DEFAULT_ALIASES,
  singular: Readonly<Record<string, string>> = SINGULAR_ALIASES,
): Plan {
  const entities = new Map<string, EntityTarget>();
  const keys: QueryKey[] = [];
  let reset = false;
  for (const signal of batch) {
    if (signal.kind === 'reset') {
      reset = true;
      continue;
    }
    const { event } = signal;
    const own = keysOf(aliases, event.type, singular)[0];
    if (event.entityId !== null && own) {
      entities.set(JSON.stringify([own, event.entityId]), { key: own, id: event.entityId });
    }
    for (const type of [event.type, ...event.types]) keys.push(...keysOf(aliases, type, singular));
  }
  if (reset) keys.push(...allKeys(aliases));
  return { entities: [...entities.values()], keys: uniqueKeys(keys), reset };
}

/** Whether a query key is the entity's key or below it; ids compare as strings. */
export function isEntityKey(queryKey: QueryKey, target: EntityTarget): boolean {
  const n = target.key.length;
  return queryKey.length > n && partialMatchKey(queryKey, target.key) && String(queryKey[n]) === target.id;
}

/** What a flush did, for logs and tests. */
export interface FlushReport {
  readonly plan: Plan;
  /** Query keys reset now. */
  readonly reset: readonly QueryKey[];
  /** Query keys invalidated now (active ones refetch). */
  readonly invalidated: readonly QueryKey[];
  /** Query keys that were fetching: each refetches once when its fetch settles. */
  readonly deferred: readonly QueryKey[];
  /** How many events (and resets) the batch merged. */
  readonly signals: number;
}

export interface InvalidatorOptions {
  /** Event type -> query keys; the original map (DEFAULT_ALIASES) by default. */
  readonly aliases?: AliasMap;
  /** Singular -> plural type names (SINGULAR_ALIASES by default; `{}` where types have no aliases, as in origin mode). */
  readonly singular?: Readonly<Record<string, string>>;
  /** Coalescing window (see coalescer.ts); 0 still merges what arrives in one task. */
  readonly windowMs?: number;
  readonly maxWaitMs?: number;
  readonly clock?: Clock;
  readonly onFlush?: (report: FlushReport) => void;
}

export interface Invalidator {
  /** An `app-update` arrived; `replaying`: more of a replay is due (see stream.ts), keep the batch open. */
  event(event: AppUpdate, info?: { readonly replaying?: boolean }): void;
  /** A `reset` arrived: everything the map knows is stale. */
  reset(): void;
  /** Applies what is pending now. */
  flush(): void;
  /** Applies what is pending, then stops listening. */
  dispose(): void;
}

export function createInvalidator(client: QueryClient, options: InvalidatorOptions = {}): Invalidator {
  const aliases = options.aliases ?? DEFAULT_ALIASES;
  const cache = client.getQueryCache();
  // Queries (by hash) that were fetching when invalidated: refetch when settled.
  const deferred = new Set<string>();
  let disposed = false;

  const refetchSettled = (query: Query): void => {
    if (disposed || !deferred.has(query.queryHash) || query.state.fetchStatus === 'fetching') return;
    deferred.delete(query.queryHash);
    void client.invalidateQueries({ queryKey: query.queryKey, exact: true }, { cancelRefetch: false });
  };

  const unsubscribe = cache.subscribe((notice) => {
    if (notice.type === 'removed') {
      deferred.delete(notice.query.queryHash);
    } else if (notice.type === 'updated' && deferred.has(notice.query.queryHash)) {
      const { query } = notice;
      // Out of the cache's notification, which is still delivering this
      // state change to other listeners.
      if (query.state.fetchStatus !== 'fetching') queueMicrotask(() => refetchSettled(query));
    }
  });

  const apply = (batch: Signal[]): void => {
    const p = plan(batch, aliases, options.singular);
    const toReset = new Set<Query>();
    const toInvalidate = new Set<Query>();
    const waiting: QueryKey[] = [];
    for (const query of cache.getAll()) {
      const entity = p.entities.some((target) => isEntityKey(query.queryKey, target));
      if (!entity && !p.keys.some((key) => partialMatchKey(query.queryKey, key))) continue;
      if (query.state.fetchStatus === 'fetching') {
        // Stale for any observer that looks before the refetch.
        query.invalidate();
        deferred.add(query.queryHash);
        waiting.push(query.queryKey);
      } else {
        (entity ? toReset : toInvalidate).add(query);
      }
    }
    if (toReset.size > 0) void client.resetQueries({ predicate: (q) => toReset.has(q) });
    if (toInvalidate.size > 0) {
      void client.invalidateQueries({ predicate: (q) => toInvalidate.has(q) }, { cancelRefetch: false });
    }
    options.onFlush?.({
      plan: p,
      reset: [...toReset].map((q) => q.queryKey),
      invalidated: [...toInvalidate].map((q) => q.queryKey),
      deferred: waiting,
      signals: batch.length,
    });
  };

  const coalescer = createCoalescer<Signal>({
    flush: apply,
    ...(options.windowMs !== undefined && { windowMs: options.windowMs }),
    ...(options.maxWaitMs !== undefined && { maxWaitMs: options.maxWaitMs }),
    ...(options.clock !== undefined && { clock: options.clock }),
  });

  return {
    event(event, info) {
      if (!disposed) coalescer.push({ kind: 'event', event }, { hold: info?.replaying === true });
    },
    reset() {
      if (!disposed) coalescer.push({ kind: 'reset' });
    },
    flush() {
      coalescer.flush();
    },
    dispose() {
      if (disposed) return;
      coalescer.dispose();
      disposed = true;
      unsubscribe();
      deferred.clear();
    },
  };
}
