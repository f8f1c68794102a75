// Origin mode's reads and writes, as a visitor's browser makes them through
// polycache: which route a path falls under (the Worker's own matching:
// literal segments equal, `:name` segments any one non-empty segment), the
// React Query key of its read, and what an answer shows (JSON, or the type
// and size of anything else).
//
// Reads and writes leave without cookies (`credentials: 'omit'`): the page
// is an anonymous visitor, so a route's `set-cookie` does not turn every
// later read into a credentialed one (which polycache would not cache), and
// a write carries exactly the `authorization` typed into the request box.
// Redirects are not followed (`redirect: 'manual'`), as polycache does not
// follow them: the origin's 302 is what the page shows.

import type { QueryKey } from '@tanstack/react-query';
import type { CacheRoute } from './mode.js';
import { recordServed } from './served.js';

export interface Match {
  readonly route: CacheRoute;
  /** The values of the route's `:name` segments. */
  readonly params: Readonly<Record<string, string>>;
}

/**
 * A path's segments as the Worker splits them: one leading and one trailing
 * `/` dropped, the rest split at `/` (so `//` leaves an empty segment, which
 * no route matches), segments kept as sent (not percent-decoded).
 */
function segments(path: string): string[] {
  const trimmed = path.replace(/^\//, '').replace(/\/$/, '');
  return trimmed === '' ? [] : trimmed.split('/');
}

/** The route `path` (with or without a query) falls under, or null. */
export function matchRoute(routes: readonly CacheRoute[], path: string): Match | null {
  const [pathname = ''] = path.split('?');
  const got = segments(pathname);
  for (const route of routes) {
    const want = segments(route.path);
    if (want.length !== got.length) continue;
    const params: Record<string, string> = {};
    const ok = want.every((w, i) => {
      const g = got[i] as string;
      if (!w.startsWith(':')) return w === g;
      params[w.slice(1)] = g;
      return g !== '';
    });
    if (ok) return { route, params };
  }
  return null;
}

/** Whether a route has no `:params`: the page reads it without being asked. */
export const isFixed = (route: CacheRoute): boolean => !route.path.includes('/:');

/** A route's path with every `:param` filled in (`/v1/products/3`): a first example to read or write. */
export const example = (route: CacheRoute | undefined): string => route?.path.replace(/:[^/]+/g, '3') ?? '/';

/**
 * The query key of a read: the route's type first, so that an `app-update`
 * of that type refetches it; then the entity id when the route names one
 * (`['products', '3', ...]`, which an update of product 3 resets, as the
 * blog's `['posts', '3']`); then the path, which tells the reads apart.
 */
export function readKey({ route, params }: Match, path: string): QueryKey {
  const id = route.id !== null ? params[route.id] : undefined;
  return id !== undefined ? [route.type, id, path] : [route.type, path];
}

/** An answer as the page shows it. */
export interface Answer {
  readonly status: number;
  /** `content-type`, or '' when absent. */
  readonly type: string;
  /** Body bytes. */
  readonly size: number;
  /** The parsed body when it is JSON; undefined otherwise. */
  readonly json?: unknown;
  /** A redirect, not followed: the browser hides its status (0 here) and location. */
  readonly redirect?: true;
  /** `x-invalidation-event` of a write. */
  readonly event: string | null;
}

const isJson = (type: string): boolean => /^application\/([a-z0-9.+-]*\+)?json\b/i.test(type);

async function answer(res: Response): Promise<Answer> {
  const event = res.headers.get('x-invalidation-event');
  if (res.type === 'opaqueredirect') return { status: 0, type: '', size: 0, event, redirect: true };
  const type = res.headers.get('content-type') ?? '';
  const bytes = new Uint8Array(await res.arrayBuffer());
  const base = { status: res.status, type, size: bytes.byteLength, event };
  if (!isJson(type)) return base;
  try {
    return { ...base, json: JSON.parse(new TextDecoder().decode(bytes)) };
  } catch {
    return base;
  }
}

/** GET `path` through polycache; how it was served goes to served.ts. */
export async function read(path: string, signal?: AbortSignal): Promise<Answer> {
  const res = await fetch(path, { signal: signal ?? null, credentials: 'omit', redirect: 'manual' });
  recordServed(path, res.headers);
  return answer(res);
}

export const WRITE_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type WriteMethod = (typeof WRITE_METHODS)[number];

export interface Write {
  readonly method: WriteMethod;
  readonly path: string;
  /** JSON text, or '' for no body. */
  readonly body: string;
  /** The `authorization` header's value, or '' for none. */
  readonly authorization: string;
}

/** Sends a write through polycache. Throws (before sending) when the body is not JSON. */
export async function send(w: Write): Promise<Answer> {
  const body = w.body.trim();
  if (body !== '') JSON.parse(body);
  const headers: Record<string, string> = {};
  if (body !== '') headers['content-type'] = 'application/json';
  if (w.authorization.trim() !== '') headers.authorization = w.authorization.trim();
  const res = await fetch(w.path, {
    method: w.method,
    headers,
    ...(body !== '' && { body }),
    credentials: 'omit',
    redirect: 'manual',
  });
  return answer(res);
}
