// A minimal Redis client over RESP2 (the protocol of redis-server's TCP
// port), for the Upstash REST shim and the tests' own Redis commands. No
// dependencies: node:net and Buffers.
//
// send(commands) writes a batch of commands in one write, so that nothing
// another caller sends on the same connection can come in between (that is
// what makes MULTI ... EXEC in one batch a transaction here), and resolves
// with one reply per command, in order. Replies: strings, numbers, null,
// arrays, and RedisError for error replies.
import { connect } from 'node:net';

export class RedisError extends Error {
  constructor(message) { super(message); this.name = 'RedisError'; }
}

/** RESP2 encoding of one command (an array of strings, numbers or Buffers). */
export function encode(command) {
  const parts = [Buffer.from(`*${command.length}\r\n`)];
  for (const arg of command) {
    const buf = Buffer.isBuffer(arg) ? arg : Buffer.from(typeof arg === 'string' ? arg : String(arg));
    parts.push(Buffer.from(`$${buf.length}\r\n`), buf, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/**
 * Parses one reply at `offset` of `buf`; returns [value, nextOffset], or
 * null when the buffer does not hold a whole reply yet.
 */
export function parseReply(buf, offset = 0) {
  if (offset >= buf.length) return null;
  const end = buf.indexOf('\r\n', offset);
  if (end < 0) return null;
  const type = String.fromCharCode(buf[offset]);
  const line = buf.toString('utf8', offset + 1, end);
  const next = end + 2;
  switch (type) {
    case '+': return [line, next];
    case '-': return [new RedisError(line), next];
    case ':': return [Number(line), next];
    case '$': {
      const len = Number(line);
      if (len < 0) return [null, next];
      if (buf.length < next + len + 2) return null;
      return [buf.toString('utf8', next, next + len), next + len + 2];
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return [null, next];
      const items = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const r = parseReply(buf, at);
        if (!r) return null;
        items.push(r[0]);
        at = r[1];
      }
      return [items, at];
    }
    default:
      throw new Error(`RESP: unexpected reply type ${JSON.stringify(type)}`);
  }
}

/** One connection to redis-server; reconnects on the next send after a loss. */
export class RespConnection {
  constructor({ host = '127.0.0.1', port }) {
    this.host = host;
    this.port = port;
    this.socket = null;
    this.ready = null;
    this.buffer = Buffer.alloc(0);
    this.waiting = []; // {resolve, reject} per expected reply
  }

  open() {
    if (this.ready) return this.ready;
    this.ready = new Promise((resolve, reject) => {
      const socket = connect({ host: this.host, port: this.port });
      socket.setNoDelay(true);
      socket.once('connect', () => resolve(socket));
      socket.on('data', (chunk) => this.onData(chunk));
      const lost = (err) => {
        const error = err ?? new Error('connection to redis closed');
        if (this.socket === socket || !this.socket) {
          this.socket = null;
          this.ready = null;
          this.buffer = Buffer.alloc(0);
          for (const w of this.waiting.splice(0)) w.reject(error);
        }
        reject(error);
      };
      socket.once('error', lost);
      socket.once('close', () => lost());
      this.socket = socket;
    });
    return this.ready;
  }

  onData(chunk) {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    let offset = 0;
    for (;;) {
      const r = parseReply(this.buffer, offset);
      if (!r) break;
      offset = r[1];
      const w = this.waiting.shift();
      if (w) w.resolve(r[0]);
    }
    this.buffer = this.buffer.subarray(offset);
  }

  /** Sends commands in one write; resolves with their replies. */
  async send(commands) {
    const socket = await this.open();
    const replies = commands.map(() => new Promise((resolve, reject) => this.waiting.push({ resolve, reject })));
    socket.write(Buffer.concat(commands.map(encode)));
    return Promise.all(replies);
  }

  /** One command; rejects with its RedisError. */
  async call(...command) {
    const [reply] = await this.send([command]);
    if (reply instanceof RedisError) throw reply;
    return reply;
  }

  close() {
    this.socket?.destroy();
    this.socket = null;
    this.ready = null;
  }
}
