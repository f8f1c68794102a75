// The stand-in origin: a small shop API on 127.0.0.1 that plays "your API"
// (an Express or Django app) behind polycache in origin mode. Its paths and
// types are its own, not a copy of polycache's D1 API: products with their
// reviews, product images (binary PNG), a greeting that varies by
// Accept-Language, a session that sets a cookie, a private account page, a
// no-store live page and a redirect. Tests steer it through methods rather
// than HTTP: latency, injected failures, going down (a refused connection)
// or hanging (accepted, never answered), an admin editing data behind
// polycache's back, and the webhook such an app calls afterwards.
//
// Also runnable alone, for the origin-mode demo:
//   node tests/common/origin.mjs --port 9100 [--latency-ms 50]
// prints its URL and the lines to put in `.dev.vars`.
//
// node:http only: a stand-in needs routing for a dozen paths, which a
// framework would not make shorter, and the tests need control over sockets
// (down, hang) that a framework would hide.
import { createServer } from 'node:http';
import { deflateSync } from 'node:zlib';
import { pathToFileURL } from 'node:url';

/** The editor's and the viewer's bearer tokens: writes need the editor's. */
export const EDITOR_TOKEN = 'shop-editor';
export const VIEWER_TOKEN = 'shop-viewer';

/** How many requests `origin.requests` keeps (the oldest go first). */
export const MAX_LOGGED_REQUESTS = 10_000;
/** Bounds of the shop's data: a create or review beyond them answers 409. */
export const MAX_PRODUCTS = 10_000;
export const MAX_REVIEWS_PER_PRODUCT = 1_000;
/** The largest request body the stand-in reads; above it, 413. */
export const MAX_BODY_BYTES = 1 << 20;
/** How many hanging requests are held at most (the oldest are destroyed first). */
const MAX_HELD = 1_000;

/**
 * The stand-in's route table, in CACHE_ROUTES' shape. Products embed their
 * review count, so `products` depends on `reviews` (DEPENDENCIES): a new
 * review invalidates the products that show its count.
 */
export const ROUTES = [
  // Its answers depend on these two only: any other parameter (a
  // cache-buster) is answered without the cache rather than stored.
  { path: '/v1/products', type: 'products', query: ['limit', 'sort'] },
  { path: '/v1/products/:id', type: 'products', id: 'id' },
  { path: '/v1/products/:id/reviews', type: 'reviews' },
  { path: '/v1/images/:id', type: 'images', id: 'id' },
  { path: '/v1/greeting', type: 'greetings', public: true, vary: ['accept-language'] },
  { path: '/v1/session', type: 'sessions' },
  { path: '/v1/account', type: 'accounts' },
  { path: '/v1/live', type: 'live' },
  { path: '/v1/redirect', type: 'redirects' },
];

/** CACHE_DEPENDENCIES of the stand-in: "X depends on Y" as `{"X": ["Y"]}`. */
export const DEPENDENCIES = { products: ['reviews'] };

/** The greeting in each language the stand-in speaks (the first is the default). */
export const GREETINGS = { en: 'Hello', fr: 'Bonjour', de: 'Hallo' };

// --- PNG bytes ---------------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 of PNG chunks (node:zlib has crc32 only from Node 22). */
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/**
 * A valid 8x8 RGB PNG whose colours depend on `id`, with a private
 * ancillary chunk (`byTe`) holding every byte value 0..255: a proxy that
 * treats the body as text (UTF-8 decoding, a NUL cut, a CR/LF change)
 * cannot pass it through intact.
 */
