// A small Server-Sent Events client over fetch, for the tests: an incremental
// parser that follows the WHATWG "event stream interpretation" algorithm
// (lines end in CRLF, LF or CR, possibly split across chunks; fields event,
// data, id, retry; comments; dispatch on a blank line), and a client that
// records every event and comment with the time it arrived. Every wait is
// bounded in time.
import { performance } from 'node:perf_hooks';

/**
 * The incremental parser. feed() takes decoded text in any chunking;
 * onEvent gets {type, data, lastEventId, id, retry}, where `id` is the value
 * of an `id:` field inside this event's block (undefined when the block had
 * none), and lastEventId the stream's last event id as the algorithm keeps
 * it. onComment gets the text after the colon of a comment line.
 */
export class SseParser {
  constructor({ onEvent = () => {}, onComment = () => {}, onRetry = () => {} } = {}) {
    this.onEvent = onEvent;
    this.onComment = onComment;
    this.onRetry = onRetry;
    this.buffer = '';
    this.pendingCR = false; // the last chunk ended in CR: a following LF belongs to it
    this.lastEventId = '';
    this.reconnectionTime = undefined;
    this.resetBlock();
    this.firstLine = true;
  }

  resetBlock() {
    this.data = '';
    this.eventType = '';
    this.blockId = undefined;
  }

  feed(text) {
    if (this.pendingCR && text.startsWith('\n')) text = text.slice(1);
    this.pendingCR = false;
    this.buffer += text;
    let start = 0;
    for (;;) {
      let i = start;
      const len = this.buffer.length;
      while (i < len) {
        const c = this.buffer.charCodeAt(i);
        if (c === 10 || c === 13) break;
        i++;
      }
      if (i >= len) break;
      const line = this.buffer.slice(start, i);
      if (this.buffer.charCodeAt(i) === 13) {
        if (i + 1 < len) {
          start = this.buffer.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
        } else {
          this.pendingCR = true;
          start = i + 1;
        }
      } else {
        start = i + 1;
      }
      this.line(line);
    }
    this.buffer = this.buffer.slice(start);
  }

  line(line) {
    if (this.firstLine) {
      this.firstLine = false;
      if (line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    }
    if (line === '') { this.dispatch(); return; }
    if (line.startsWith(':')) { this.onComment(line.slice(1)); return; }
    const colon = line.indexOf(':');
    let field = line;
    let value = '';
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
    }
    switch (field) {
      case 'event': this.eventType = value; break;
      case 'data': this.data += `${value}\n`; break;
      case 'id':
        if (!value.includes('\0')) { this.lastEventId = value; this.blockId = value; }
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) { this.reconnectionTime = Number(value); this.onRetry(this.reconnectionTime); }
        break;
      default: break; // ignored, as the algorithm says
    }
  }

  dispatch() {
    if (this.data === '') { this.resetBlock(); return; }
    const event = {
      type: this.eventType || 'message',
      data: this.data.endsWith('\n') ? this.data.slice(0, -1) : this.data,
      lastEventId: this.lastEventId,
      id: this.blockId,
    };
    this.resetBlock();
    this.onEvent(event);
  }
}

/**
 * An open SSE stream. `events` holds every dispatched event as
 * {type, data, json (parsed data or undefined), id, lastEventId, at} where
 * `at` is performance.now() on arrival; `comments` holds {text, at}.
 */
export class SseClient {
  /**
   * follow: when the server ends the stream cleanly (the Hub renews every
   * stream after SSE_MAX_WRITES writes), reconnect after its `retry:` with
   * `Last-Event-ID`, as a browser's EventSource does, and go on appending
   * to the same events; at most MAX_RESUMES times. `resumes` counts them.
   * headers: sent with the first request and with every resumption (e.g. a
   * header that picks the region), names in any case.
   */
  constructor(url, { follow = false, headers = {} } = {}) {
    this.url = url;
    this.follow = follow;
    this.baseHeaders = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    this.resumes = 0;
    this.events = [];
    this.comments = [];
    this.retry = undefined;
    this.head = ''; // the first 4 KiB of the stream's text, for assertions on its opening
    this.ended = false;
    this.error = null;
    this.status = undefined;
    this.headers = undefined;
    this.controller = new AbortController();
    this.waiters = new Set();
    this.parser = new SseParser({
      onEvent: (e) => {
        let json;
        try { json = JSON.parse(e.data); } catch { json = undefined; }
        this.events.push({ ...e, json, at: performance.now() });
        this.notify();
      },
      onComment: (text) => { this.comments.push({ text, at: performance.now() }); this.notify(); },
      onRetry: (ms) => { this.retry = ms; },
    });
  }

  /** Events of one type (default app-update). */
  ofType(type = 'app-update') { return this.events.filter((e) => e.type === type); }

  notify() { for (const w of [...this.waiters]) w(); }

  /**
   * Resolves with the first event for which predicate(event, index) holds,
   * looking at events already received too; rejects after timeoutMs, or when
   * the stream ends first. The error lists what did arrive.
   */
  waitFor(predicate, timeoutMs = 5000, what = 'event') {
    return this.waitUntil(() => {
      const i = this.events.findIndex(predicate);
      return i >= 0 ? this.events[i] : undefined;
    }, timeoutMs, what);
  }

