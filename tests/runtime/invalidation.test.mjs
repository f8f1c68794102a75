// The original app's flow on one instance: reads are cached, an editor's write
// answers with the id of its invalidation event, every SSE client hears of it
// with the right types, and a read right after the event sees the write.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';
import { EDITOR, SERVICE } from '../common/accounts.mjs';
import {
  login, read, get, patch, post, del, status, expectStatus, expectError, eventIdOf, itemsOf, invalidate, sorted,
} from '../common/api.mjs';
import { streamPool } from '../common/sse.mjs';

const INSTANCE = 'invalidation-test';
let worker;
let editor;
let service;
const streams = streamPool(() => worker.url);
const stream = (query, headers) => streams.open(query, headers);

before(async () => {
  worker = await startWorker({ vars: { INSTANCE_ID: INSTANCE } });
  editor = await login(worker, EDITOR);
  service = await login(worker, SERVICE);
});
after(async () => {
  streams.closeAll();
  await worker?.dispose();
});

/** Asserts the app-update event of a write: same id everywhere, types, entity, action, origin. */
function assertWriteEvent(ev, { eventId, type, entityId, action, types }) {
  assert.equal(ev.type, 'app-update');
  assert.equal(ev.id, String(eventId), 'the SSE id: line is the write\'s x-invalidation-event');
  assert.equal(ev.json?.id, eventId, 'data.id is the write\'s x-invalidation-event');
  assert.equal(ev.json.type, type);
  assert.deepEqual(sorted(ev.json.types), sorted(types));
  assert.equal(ev.json.entityId, entityId);
  assert.equal(ev.json.action, action);
  assert.equal(ev.json.origin, INSTANCE);
  assert.equal(typeof ev.json.ts, 'number');
  assert.ok(Math.abs(ev.json.ts - Date.now()) < 60_000, `ts ${ev.json.ts} is about now`);
}

test('the stream answers with SSE headers and opens with retry and a hello; a fresh hello carries the current id, a resumed one none', { timeout: 30_000 }, async () => {
  const { lastEventId } = await status(worker);
  const s = await stream();
  assert.equal(s.status, 200);
  assert.match(s.headers.get('content-type'), /^text\/event-stream/);
  assert.deepEqual(sorted(s.headers.get('cache-control').split(',').map((v) => v.trim())), ['no-cache', 'no-transform']);
  assert.equal(s.headers.get('x-accel-buffering'), 'no');
  assert.match(s.head, /^retry: ?[0-9]+\r?\n/, `the stream starts with retry: ${JSON.stringify(s.head.slice(0, 80))}`);
  assert.ok(s.retry > 0, 'retry is a positive number of ms');
  const hello = s.events[0];
  assert.equal(hello.type, 'hello', 'the first event is hello');
  assert.equal(hello.json?.lastEventId, lastEventId, 'hello carries the current last event id');
  assert.equal(hello.id, String(lastEventId), 'a fresh hello carries it as its SSE id too: a plain EventSource resumes from there');
  // Resuming, the replay carries the ids: an id on hello would move the
  // client's Last-Event-ID past replayed events it has not received yet.
  const resumed = await stream('', { 'last-event-id': String(Math.max(0, lastEventId - 1)) });
  assert.equal(resumed.events[0].type, 'hello');
  assert.equal(resumed.events[0].id, undefined, 'a resumed hello carries no id: line');
});

