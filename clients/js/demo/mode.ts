// Which API the deployment serves, from `GET /api/cache/routes`: its own
// content API on D1 (the blog views), or an origin's behind its route table
// (the origin views). Asked once, before the page renders, since the two
// pages share nothing but the stream and the activity log.

export interface CacheRoute {
  /** A path pattern with `:name` segments, e.g. `/v1/products/:id`. */
  readonly path: string;
  /** The type its reads are cached and invalidated under. */
  readonly type: string;
  /** The path parameter that is the entity id, if any. */
  readonly id: string | null;
  /** Whether credentialed requests may share its cache entries. */
  readonly public: boolean;
  /** Request headers put in its cache key. */
  readonly vary: readonly string[];
  /** The query parameters it caches by; null: every query is its own entry. */
  readonly query: readonly string[] | null;
}

export type Mode = { readonly mode: 'd1' } | { readonly mode: 'origin'; readonly routes: readonly CacheRoute[] };

const D1: Mode = { mode: 'd1' };

function route(value: unknown): CacheRoute | null {
  const r = value as Partial<Record<keyof CacheRoute, unknown>> | null;
  if (!r || typeof r.path !== 'string' || typeof r.type !== 'string') return null;
  return {
    path: r.path,
    type: r.type,
    id: typeof r.id === 'string' ? r.id : null,
    public: r.public === true,
    vary: Array.isArray(r.vary) ? r.vary.filter((h): h is string => typeof h === 'string') : [],
    query: Array.isArray(r.query) ? r.query.filter((q): q is string => typeof q === 'string') : null,
  };
}

/**
 * The deployment's mode. A Worker that predates the route (404) or an answer
 * that is not the expected shape is the D1 blog, as before origin mode.
 */
export async function loadMode(): Promise<Mode> {
  try {
    const res = await fetch('/api/cache/routes');
    if (!res.ok) return D1;
    const body = (await res.json()) as { mode?: unknown; routes?: unknown };
    if (body.mode !== 'origin' || !Array.isArray(body.routes)) return D1;
    return { mode: 'origin', routes: body.routes.map(route).filter((r): r is CacheRoute => r !== null) };
  } catch {
    return D1;
  }
}
