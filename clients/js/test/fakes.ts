// Test doubles: a clock whose time moves only when told, and an EventSource
// driven by hand (what the server would send, what the browser would do).

import type { Clock, TimerId } from '../src/clock.js';
import type { EventSourceLike } from '../src/stream.js';

export class ManualClock implements Clock {
  private time = 0;
  private nextId = 1;
  private timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerId {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + ms, fn });
    return id;
  }

  clearTimeout(id: TimerId): void {
    this.timers.delete(id as number);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.timers.size;
  }

  /** The delay until the next timer fires, or undefined when none is set. */
  nextDelay(): number | undefined {
    const ats = [...this.timers.values()].map((t) => t.at);
    return ats.length ? Math.min(...ats) - this.time : undefined;
  }

  /** Moves time forward by ms, firing every timer due on the way, in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].at <= end && (!due || entry[1].at < due[1].at)) due = entry;
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].fn();
    }
    this.time = end;
  }
}

type Listener = (event: MessageEvent<string>) => void;

/** One EventSource the code under test made; `FakeEventSource.all` lists them in order. */
export class FakeEventSource implements EventSourceLike {
  static all: FakeEventSource[] = [];
  static reset(): void {
    FakeEventSource.all = [];
  }
  static get last(): FakeEventSource {
    const last = FakeEventSource.all.at(-1);
    if (!last) throw new Error('no EventSource was made');
    return last;
  }

  readyState = 0; // CONNECTING
  closed = false;
  /** What the browser keeps as the last event id: the last `id:` field seen. */
  lastEventId = '';
  private listeners = new Map<string, Listener[]>();

  constructor(readonly url: string) {
    FakeEventSource.all.push(this);
  }

  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  close(): void {
    this.closed = true;
    this.readyState = 2;
  }

  private fire(type: string, data = ''): void {
    const event = { type, data, lastEventId: this.lastEventId } as MessageEvent<string>;
    for (const l of this.listeners.get(type) ?? []) l(event);
  }

  /** The connection opened (the response headers arrived). */
  open(): void {
    this.readyState = 1;
    this.fire('open');
  }

  /** An event as the server sends it: `id:` (optional), `event:`, `data:`. */
  send(type: string, data: unknown, id?: number): void {
    if (id !== undefined) this.lastEventId = String(id);
    this.fire(type, typeof data === 'string' ? data : JSON.stringify(data));
  }

  /** The connection dropped and the browser will retry it by itself. */
  drop(): void {
    this.readyState = 0;
    this.fire('error');
  }

  /** The browser gave up on this source (e.g. an HTTP error status). */
  fail(): void {
    this.readyState = 2;
    this.fire('error');
  }
}

/** An app-update's data as the Worker sends it. */
export function update(id: number, type: string, types: string[], entityId: string | null = null, action = 'update') {
  return { id, type, types, entityId, action, origin: 'test', ts: 1_764_000_000_000 + id };
}