test('a second read of a list or an item is a hit; the singular alias reads the same entity', { timeout: 30_000 }, async () => {
  for (const path of ['/api/posts', '/api/pages', '/api/categories', '/api/feed', '/api/posts/1']) {
    const first = await read(worker, path);
    const second = await read(worker, path);
    assert.equal(first.cache, 'miss', `first read of ${path} on a fresh instance`);
    assert.equal(second.cache, 'hit', `second read of ${path}`);
    assert.deepEqual(second.json, first.json, `a hit of ${path} returns what the miss returned`);
  }
  const posts = itemsOf((await read(worker, '/api/posts')).json);
  assert.ok(posts.length >= 3, 'the demo data has posts');
  assert.ok(posts.every((p) => Number.isInteger(p.id) && typeof p.title === 'string'), 'posts have id and title');
  const plural = await read(worker, '/api/posts/1');
  const singular = await read(worker, '/api/post/1');
  assert.deepEqual(singular.json, plural.json, '/api/post/1 is /api/posts/1');
  assert.equal(plural.json.id, 1);
  assert.ok(/hit|miss/.test(singular.cache), `x-cache on the alias: ${singular.cache}`);
  const feed = (await read(worker, '/api/feed')).json;
  const pages = itemsOf((await read(worker, '/api/pages')).json);
  assert.equal(feed.items.length, posts.length + pages.length, 'the feed has every post and page');
  assert.deepEqual(sorted(feed.items.map((i) => i.kind)), sorted([...posts.map(() => 'post'), ...pages.map(() => 'page')]));
  const times = feed.items.map((i) => i.createdAt);
  assert.ok(times.every((t, i) => Number.isFinite(t) && (i === 0 || times[i - 1] >= t)), `newest first: ${times}`);
  for (const item of feed.items.filter((i) => i.categoryId !== null)) {
    assert.equal(item.category?.id, item.categoryId, `the feed carries the category of ${item.kind} ${item.id}`);
  }
});

test('PATCH by an editor: 200, an app-update with posts and feed reaches every client, and reads right after see the new value', { timeout: 30_000 }, async () => {
  const before = (await read(worker, '/api/posts/2')).json;
  await read(worker, '/api/posts'); await read(worker, '/api/feed');
  assert.equal((await read(worker, '/api/posts/2')).cache, 'hit', 'the item is cached before the write');
  assert.equal((await read(worker, '/api/posts')).cache, 'hit', 'the list is cached before the write');
  assert.equal((await read(worker, '/api/feed')).cache, 'hit', 'the feed is cached before the write');
  const clients = [await stream(), await stream(), await stream()];
  const title = `patched at ${Date.now()}`;
  const res = await patch(worker, '/api/posts/2', { title }, { token: editor });
  const body = expectStatus(res, 200, 'PATCH /api/posts/2');
  assert.equal(body.id, 2);
  assert.equal(body.title, title, 'the answer is the updated post');
  assert.equal(body.body, before.body, 'fields not in the PATCH are kept');
  const eventId = eventIdOf(res);
  for (const c of clients) {
    const ev = await c.waitForId(eventId);
    assertWriteEvent(ev, { eventId, type: 'posts', entityId: '2', action: 'update', types: ['posts', 'feed'] });
  }
  // Right after the event (no pause): the item, the list and the feed are new.
  const item = await read(worker, '/api/posts/2');
  assert.equal(item.json.title, title, 'the item after the event');
  assert.equal(item.cache, 'miss', 'the first read after the write is a miss');
  const list = itemsOf((await read(worker, '/api/posts')).json);
  assert.equal(list.find((p) => p.id === 2)?.title, title, 'the list after the event');
  const feed = (await read(worker, '/api/feed')).json.items;
  assert.ok(feed.some((i) => i.title === title), 'the feed after the event has the new title');
  assert.ok(!feed.some((i) => i.title === before.title), 'and not the old one');
  assert.equal((await read(worker, '/api/posts/2')).cache, 'hit', 'the new value is cached again');
  // Exactly one event for the write on each stream.
  for (const c of clients) assert.equal(c.ofType().filter((e) => e.json.id === eventId).length, 1);
});

test('a write through the singular alias keeps its name in type and the plural in types', { timeout: 30_000 }, async () => {
  const s = await stream();
  const res = await patch(worker, '/api/post/3', { body: `body at ${Date.now()}` }, { token: editor });
  expectStatus(res, 200, 'PATCH /api/post/3');
  const eventId = eventIdOf(res);
  assertWriteEvent(await s.waitForId(eventId), { eventId, type: 'post', entityId: '3', action: 'update', types: ['posts', 'feed'] });
});

