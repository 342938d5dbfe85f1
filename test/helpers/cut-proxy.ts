/**
 * A TCP proxy that breaks connections on purpose: it forwards to a server
 * and, once a given number of bytes has passed in a given direction on a
 * connection, destroys both sides. Cut points are used one per connection,
 * in order; connections after the list is used up pass through. Offsets
 * come from a seeded generator, its seed printed when a test fails.
 */
import net from 'node:net';
import { after } from 'node:test';

export type Direction = 'up' | 'down';

export interface CutPoint {
  /** 'up': client to server; 'down': server to client. */
  direction: Direction;
  /** Bytes that pass in that direction before the cut (0: at once). */
  after: number;
  /** Instead of cutting, hold everything after that point (the connection stays open, silent). */
  stall?: boolean;
}

export interface CutProxy {
  port: number;
  /** Bytes that went client to server, over every connection. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** Connections cut so far. */
  readonly cuts: number;
  readonly connections: number;
  /** Cut points to use from the next connection on (replacing those left). */
  setCuts(points: CutPoint[]): void;
  close(): Promise<void>;
}

const open = new Set<CutProxy>();
after(async () => {
  await Promise.all([...open].map((proxy) => proxy.close()));
});

export async function startCutProxy(target: { host?: string; port: number }, points: CutPoint[] = []): Promise<CutProxy> {
  let pending = [...points];
  const sockets = new Set<net.Socket>();
  let bytesUp = 0;
  let bytesDown = 0;
  let cuts = 0;
  let connections = 0;
  const server = net.createServer((client) => {
    connections++;
    const cut = pending.shift();
    const upstream = net.connect({ host: target.host ?? '127.0.0.1', port: target.port });
    sockets.add(client);
    sockets.add(upstream);
    const forget = (socket: net.Socket) => () => sockets.delete(socket);
    client.once('close', forget(client));
    upstream.once('close', forget(upstream));
    const counted = { up: 0, down: 0 };
    let done = false;
    const breakBoth = (): void => {
      if (done) return;
      done = true;
      cuts++;
      if (cut?.stall === true) return; // silent from now on, until the client goes
      client.destroy();
      upstream.destroy();
    };
    const relay = (from: net.Socket, to: net.Socket, direction: Direction): void => {
      from.on('data', (chunk: Buffer) => {
        if (done) return;
        let data = chunk;
        if (cut && cut.direction === direction) {
          const room = cut.after - counted[direction];
          if (room <= 0) return breakBoth();
          if (data.length >= room) {
            data = data.subarray(0, room);
            counted[direction] += data.length;
            if (direction === 'up') bytesUp += data.length;
            else bytesDown += data.length;
            to.write(data, () => breakBoth());
            return;
          }
        }
        counted[direction] += data.length;
        if (direction === 'up') bytesUp += data.length;
        else bytesDown += data.length;
        if (!to.write(data)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
      });
      from.on('end', () => (done && cut?.stall === true ? to.destroy() : to.end()));
      from.on('error', () => to.destroy());
      from.on('close', () => {
        if (!to.destroyed && to.writableEnded === false) to.end();
      });
    };
    if (cut && cut.after === 0) {
      // Broken before a byte passes: the client sees the connection close at once.
      upstream.once('connect', breakBoth);
    }
    relay(client, upstream, 'up');
    relay(upstream, client, 'down');
    client.on('error', () => undefined);
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: CutProxy = {
    port: (server.address() as net.AddressInfo).port,
    get bytesUp() {
      return bytesUp;
    },
    get bytesDown() {
      return bytesDown;
    },
    get cuts() {
      return cuts;
    },
    get connections() {
      return connections;
    },
    setCuts(next) {
      pending = [...next];
    },
    async close() {
      open.delete(proxy);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  open.add(proxy);
  return proxy;
}

export { seededRandom } from './random.js';

/** The seed from BUCKET_TEST_SEED, or a fresh one. */
export function testSeed(): number {
  const given = process.env.BUCKET_TEST_SEED;
  return given !== undefined && given !== '' ? Number(given) : Math.floor(Math.random() * 2 ** 31);
}

/** `count` cut points in `direction`, at sorted random offsets in (0, span), for one connection each. */
export function randomCuts(random: () => number, count: number, direction: Direction, span: number): CutPoint[] {
  return Array.from({ length: count }, () => ({ direction, after: 1 + Math.floor(random() * (span - 1)) }));
}
