// A link that can be cut: a TCP relay on 127.0.0.1 between a mirroring
// sender (its CACHE_MIRRORS points here) and the receiver under test. The
// burst rows' mirror catch-up needs the receiver unreachable while the
// sender's outbox fills (so that its entries park), with the receiver's
// streams open all the while; stopping the receiver would close them.
// Shut, the gate takes each connection and resets it at once (the sender's
// delivery fails as against a deployment that is down); open, it pipes
// bytes both ways, a few tens of microseconds per delivery on this machine.
import { connect, createServer } from 'node:net';

export class Gate {
  constructor() {
    this.target = null; // {host, port} while open
    this.sockets = new Set();
    this.server = createServer((client) => this.accept(client));
  }

  /** Listens on a free port of 127.0.0.1; resolves with this gate's base URL. */
  async listen() {
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', resolve);
    });
    this.url = `http://127.0.0.1:${this.server.address().port}`;
    return this.url;
  }

  accept(client) {
    if (!this.target) { client.resetAndDestroy(); return; }
    const upstream = connect({ ...this.target, noDelay: true });
    client.setNoDelay(true);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => { client.destroy(); upstream.destroy(); });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Relays new connections to `url` (http://127.0.0.1:P). */
  open(url) {
    const { hostname, port } = new URL(url);
    if (hostname !== '127.0.0.1') throw new Error(`the gate relays to 127.0.0.1 only, not ${hostname}`);
    this.target = { host: hostname, port: Number(port) };
  }

  /** Cuts the link: every relayed connection, and each new one as it comes. */
  shut() {
    this.target = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async close() {
    this.shut();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }
}
