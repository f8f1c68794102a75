// POST /api/cache/invalidate: invalidating a type reaches exactly its
// closure in the dependency graph (seen in the answer, in the SSE event and
// in which cached reads become misses), a repeated delivery of one
// (origin, eventId) has one effect, and the instance's own origin is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { ADMIN, SERVICE } from '../common/accounts.mjs';
import { login, read, post, status, expectError, invalidate, sorted } from '../common/api.mjs';
import { connect } from '../common/sse.mjs';

const INSTANCE = 'closure-test';
const LISTS = ['posts', 'pages', 'categories', 'pictures', 'translations', 'types', 'feed'];
let worker;
let service;
let s;

before(async () => {
  worker = await startWorker({ vars: { INSTANCE_ID: INSTANCE } });
  service = await login(worker, SERVICE);
  s = await connect(`${worker.url}/api/stream`);
});
after(async () => {
  s?.close();
  await worker?.dispose();
});

/** Reads every list until it is a hit. */
async function warmAll() {
  for (const name of LISTS) {
    await read(worker, `/api/${name}`);
    assert.equal((await read(worker, `/api/${name}`)).cache, 'hit', `/api/${name} is cached`);
  }
}

/** Which lists are now misses (reading each once, which re-fills it). */
async function misses() {
  const out = [];
  for (const name of LISTS) {
    const { cache } = await read(worker, `/api/${name}`);
    assert.ok(cache === 'hit' || cache === 'miss', `x-cache of /api/${name}: ${cache}`);
    if (cache === 'miss') out.push(name);
  }
  return sorted(out);
}

const CLOSURES = [
  { type: 'types', types: ['types', 'categories', 'posts', 'pages', 'feed'] },
  { type: 'pictures', types: ['pictures', 'posts', 'pages', 'feed'] },
  { type: 'auth', types: ['auth'] },
  { type: 'categories', types: ['categories', 'posts', 'pages', 'feed'] },
  { type: 'translations', types: ['translations', 'pages', 'feed'] },
  { type: 'posts', types: ['posts', 'feed'] },
];

for (const { type, types } of CLOSURES) {
  test(`invalidating ${type} reaches exactly ${types.join(', ')}`, { timeout: 30_000 }, async () => {
    await warmAll();
    const answer = await invalidate(worker, service, { type });
    assert.deepEqual(sorted(answer.types), sorted(types), 'types in the answer');
    const ev = await s.waitForId(answer.eventId);
    assert.equal(ev.id, String(answer.eventId), 'SSE id is the answer\'s eventId');
    assert.equal(ev.json.type, type);
    assert.deepEqual(sorted(ev.json.types), sorted(types), 'types in the event');
    assert.equal(ev.json.origin, INSTANCE);
    assert.deepEqual(await misses(), sorted(types.filter((t) => LISTS.includes(t))), 'the lists that became misses');
  });
}

test('a singular alias is accepted: type keeps the given name, types are canonical, entityId is a string', { timeout: 30_000 }, async () => {
  const answer = await invalidate(worker, service, { type: 'picture', id: 3, action: 'update' });
  assert.deepEqual(sorted(answer.types), sorted(['pictures', 'posts', 'pages', 'feed']));
  const ev = await s.waitForId(answer.eventId);
  assert.equal(ev.json.type, 'picture');
  assert.equal(ev.json.entityId, '3');
  assert.equal(ev.json.action, 'update');
});

test('an admin may invalidate too', { timeout: 30_000 }, async () => {
  const admin = await login(worker, ADMIN);
  const answer = await invalidate(worker, admin, { type: 'auth' });
  assert.deepEqual(answer.types, ['auth']);
  await s.waitForId(answer.eventId);
});

test('the same (origin, eventId) delivered twice has one effect: same eventId, one event, one invalidation', { timeout: 30_000 }, async () => {
  const delivery = { type: 'posts', id: 2, action: 'update', mirror: false, origin: 'other-instance', eventId: 4242 };
  const first = await invalidate(worker, service, delivery);
  await s.waitForId(first.eventId);
  await read(worker, '/api/posts');
  assert.equal((await read(worker, '/api/posts')).cache, 'hit', 'posts cached after the first delivery');
  const second = await invalidate(worker, service, delivery);
  assert.equal(second.eventId, first.eventId, 'the repeated delivery is acknowledged with the first eventId');
  assert.equal((await read(worker, '/api/posts')).cache, 'hit', 'the repeated delivery did not invalidate again');
  // A later event proves the stream is past the point where a duplicate would be.
  const later = await invalidate(worker, service, { type: 'auth' });
  await s.waitForId(later.eventId);
  assert.equal(s.ofType().filter((e) => e.json.id === first.eventId).length, 1, 'one event for the delivery');
  assert.equal(s.ofType().filter((e) => e.json.id > first.eventId && e.json.id < later.eventId).length, 0);
  // Another origin with the same eventId is a different delivery.
  const other = await invalidate(worker, service, { ...delivery, origin: 'third-instance' });
  assert.notEqual(other.eventId, first.eventId, 'a different origin is a new event');
  await s.waitForId(other.eventId);
});

test('an invalidation claiming this instance as its origin is refused, with no event', { timeout: 30_000 }, async () => {
  const { lastEventId } = await status(worker);
  const res = await post(worker, '/api/cache/invalidate', { type: 'posts', mirror: false, origin: INSTANCE, eventId: 1 }, { token: service });
  const error = expectError(res, 409, 'conflict', 'own origin');
  assert.match(error.message, /origin/);
  assert.equal((await status(worker)).lastEventId, lastEventId, 'no event was made');
});

test('an id with newlines cannot inject lines into the stream: refused, or carried JSON-escaped', { timeout: 30_000 }, async () => {
  const id = '1\n\nevent: reset\nid: 999999\ndata: {}';
  const res = await post(worker, '/api/cache/invalidate', { type: 'posts', id }, { token: service });
  if (res.status === 200) {
    const ev = await s.waitForId(res.json.eventId);
    assert.equal(ev.json.entityId, id, 'the id arrives intact inside the JSON data');
  } else {
    expectError(res, [400, 422], undefined, 'an id with newlines');
  }
  const sentinel = await invalidate(worker, service, { type: 'auth' });
  await s.waitForId(sentinel.eventId);
  assert.equal(s.ofType('reset').length, 0, 'no injected reset');
  assert.ok(!s.events.some((e) => e.id === '999999'), 'no injected id');
});
