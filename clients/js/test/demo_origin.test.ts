// The demo's origin mode (demo/origin.ts): which route a typed path falls
// under, as the Worker decides (crates/core's RouteTable::find), and the
// query key of its read, which the invalidator must reach for an
// `app-update` of the route's type. The browser test drives the page; these
// pin the cases a page with the stand-in origin does not show (a trailing
// slash, `//`, a query).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { partialMatchKey } from '@tanstack/react-query';
import { ownAliases } from '../src/aliases.js';
import { isEntityKey, plan } from '../src/invalidator.js';
import { matchRoute, readKey } from '../demo/origin.js';
import type { CacheRoute } from '../demo/mode.js';

const route = (path: string, type: string, id: string | null = null): CacheRoute => ({ path, type, id, public: false, vary: [], query: null });
const ROUTES = [
  route('/v1/products', 'products'),
  route('/v1/products/:id', 'products', 'id'),
  route('/v1/products/:id/reviews', 'reviews'),
];

test('a path matches as the Worker matches it: literal segments, one segment per :param, one trailing slash', () => {
  assert.deepEqual(matchRoute(ROUTES, '/v1/products/3')?.params, { id: '3' });
  assert.equal(matchRoute(ROUTES, '/v1/products/3/reviews')?.route.type, 'reviews');
  assert.equal(matchRoute(ROUTES, '/v1/products/')?.route.path, '/v1/products');
  assert.equal(matchRoute(ROUTES, '/v1/products?page=2')?.route.path, '/v1/products', 'the query is not part of the path');
  assert.equal(matchRoute(ROUTES, '/v1//products'), null, 'an empty segment matches nothing');
  assert.equal(matchRoute(ROUTES, '/v1/products//reviews'), null, 'a :param is never empty');
  assert.equal(matchRoute(ROUTES, '/v1/version'), null);
  assert.deepEqual(matchRoute(ROUTES, '/v1/products/a%2Fb')?.params, { id: 'a%2Fb' }, 'kept as sent');
});

test("a read's key starts with its route's type: an update of product 3 resets its read and invalidates the list's", () => {
  const one = readKey(matchRoute(ROUTES, '/v1/products/3')!, '/v1/products/3');
  const list = readKey(matchRoute(ROUTES, '/v1/products')!, '/v1/products');
  const reviews = readKey(matchRoute(ROUTES, '/v1/products/3/reviews')!, '/v1/products/3/reviews');
  assert.deepEqual([one, list, reviews], [['products', '3', '/v1/products/3'], ['products', '/v1/products'], ['reviews', '/v1/products/3/reviews']]);
  const p = plan(
    [{ kind: 'event', event: { id: 1, type: 'products', types: ['products', 'reviews'], entityId: '3', action: 'update', origin: 'x', ts: 0 } }],
    ownAliases(['products', 'reviews']),
    {},
  );
  assert.ok(p.entities.some((target) => isEntityKey(one, target)), 'product 3 is reset');
  assert.ok(!p.entities.some((target) => isEntityKey(list, target)), 'the list is not an entity of product 3');
  for (const key of [list, reviews]) assert.ok(p.keys.some((k) => partialMatchKey(key, k)), `${JSON.stringify(key)} is invalidated`);
});