export function productImage(id) {
  const n = Number(id) || 0;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(8, 0);
  ihdr.writeUInt32BE(8, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8 bits per channel, truecolour, no interlace
  const rows = [];
  for (let y = 0; y < 8; y++) {
    rows.push(0); // filter: none
    for (let x = 0; x < 8; x++) rows.push((n * 37 + x * 31) & 0xff, (n * 11 + y * 29) & 0xff, (x * y * 7 + n) & 0xff);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('byTe', Buffer.from(Array.from({ length: 256 }, (_, i) => i))),
    pngChunk('IDAT', deflateSync(Buffer.from(rows))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

// --- the shop ---------------------------------------------------------------

/** Thrown by a handler: answered as `{message}` with this status. */
class ShopError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const json = (status, body, headers = {}) => ({
  status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body: JSON.stringify(body),
});

/** The language of an Accept-Language header that the stand-in speaks (first match by order). */
function languageOf(header) {
  for (const part of String(header ?? '').split(',')) {
    const lang = part.split(';')[0].trim().toLowerCase().slice(0, 2);
    if (lang in GREETINGS) return lang;
  }
  return 'en';
}

/** The writer's role from `authorization`: throws 401 without a known token, 403 for the viewer. */
function requireEditor(headers) {
  const auth = headers.authorization ?? '';
  if (auth === `Bearer ${EDITOR_TOKEN}`) return;
  if (auth === `Bearer ${VIEWER_TOKEN}`) throw new ShopError(403, 'the viewer may not write');
  throw new ShopError(401, 'writes need authorization: Bearer <editor token>');
}

/** The JSON object of a request body, or 400. */
function objectBody(raw) {
  let value;
  try { value = JSON.parse(raw.toString('utf8')); } catch { throw new ShopError(400, 'the body is not JSON'); }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ShopError(400, 'the body is not a JSON object');
  return value;
}

/** Checks `{title?, price?}` (both required when `whole`); returns the fields given. */
function productFields(body, whole) {
  const out = {};
  if ('title' in body || whole) {
    if (typeof body.title !== 'string' || !body.title.trim() || body.title.length > 200) throw new ShopError(422, 'title: a non-empty string of at most 200 characters');
    out.title = body.title;
  }
  if ('price' in body || whole) {
    if (typeof body.price !== 'number' || !Number.isFinite(body.price) || body.price < 0) throw new ShopError(422, 'price: a number >= 0');
    out.price = body.price;
  }
  return out;
}

class Shop {
  constructor(seed) {
    this.products = new Map();
    this.reviews = new Map(); // product id -> [review]
    this.nextProduct = 1;
    this.nextReview = 1;
    for (let i = 0; i < seed; i++) this.add({ title: `Product ${i + 1}`, price: 10 + i });
  }

  add({ title, price }) {
    if (this.products.size >= MAX_PRODUCTS) throw new ShopError(409, `the shop holds at most ${MAX_PRODUCTS} products`);
    const id = String(this.nextProduct++);
    this.products.set(id, { id, title, price, updatedAt: new Date().toISOString() });
    this.reviews.set(id, []);
    return this.show(id);
  }

  /** A product as the API shows it: its fields and its review count. */
  show(id) {
    const p = this.products.get(id);
    if (!p) throw new ShopError(404, `product ${id} not found`);
    return { ...p, reviewCount: this.reviews.get(id).length };
  }

  update(id, fields) {
    this.show(id);
    Object.assign(this.products.get(id), fields, { updatedAt: new Date().toISOString() });
    return this.show(id);
  }

  remove(id) {
    this.show(id);
    this.products.delete(id);
    this.reviews.delete(id);
  }

  addReview(id, body) {
    this.show(id);
    const { rating, text = '' } = body;
    if (!Number.isInteger(rating) || rating < 1 || rating > 5) throw new ShopError(422, 'rating: a whole number from 1 to 5');
    if (typeof text !== 'string' || text.length > 2000) throw new ShopError(422, 'text: a string of at most 2000 characters');
    const list = this.reviews.get(id);
    if (list.length >= MAX_REVIEWS_PER_PRODUCT) throw new ShopError(409, `a product holds at most ${MAX_REVIEWS_PER_PRODUCT} reviews`);
    const review = { id: String(this.nextReview++), productId: id, rating, text, createdAt: new Date().toISOString() };
    list.push(review);
    return review;
  }
}

// --- the server ---------------------------------------------------------------

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const notAllowed = (method, path) => new ShopError(405, `${method} is not allowed on ${path}`);

/**
 * Starts the stand-in on 127.0.0.1 (`port`: a given one, else a free one);
 * see the file's comment. `seed` products are there from the start (ids "1".."seed").
 * `latencyMs`: how long every request waits before it is handled;
 * `writeLatencyMs` (default: latencyMs): how long a write (POST, PUT,
 * PATCH, DELETE) waits instead, as a database's writes take longer than its
 * reads (the consistency checker uses it: reads then race writes).
 * `prefix` (e.g. '/shop'): the shop answers only below it, as an API
 * mounted under a path does, and `vars()` puts it in ORIGIN_URL; any other
 * path answers 404 (the hostile tier checks that no request leaves it).
 */
export async function startOrigin({ latencyMs = 0, writeLatencyMs = null, seed = 10, port = 0, prefix = '' } = {}) {
  const origin = new Origin({ latencyMs, writeLatencyMs, seed, prefix });
  await origin.listen(port);
  return origin;
}

export class Origin {
  constructor({ latencyMs, writeLatencyMs = null, seed, prefix = '' }) {
    this.shop = new Shop(seed);
    this.prefix = prefix;
    this.latencyMs = latencyMs;
    this.writeLatencyMs = writeLatencyMs; // null: latencyMs
    this.requests = [];
    this.served = 0; // every request answered by the shop, for x-shop-request
    this.failures = { left: 0, status: 500 };
    this.hanging = false;
    /** true: answers without Content-Length, chunked. */
    this.chunked = false;
    this.held = new Set();
    this.timers = new Set();
    this.port = null;
    this.server = null;
    this.routes = ROUTES.map((r) => ({ ...r }));
  }

  get url() { return `http://127.0.0.1:${this.port}`; }

  /** `{ORIGIN_URL, CACHE_ROUTES, CACHE_DEPENDENCIES}` to spread into a worker's vars. */
  vars() {
    return {
      ORIGIN_URL: `${this.url}${this.prefix}`,
      CACHE_ROUTES: JSON.stringify(this.routes),
      CACHE_DEPENDENCIES: JSON.stringify(DEPENDENCIES),
    };
  }

  /**
   * How many logged requests match: `method` ('GET', or null/'*' for any)
   * and `path` (a string: equal to the path without its query, or to the
   * whole target when it holds a `?`; a RegExp: tested on the whole target;
   * null: any).
   */
  count(method, path) {
    const any = method == null || method === '*';
    return this.requests.filter((r) => (any || r.method === method) && pathMatches(path, r.path)).length;
  }

  resetCounts() { this.requests.length = 0; }

  /** The next `n` requests answer `status` (`{message}` JSON) without touching the data. */
  failNext(n, status = 500) { this.failures = { left: n, status }; }

  /** true: requests are accepted and logged, never answered; false: held ones are dropped. */
  get hang() { return this.hanging; }
  set hang(on) {
    this.hanging = Boolean(on);
    if (!this.hanging) this.dropHeld();
  }

  /** Changes a product directly, as an admin panel would (no HTTP); returns it. */
  adminEdit(id, fields) {
    return this.shop.update(String(id), productFields(fields, false));
  }

  /**
   * The webhook the app calls after such a change: POST
   * `<polycacheUrl>/api/cache/invalidate` with the long-lived token.
   * Returns {status, json, text}.
   */
  async notify(polycacheUrl, token, { type, id, action = 'update' }) {
    const res = await fetch(`${polycacheUrl}/api/cache/invalidate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ type, ...(id === undefined ? {} : { id: String(id) }), action }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    let body;
    try { body = JSON.parse(text); } catch { body = undefined; }
    return { status: res.status, json: body, text };
  }

  async listen(port) {
    this.server = createServer((req, res) => { this.receive(req, res); });
    // A request Node's parser refuses (a head over its 16 KiB, bad
    // syntax) is answered as the shop answers: its JSON and x-shop-request,
    // so that a test can tell the origin's answer from a proxy's.
    this.server.on('clientError', (err, socket) => {
      if (!socket.writable) return;
      const [status, reason] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : [400, 'Bad Request'];
      const body = JSON.stringify({ message: `the request cannot be parsed: ${err.code}` });
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nx-shop-request: ${++this.served}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    });
    // A proxy's pooled connections stay open between tests; keep-alive as
    // an Express app would, the default 5 s.
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => { this.server.off('error', reject); resolve(); });
    });
    this.port = this.server.address().port;
  }

  /** Stops listening and destroys every connection: connecting is refused from now on. */
  async down() {
    const server = this.server;
    this.server = null;
    if (!server) return;
    this.dropHeld();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(() => resolve()));
  }

  /** Listens again on the same port. */
  async up() {
    if (this.server) return;
    await this.listen(this.port);
  }

  async close() { await this.down(); }

  dropHeld() {
    for (const res of this.held) res.socket?.destroy();
    this.held.clear();
  }

  log(req) {
    this.requests.push({ method: req.method, path: req.url, headers: req.headers, at: Date.now() });
    if (this.requests.length > MAX_LOGGED_REQUESTS) this.requests.splice(0, this.requests.length - MAX_LOGGED_REQUESTS);
  }

  async receive(req, res) {
    this.log(req);
    if (this.hanging) {
      this.held.add(res);
      res.once('close', () => this.held.delete(res));
      if (this.held.size > MAX_HELD) {
        const oldest = this.held.values().next().value;
        this.held.delete(oldest);
        oldest.socket?.destroy();
      }
      return;
    }
    let answer;
    try {
      const body = await readBody(req);
      const wait = WRITES.has(req.method) ? this.writeLatencyMs ?? this.latencyMs : this.latencyMs;
      if (wait > 0) await this.sleep(wait);
      if (this.failures.left > 0) {
        this.failures.left--;
        throw new ShopError(this.failures.status, 'injected failure');
      }
      answer = this.handle(req, body);
    } catch (e) {
      // Anything but a ShopError is the client going away mid-body, or a
      // bug of the stand-in: answered 500 rather than crashing the test run.
      answer = json(e instanceof ShopError ? e.status : 500, { message: e.message });
    }
    if (res.destroyed) return;
    const headers = { 'x-shop-request': String(++this.served), ...answer.headers };
    // Content-Length as Express's res.send sets it; `chunked`: none, the
    // body in two chunks, as a streaming server sends it.
    if (!this.chunked) headers['content-length'] = String(Buffer.byteLength(answer.body));
    res.writeHead(answer.status, headers);
    if (this.chunked && answer.body.length > 1) {
      const half = Math.floor(answer.body.length / 2);
      res.write(answer.body.slice(0, half));
      res.end(answer.body.slice(half));
    } else {
      res.end(answer.body);
    }
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.timers.delete(t); resolve(); }, ms);
      this.timers.add(t);
    });
  }

  /** The answer {status, headers, body} to a request whose body was read. */
  handle(req, body) {
    const { pathname: full, searchParams } = new URL(req.url, 'http://origin.invalid');
    if (full !== this.prefix && !full.startsWith(`${this.prefix}/`)) throw new ShopError(404, `no route ${full}: outside ${this.prefix}`);
    const pathname = full.slice(this.prefix.length) || '/';
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const parts = pathname.split('/').filter(Boolean);
    if (WRITES.has(method)) requireEditorFor(pathname, req.headers);
    if (parts[0] !== 'v1') {
      if (pathname === '/' && method === 'GET') return json(200, { name: 'shop', routes: this.routes.map((r) => r.path) });
      throw new ShopError(404, `no route ${pathname}`);
    }
    const [, section, id, sub, ...rest] = parts;
    if (rest.length) throw new ShopError(404, `no route ${pathname}`);
    if (section === 'products') return this.products(method, pathname, id, sub, req, body, searchParams);
    if (sub !== undefined) throw new ShopError(404, `no route ${pathname}`);
    if (method !== 'GET') throw notAllowed(req.method, pathname);
    return this.page(section, id, pathname, req.headers);
  }

  products(method, pathname, id, sub, req, body, query) {
    const shop = this.shop;
    if (id === undefined) {
      if (method === 'GET') {
        const limit = Math.min(Math.max(Number(query.get('limit')) || 100, 1), 100);
        const items = [...shop.products.keys()].slice(0, limit).map((k) => shop.show(k));
        return json(200, { items, total: shop.products.size });
      }
      if (method === 'POST') {
        const product = shop.add(productFields(objectBody(body), true));
        return json(201, product, { location: `/v1/products/${product.id}` });
      }
      throw notAllowed(req.method, pathname);
    }
    if (sub === 'reviews') {
      if (method === 'GET') {
        shop.show(id);
        return json(200, { items: shop.reviews.get(id) });
      }
      if (method === 'POST') return json(201, shop.addReview(id, objectBody(body)));
      throw notAllowed(req.method, pathname);
    }
    if (sub !== undefined) throw new ShopError(404, `no route ${pathname}`);
    if (method === 'GET') return json(200, shop.show(id));
    if (method === 'PUT') return json(200, shop.update(id, productFields(objectBody(body), true)));
    if (method === 'PATCH') return json(200, shop.update(id, productFields(objectBody(body), false)));
    if (method === 'DELETE') {
      shop.remove(id);
      return { status: 204, headers: {}, body: '' };
    }
    throw notAllowed(req.method, pathname);
  }

  /** The read-only pages: images, greeting, session, account, live, redirect, version. */
  page(section, id, pathname, headers) {
    const one = (ok) => { if (!ok) throw new ShopError(404, `no route ${pathname}`); };
    switch (section) {
      case 'images':
        one(id !== undefined);
        this.shop.show(id);
        return { status: 200, headers: { 'content-type': 'image/png', 'cache-control': 'public, max-age=60' }, body: productImage(id) };
      case 'greeting': {
        one(id === undefined);
        const lang = languageOf(headers['accept-language']);
        return json(200, { lang, greeting: GREETINGS[lang] }, { vary: 'Accept-Language', 'content-language': lang });
      }
      case 'session':
        one(id === undefined);
        return json(200, { session: `s${this.served + 1}` }, { 'set-cookie': `shop_session=s${this.served + 1}; Path=/; HttpOnly; SameSite=Lax` });
      case 'account':
        one(id === undefined);
        return json(200, { user: headers.cookie ?? headers.authorization ?? 'anonymous' }, { 'cache-control': 'private, max-age=0' });
      case 'live':
        one(id === undefined);
        return json(200, { now: Date.now() }, { 'cache-control': 'no-store' });
      case 'redirect':
        one(id === undefined);
        return { status: 302, headers: { location: `${this.url}${this.prefix}/v1/products`, 'content-type': 'text/plain' }, body: 'see /v1/products' };
      case 'version':
        one(id === undefined);
        return json(200, { version: '1.4.2', served: this.served + 1 });
      default:
        throw new ShopError(404, `no route ${pathname}`);
    }
  }
}

/** Writes to the shop's write routes need the editor; elsewhere the route answers 404/405 itself. */
function requireEditorFor(pathname, headers) {
  if (/^\/v1\/products(\/[^/]+(\/reviews)?)?$/.test(pathname)) requireEditor(headers);
}

function pathMatches(pattern, target) {
  if (pattern == null) return true;
  if (pattern instanceof RegExp) return pattern.test(target);
  return pattern.includes('?') ? target === pattern : target.split('?')[0] === pattern;
}

/** The request's body, at most MAX_BODY_BYTES (else 413, the rest unread). */
async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > MAX_BODY_BYTES) throw new ShopError(413, `bodies hold at most ${MAX_BODY_BYTES} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

// --- run alone ------------------------------------------------------------------

/** The `.dev.vars` lines that point `make dev` at this origin (JSON in single quotes: dotenv keeps it as is). */
export function devVarsLines(origin) {
  return Object.entries(origin.vars()).map(([k, v]) => (k === 'ORIGIN_URL' ? `${k}="${v}"` : `${k}='${v}'`));
}

async function main(argv) {
  const arg = (name, fallback) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : fallback;
  };
  const port = arg('--port', 9100);
  const latencyMs = arg('--latency-ms', 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !Number.isFinite(latencyMs) || latencyMs < 0) {
    console.error('usage: node tests/common/origin.mjs [--port 9100] [--latency-ms 0]');
    process.exit(2);
  }
  const origin = await startOrigin({ port, latencyMs });
  console.log(`shop origin listening on ${origin.url} (editor token: ${EDITOR_TOKEN})`);
  console.log('put these lines in .dev.vars, then `make dev`:');
  for (const line of devVarsLines(origin)) console.log(line);
  const stop = () => { origin.close().then(() => process.exit(0)); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main(process.argv.slice(2));
