// From the type names in events to React Query keys (the original app's
// StreamInvalidator map). The Worker's own routes may name a type in the
// singular (`post`) while mirrors and the closure use the plural (`posts`):
// both map to the same keys, so an app writes its keys once.

import type { QueryKey } from '@tanstack/react-query';

/**
 * Event type name -> the query keys to refresh when that type is stale. The
 * first key of an entry is where the type's own entities live: the query of
 * entity `7` of `posts` is `[...firstKey, '7']` (ids compare as strings, so
 * `['posts', 7]` matches too). Every key is matched as a prefix, as React
 * Query's `invalidateQueries({ queryKey })` does.
 */
export type AliasMap = Readonly<Record<string, readonly QueryKey[]>>;

/** Singular aliases of the canonical plural types (README, "API"). */
export const SINGULAR_ALIASES: Readonly<Record<string, string>> = {
  post: 'posts',
  page: 'pages',
  category: 'categories',
  picture: 'pictures',
  translation: 'translations',
  type: 'types',
};

const canonicalKeys: AliasMap = {
  // The original app "resets the specific post ID in React Query, and forcefully
  // refetches the overarching posts, pages, and feed caches" -- its pages
  // render posts, so a post change refreshes page queries as well.
  posts: [['posts'], ['pages'], ['feed']],
  pages: [['pages'], ['feed']],
  categories: [['categories']],
  pictures: [['pictures']],
  translations: [['translations']],
  types: [['types']],
  feed: [['feed']],
  auth: [['auth']],
};

/** The original map: every canonical type and its singular alias. */
export const DEFAULT_ALIASES: AliasMap = Object.freeze({
  ...canonicalKeys,
  ...Object.fromEntries(
    Object.entries(SINGULAR_ALIASES).map(([singular, plural]) => [singular, canonicalKeys[plural] ?? [[plural]]]),
  ),
});

/**
 * The default map extended (or overridden, entry by entry) by an app's own.
 * An entry given for a plural type also applies to its singular alias unless
 * the app names that alias itself, so `{ posts: [...] }` is enough.
 */
export function withAliases(extra: AliasMap = {}): AliasMap {
  const out: Record<string, readonly QueryKey[]> = { ...DEFAULT_ALIASES, ...extra };
  for (const [singular, plural] of Object.entries(SINGULAR_ALIASES)) {
    const forPlural = extra[plural];
    if (forPlural && !(singular in extra)) out[singular] = forPlural;
  }
  return Object.freeze(out);
}

/**
 * A map for types that are not the D1 set (origin mode, whose types are the
 * names of its route table: `GET /api/cache/routes`): each type is its own
 * key, with none of the original map's entries, then `extra` overriding
 * entry by entry. Use it with no singular aliases (`singular: {}`), since a
 * route table's `post` and `posts` are two types.
 */
export function ownAliases(types: Iterable<string>, extra: AliasMap = {}): AliasMap {
  const own = Object.fromEntries([...types].map((type) => [type, [[type]] as const]));
  return Object.freeze({ ...own, ...extra });
}

/**
 * The query keys of one type name; a name the map does not know is its own
 * key (or its plural's, through `singular`).
 */
export function keysOf(
  aliases: AliasMap,
  type: string,
  singular: Readonly<Record<string, string>> = SINGULAR_ALIASES,
): readonly QueryKey[] {
  const plural = Object.hasOwn(singular, type) ? singular[type] : undefined;
  return aliases[type] ?? (plural !== undefined ? aliases[plural] : undefined) ?? [[plural ?? type]];
}

/** Every distinct key the map knows: what a `reset` invalidates. */
export function allKeys(aliases: AliasMap): QueryKey[] {
  return uniqueKeys(Object.values(aliases).flat());
}

/** The keys without duplicates (compared as JSON), in first-seen order. */
export function uniqueKeys(keys: Iterable<QueryKey>): QueryKey[] {
  const seen = new Map<string, QueryKey>();
  for (const key of keys) {
    const hash = JSON.stringify(key);
    if (!seen.has(hash)) seen.set(hash, key);
  }
  return [...seen.values()];
}
