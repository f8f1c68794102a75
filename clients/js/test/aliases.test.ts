// The alias map and the plan of a batch: which entity queries are reset and
// which keys are invalidated, for singular and plural names alike.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allKeys, DEFAULT_ALIASES, keysOf, ownAliases, withAliases } from '../src/aliases.js';
import { isEntityKey, plan, type Signal } from '../src/invalidator.js';
import { parseAppUpdate } from '../src/events.js';
import { update } from './fakes.js';

const ev = (...args: Parameters<typeof update>): Signal => {
  const event = parseAppUpdate(JSON.stringify(update(...args)));
  assert.ok(event);
  return { kind: 'event', event };
};
const json = (x: unknown) => JSON.stringify(x);

test('singular and plural names map to the same keys', () => {
  for (const [singular, plural] of [['post', 'posts'], ['page', 'pages'], ['category', 'categories'],
    ['picture', 'pictures'], ['translation', 'translations'], ['type', 'types']] as const) {
    assert.deepEqual(keysOf(DEFAULT_ALIASES, singular), keysOf(DEFAULT_ALIASES, plural), singular);
  }
});

test('the original map: a post refreshes posts, pages and feed', () => {
  assert.deepEqual(keysOf(DEFAULT_ALIASES, 'post'), [['posts'], ['pages'], ['feed']]);
  assert.deepEqual(keysOf(DEFAULT_ALIASES, 'pages'), [['pages'], ['feed']]);
  assert.deepEqual(keysOf(DEFAULT_ALIASES, 'feed'), [['feed']]);
});

test('a type the map does not know is its own key', () => {
  assert.deepEqual(keysOf(DEFAULT_ALIASES, 'comments'), [['comments']]);
});

test('an app extends the map; an entry for a plural applies to its singular', () => {
  const map = withAliases({ posts: [['articles'], ['feed']], comments: [['comments'], ['feed']] });
  assert.deepEqual(keysOf(map, 'post'), [['articles'], ['feed']]);
  assert.deepEqual(keysOf(map, 'posts'), [['articles'], ['feed']]);
  assert.deepEqual(keysOf(map, 'comments'), [['comments'], ['feed']]);
  assert.deepEqual(keysOf(map, 'page'), [['pages'], ['feed']], 'the rest stays the original');
  const own = withAliases({ posts: [['articles']], post: [['article']] });
  assert.deepEqual(keysOf(own, 'post'), [['article']], 'an explicit singular wins');
});

test('a post update resets that post and invalidates posts, pages and feed once each', () => {
  const p = plan([ev(5, 'post', ['posts', 'feed'], '7')]);
  assert.deepEqual(p.entities, [{ key: ['posts'], id: '7' }]);
  assert.deepEqual(p.keys.map(json).sort(), [['feed'], ['pages'], ['posts']].map(json).sort());
  assert.equal(p.reset, false);
});

test('the event\'s closure decides: a type change reaches categories, posts, pages and feed', () => {
  const p = plan([ev(9, 'type', ['types', 'categories', 'posts', 'pages', 'feed'], '1')]);
  assert.deepEqual(p.entities, [{ key: ['types'], id: '1' }]);
  assert.deepEqual(p.keys.map(json).sort(), [['categories'], ['feed'], ['pages'], ['posts'], ['types']].map(json).sort());
});

test('a burst is planned once: duplicate keys and entities merge', () => {
  const batch = Array.from({ length: 50 }, (_, i) => ev(i + 1, i % 2 ? 'posts' : 'post', ['posts', 'feed'], i % 3 ? '7' : '8'));
  const p = plan(batch);
  assert.deepEqual(p.entities.map((e) => e.id).sort(), ['7', '8']);
  assert.equal(p.keys.length, 3);
});

test('a whole-type event resets no entity', () => {
  const p = plan([ev(3, 'pictures', ['pictures', 'posts', 'pages', 'feed'])]);
  assert.deepEqual(p.entities, []);
  assert.equal(p.keys.length, 4);
});

test('a reset invalidates every key the map knows', () => {
  const p = plan([{ kind: 'reset' }]);
  assert.equal(p.reset, true);
  assert.deepEqual(p.keys.map(json).sort(), allKeys(DEFAULT_ALIASES).map(json).sort());
  assert.deepEqual(p.keys.map(json).sort(),
    ['auth', 'categories', 'feed', 'pages', 'pictures', 'posts', 'translations', 'types'].map((k) => json([k])).sort());
});

test('entity keys: ids compare as strings, keys below the entity count too', () => {
  const target = { key: ['posts'], id: '7' };
  assert.equal(isEntityKey(['posts', 7], target), true);
  assert.equal(isEntityKey(['posts', '7'], target), true);
  assert.equal(isEntityKey(['posts', '7', 'comments'], target), true);
  assert.equal(isEntityKey(['posts'], target), false);
  assert.equal(isEntityKey(['posts', '8'], target), false);
  assert.equal(isEntityKey(['pages', '7'], target), false);
});

test('origin mode: a route table\'s types are their own keys, with no aliases and no default entries', () => {
  // A route table may name its types `post` and `pages`: neither is the D1
  // `posts` (whose keys would also refresh `pages` and `feed`).
  const map = ownAliases(['post', 'pages', 'products']);
  const p = plan([ev(4, 'post', ['post', 'products'], '3')], map, {});
  assert.deepEqual(p.entities, [{ key: ['post'], id: '3' }]);
  assert.deepEqual(p.keys.map(json).sort(), [['post'], ['products']].map(json).sort());
  assert.deepEqual(keysOf(map, 'pages', {}), [['pages']]);
  assert.deepEqual(keysOf(map, 'category', {}), [['category']], 'an unknown name is its own key, not its plural');
  assert.deepEqual(plan([{ kind: 'reset' }], map, {}).keys.map(json).sort(), [['pages'], ['post'], ['products']].map(json).sort(),
    'a reset refreshes every type of the table, and only those');
  assert.deepEqual(keysOf(ownAliases(['products'], { products: [['products'], ['catalog']] }), 'products', {}),
    [['products'], ['catalog']], 'an app\'s entry still overrides');
});