test('POST creates (201, action create) and DELETE deletes (204, action delete); reads follow', { timeout: 30_000 }, async () => {
  const s = await stream();
  await read(worker, '/api/posts'); await read(worker, '/api/posts');
  const title = `created at ${Date.now()}`;
  const created = await post(worker, '/api/posts', { title, body: 'new body', categoryId: null, pictureId: null }, { token: editor });
  const entity = expectStatus(created, 201, 'POST /api/posts');
  assert.ok(Number.isInteger(entity.id) && entity.id > 0, `the new post has an id: ${created.text}`);
  assert.equal(entity.title, title);
  const createId = eventIdOf(created);
  assertWriteEvent(await s.waitForId(createId), { eventId: createId, type: 'posts', entityId: String(entity.id), action: 'create', types: ['posts', 'feed'] });
  assert.equal((await read(worker, `/api/posts/${entity.id}`)).json.title, title);
  assert.ok(itemsOf((await read(worker, '/api/posts')).json).some((p) => p.id === entity.id), 'the list has the new post');
  const feedHead = (await read(worker, '/api/feed')).json.items[0];
  assert.deepEqual([feedHead.kind, feedHead.id], ['post', entity.id], 'the new post heads the feed');

  const deleted = await del(worker, `/api/posts/${entity.id}`, { token: editor });
  assert.equal(deleted.status, 204, `DELETE: ${deleted.status} ${deleted.text}`);
  assert.equal(deleted.text, '', '204 has no body');
  const deleteId = eventIdOf(deleted);
  assert.ok(deleteId > createId, 'event ids increase');
  assertWriteEvent(await s.waitForId(deleteId), { eventId: deleteId, type: 'posts', entityId: String(entity.id), action: 'delete', types: ['posts', 'feed'] });
  expectError(await get(worker, `/api/posts/${entity.id}`), 404, 'not_found', 'GET of the deleted post');
  assert.ok(!itemsOf((await read(worker, '/api/posts')).json).some((p) => p.id === entity.id), 'the list no longer has it');
  expectError(await del(worker, `/api/posts/${entity.id}`, { token: editor }), 404, 'not_found', 'DELETE of a deleted post');
});

test('?types= filters the stream by canonical type, aliases included', { timeout: 30_000 }, async () => {
  const all = await stream();
  const pagesOnly = await stream('?types=pages');
  const postsAlias = await stream('?types=post');
  const both = await stream('?types=posts,pages');
  const res = await patch(worker, '/api/posts/4', { title: `filter ${Date.now()}` }, { token: editor });
  expectStatus(res, 200, 'PATCH /api/posts/4');
  const postsEvent = eventIdOf(res);
  const pagesEvent = (await invalidate(worker, service, { type: 'pages' })).eventId;
  for (const s of [all, both]) { await s.waitForId(postsEvent); await s.waitForId(pagesEvent); }
  await postsAlias.waitForId(postsEvent);
  await pagesOnly.waitForId(pagesEvent);
  // Events arrive in order, so the pages event arriving means the posts one was not sent.
  assert.deepEqual(pagesOnly.ofType().map((e) => e.json.id), [pagesEvent], 'a pages-only stream hears only of pages');
  // The posts stream hears the pages event only if it comes before a later posts event.
  const sentinel = eventIdOf(await patch(worker, '/api/posts/4', { title: `filter 2 ${Date.now()}` }, { token: editor }));
  await postsAlias.waitForId(sentinel);
  assert.deepEqual(postsAlias.ofType().map((e) => e.json.id), [postsEvent, sentinel], '?types=post hears only of posts');
});

test('event ids survive a restart: hello resumes at the last id and the next write gets a larger one', { timeout: 120_000 }, async () => {
  const res = await patch(worker, '/api/posts/5', { title: `before restart ${Date.now()}` }, { token: editor });
  expectStatus(res, 200, 'PATCH /api/posts/5');
  const last = eventIdOf(res);
  streams.closeAll();
  await worker.restart();
  const s = await stream();
  assert.equal(s.events[0].json.lastEventId, last, 'hello after a restart');
  assert.equal((await status(worker)).lastEventId, last, 'status after a restart');
  const title = `after restart ${Date.now()}`;
  const res2 = await patch(worker, '/api/posts/5', { title }, { token: await login(worker, EDITOR) });
  expectStatus(res2, 200, 'PATCH after restart');
  const next = eventIdOf(res2);
  assert.ok(next > last, `event id ${next} after a restart is larger than ${last}`);
  await s.waitForId(next);
  assert.equal((await read(worker, '/api/posts/5')).json.title, title);
});
