/**
 * A slow network between a client and the real server: a TCP relay that
 * passes at most `bytesPerSecond` each way, so that a transfer of a few
 * MiB lasts long enough for its progress to be seen.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';

export interface SlowLink {
  port: number;
  close(): Promise<void>;
}

const TICK_MS = 50;

/** Copies `from` to `to`, at most `bytesPerSecond`, with backpressure. */
function throttle(from: Duplex, to: Duplex, bytesPerSecond: number): void {
  const perTick = Math.max(1, Math.floor((bytesPerSecond * TICK_MS) / 1000));
  let queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  const timer = setInterval(() => {
    let budget = perTick;
    while (budget > 0 && queue.length > 0) {
      const head = queue[0]!;
      const part = head.subarray(0, budget);
      if (part.length === head.length) queue.shift();
      else queue[0] = head.subarray(part.length);
      queued -= part.length;
      budget -= part.length;
      to.write(part);
    }
    if (queued < perTick * 4) from.resume();
    if (ended && queued === 0) {
      clearInterval(timer);
      to.end();
    }
  }, TICK_MS);
  from.on('data', (chunk: Buffer) => {
    queue.push(chunk);
    queued += chunk.length;
    if (queued >= perTick * 4) from.pause();
  });
  from.on('end', () => (ended = true));
  from.on('close', () => {
    ended = true;
  });
  to.on('close', () => {
    clearInterval(timer);
    queue = [];
    from.destroy();
  });
}

export async function slowLink(targetPort: number, bytesPerSecond: number): Promise<SlowLink> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ port: targetPort, host: '127.0.0.1' });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    throttle(client, upstream, bytesPerSecond);
    throttle(upstream, client, bytesPerSecond);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const link: SlowLink = {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return link;
}