  /** Resolves with the first truthy value of check(); bounded like waitFor. */
  waitUntil(check, timeoutMs = 5000, what = 'condition') {
    return new Promise((resolve, reject) => {
      let timer;
      const done = (fn, v) => { clearTimeout(timer); this.waiters.delete(waiter); fn(v); };
      const waiter = () => {
        let v;
        try { v = check(); } catch (e) { done(reject, e); return; }
        if (v) { done(resolve, v); return; }
        if (this.ended) done(reject, new Error(`SSE stream ${this.url} ended before ${what}${this.error ? ` (${this.error.message})` : ''}; got ${this.describe()}`));
      };
      timer = setTimeout(() => done(reject, new Error(`no ${what} within ${timeoutMs} ms on ${this.url}; got ${this.describe()}`)), timeoutMs);
      this.waiters.add(waiter);
      waiter();
    });
  }

  /** Waits until the app-update event with this id has arrived. */
  waitForId(id, timeoutMs = 5000) {
    return this.waitFor((e) => e.type === 'app-update' && e.json?.id === Number(id), timeoutMs, `app-update id ${id}`);
  }

  describe() {
    const list = this.events.slice(-12).map((e) => `${e.type}${e.id !== undefined ? `#${e.id}` : ''} ${e.data.slice(0, 160)}`);
    return `${this.events.length} events${this.events.length > 12 ? ' (last 12)' : ''}: [${list.join(' | ')}], ${this.comments.length} comments`;
  }

  /** Closes the stream (aborts the request); safe to call twice. */
  close() {
    this.controller.abort();
    this.ended = true;
    this.notify();
  }

  async pump(body) {
    const decoder = new TextDecoder('utf-8');
    try {
      for await (const chunk of body) {
        const text = decoder.decode(chunk, { stream: true });
        if (this.head.length < 4096) this.head = (this.head + text).slice(0, 4096);
        this.parser.feed(text);
      }
      this.parser.feed(decoder.decode());
    } catch (e) {
      if (!this.controller.signal.aborted) this.error = e;
    }
    if (this.follow && !this.error && !this.controller.signal.aborted && this.resumes < MAX_RESUMES) {
      this.resumes += 1;
      this.notify(); // waiters on `resumes` see the gap while it lasts
      this.resume().catch((e) => {
        if (!this.controller.signal.aborted) this.error = e;
        this.ended = true;
        this.notify();
      });
      return;
    }
    this.ended = true;
    this.notify();
  }

  /** GET of the stream with its headers and these (lower-case names), cut by close(). */
  request(headers = {}) {
    return fetch(this.url, { headers: { accept: 'text/event-stream', ...this.baseHeaders, ...headers }, signal: this.controller.signal });
  }

  /** Reconnects after the server's retry time, from the last event id seen. */
  async resume() {
    await new Promise((r) => setTimeout(r, Math.min(this.retry ?? 0, 5000)));
    if (this.controller.signal.aborted) throw new Error('closed');
    const lastId = this.parser.lastEventId;
    const res = await this.request(lastId ? { 'last-event-id': lastId } : {});
    if (res.status !== 200 || !res.body) throw new Error(`resuming ${this.url} answered ${res.status}`);
    this.pump(res.body);
  }
}

/** How many times a following client reconnects at most. */
const MAX_RESUMES = 1000;

/**
 * Opens an SSE stream and resolves once the response headers are in (the
 * body is then read in the background). Options: headers (e.g.
 * {'last-event-id': '12'}), timeoutMs for the headers, follow (SseClient). A response that is
 * not 200 resolves too, with status and headers set and the body text in
 * `errorBody`, so that tests can assert on it.
 */
export async function openStream(url, { headers = {}, timeoutMs = 10_000, follow = false } = {}) {
  const client = new SseClient(url, { follow, headers });
  const timer = setTimeout(() => client.controller.abort(new Error(`no response headers within ${timeoutMs} ms`)), timeoutMs);
  let res;
  try {
    res = await client.request();
  } finally {
    clearTimeout(timer);
  }
  client.status = res.status;
  client.headers = res.headers;
  if (res.status !== 200 || !res.body) {
    client.errorBody = await res.text().catch(() => '');
    client.ended = true;
    return client;
  }
  client.pump(res.body);
  return client;
}

/** Opens a stream and waits for its `hello`; returns the client. */
export async function connect(url, { headers, timeoutMs = 10_000, follow = false } = {}) {
  const client = await openStream(url, { headers, timeoutMs, follow });
  if (client.status !== 200) {
    throw new Error(`GET ${url} answered ${client.status}: ${client.errorBody}`);
  }
  try {
    await client.waitFor((e) => e.type === 'hello', timeoutMs, 'hello');
  } catch (e) {
    client.close();
    throw e;
  }
  return client;
}

/**
 * Streams opened by one test file against `baseUrl()` (a function, since
 * the instance starts after import), closed together by closeAll().
 * open(query, headers, {follow}) connects like connect() and waits for `hello`.
 */
export function streamPool(baseUrl) {
  const open = [];
  return {
    async open(query = '', headers, { follow = false } = {}) {
      const s = await connect(`${baseUrl()}/api/stream${query}`, { headers, follow });
      open.push(s);
      return s;
    },
    closeAll() {
      for (const s of open.splice(0)) s.close();
    },
  };
}
