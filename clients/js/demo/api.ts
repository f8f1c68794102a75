// The demo's calls to the Worker's HTTP API (same origin), typed after what
// the routes return (README, "API"), and the query keys they are
// cached under: the default alias map's keys, so StreamInvalidator needs no
// configuration. Every answer's x-cache and x-polycache-edge go to
// served.ts.

import { recordServed } from './served.js';

export interface CategoryRef {
  readonly id: number;
  readonly name: string;
}

export interface Category extends CategoryRef {
  readonly typeId: number;
}

export type Kind = 'post' | 'page';

export interface FeedItem {
  readonly kind: Kind;
  readonly id: number;
  readonly title: string;
  readonly body: string;
  readonly slug?: string;
  readonly categoryId: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly category: CategoryRef | null;
}

export interface Entry {
  readonly id: number;
  readonly title: string;
  readonly body: string;
  readonly slug?: string;
  readonly categoryId: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface Session {
  readonly token: string;
  readonly email: string;
  readonly role: string;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
}

export interface PostFields {
  readonly title: string;
  readonly body: string;
  readonly categoryId: number | null;
}

/** An error answer of the API: `{"error": {"code", "message"}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const keys = {
  feed: ['feed'] as const,
  entry: (kind: Kind, id: number | string) => [`${kind}s`, String(id)] as const,
  categories: ['categories'] as const,
};

/** The paths of the reads the page shows, also the keys of how each was served (served.ts). */
export const paths = {
  feed: '/api/feed',
  entry: (kind: Kind, id: number | string) => `/api/${kind}s/${encodeURIComponent(String(id))}`,
  categories: '/api/categories',
};

async function call<T>(path: string, init: RequestInit = {}): Promise<{ data: T; eventId: number | null }> {
  const res = await fetch(path, init);
  recordServed(path, res.headers);
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const err = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(res.status, err?.code ?? 'http_error', err?.message ?? `${res.status} ${res.statusText}`);
  }
  const eventId = res.headers.get('x-invalidation-event');
  return { data: body as T, eventId: eventId ? Number(eventId) : null };
}

const json = (method: string, body: unknown, session?: Session): RequestInit => ({
  method,
  headers: {
    'content-type': 'application/json',
    ...(session && { authorization: `Bearer ${session.token}` }),
  },
  body: JSON.stringify(body),
});

export const api = {
  async feed(signal?: AbortSignal): Promise<FeedItem[]> {
    return (await call<{ items: FeedItem[] }>(paths.feed, signal ? { signal } : {})).data.items;
  },
  async entry(kind: Kind, id: string, signal?: AbortSignal): Promise<Entry> {
    return (await call<Entry>(paths.entry(kind, id), signal ? { signal } : {})).data;
  },
  async categories(signal?: AbortSignal): Promise<Category[]> {
    return (await call<Category[]>(paths.categories, signal ? { signal } : {})).data;
  },
  async login(email: string, password: string): Promise<Session> {
    const { data } = await call<{ token: string; expiresAt: number; role: string }>(
      '/api/auth/login',
      json('POST', { email, password }),
    );
    return { token: data.token, expiresAt: data.expiresAt, role: data.role, email };
  },
  /** Creates (id null) or updates a post; returns it and the event id of the write. */
  async savePost(session: Session, id: number | null, fields: PostFields) {
    return id === null
      ? call<Entry>('/api/posts', json('POST', fields, session))
      : call<Entry>(`/api/posts/${id}`, json('PATCH', fields, session));
  },
};
