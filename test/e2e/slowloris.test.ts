/**
 * Slow clients cannot hold the server: a request line that drips in is cut
 * off after --request-timeout (408,REQUEST_TIMEOUT), one address cannot take
 * more than --max-connections-per-ip slots (503,TOO_MANY_CONNECTIONS),
 * so a client from another address is still served; and an upload body that
 * drips in below --min-rate gets 408,TOO_SLOW, a close, and stores nothing.
 */
import assert from 'node:assert/strict';
import { readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { RawPeer } from '../helpers/raw.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

// Every slow client is closed by the server within this long, or the test fails.
const CLOSE_BOUND_MS = 10_000;
const DRIP_MS = 300;

/** A raw connection from a chosen loopback address, that notes what it hears and when it is closed. */
class Dripper {
  readonly socket: net.Socket;
  received = '';
  closedAt: number | undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => (this.received += text));
    socket.on('close', () => (this.closedAt ??= Date.now()));
    socket.on('error', () => undefined);
  }

  static connect(port: number, localAddress: string): Promise<Dripper> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port, localAddress }, () => resolve(new Dripper(socket)));
      socket.once('error', reject);
    });
  }

  get firstLine(): string | undefined {
    const lf = this.received.indexOf('\n');
    return lf < 0 ? undefined : this.received.slice(0, lf);
  }

  drip(data: string): void {
    if (this.closedAt === undefined && !this.socket.destroyed && this.socket.writable) this.socket.write(data);
  }
}

async function until(condition: () => boolean, deadline: number): Promise<void> {
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}

test('dripped request lines: per-address limit, REQUEST_TIMEOUT, and other addresses still served', async (t) => {
  const root = await tempDir('bucketd-root-');
  let server: RunningServer | undefined;
  const peers: Dripper[] = [];
  let timer: NodeJS.Timeout | undefined;
  let other: RawPeer | undefined;
  try {
    // Linux loopback answers on all of 127/8; elsewhere 127.0.0.2 may not exist.
    const probe = await Dripper.connect(1, '127.0.0.2').catch((error: NodeJS.ErrnoException) => error.code);
    if (probe === 'EADDRNOTAVAIL') {
      t.skip('SKIPPED: cannot connect from 127.0.0.2 here');
      return;
    }
    if (probe instanceof Dripper) probe.socket.destroy();
    server = await startServer({
      root,
      args: ['--max-connections', '40', '--max-connections-per-ip', '20', '--request-timeout', '1.5'],
    });
    // 40 connections from 127.0.0.2, each sending one byte of a line that never ends every 300 ms.
    for (let i = 0; i < 40; i++) {
      const peer = await Dripper.connect(server.port, '127.0.0.2');
      peers.push(peer);
      peer.drip('A');
    }
    const start = Date.now();
    timer = setInterval(() => {
      for (const peer of peers) peer.drip('A');
    }, DRIP_MS);

    // Meanwhile a client from 127.0.0.1 is served.
    other = await RawPeer.connect(server.port);
    other.send('HELLO\n');
    const hello = await other.line(3000).catch((error: Error) => `(no reply: ${error.message})`);

    await until(() => peers.every((peer) => peer.closedAt !== undefined), start + CLOSE_BOUND_MS);
    clearInterval(timer);
    timer = undefined;

    const firstCodes = peers.map((peer) => peer.firstLine?.split(' ')[0] ?? '(nothing)');
    const tally = new Map<string, number>();
    for (const code of firstCodes) tally.set(code, (tally.get(code) ?? 0) + 1);
    const open = peers.filter((peer) => peer.closedAt === undefined).length;
    const slowest = Math.max(...peers.map((peer) => (peer.closedAt ?? Infinity) - start));
    t.diagnostic(`127.0.0.2 first replies: ${JSON.stringify(Object.fromEntries(tally))}; still open after ${CLOSE_BOUND_MS} ms: ${open}`);
    t.diagnostic(`127.0.0.1 HELLO got: ${hello}`);

    assert.match(hello, /^200,bucketd,/, 'a client from another address is served while one address drips');
    assert.equal(tally.get('503,TOO_MANY_CONNECTIONS') ?? 0, 20, `beyond 20 per address: TOO_MANY_CONNECTIONS; got ${JSON.stringify(Object.fromEntries(tally))}`);
    assert.equal(tally.get('408,REQUEST_TIMEOUT') ?? 0, 20, `the 20 admitted get REQUEST_TIMEOUT; got ${JSON.stringify(Object.fromEntries(tally))}`);
    assert.equal(open, 0, `every dripping connection is closed by the server within ${CLOSE_BOUND_MS} ms (slowest: ${slowest} ms)`);

    // Once they are gone, 127.0.0.2 is served again (the server may take a
    // moment to see the closes: a few tries, within 5 s).
    let again = '';
    for (const deadline = Date.now() + 5000; !again.startsWith('200,') && Date.now() < deadline; ) {
      const peer = await Dripper.connect(server.port, '127.0.0.2');
      peer.drip('HELLO\n');
      await until(() => peer.firstLine !== undefined || peer.closedAt !== undefined, Date.now() + 2000);
      again = peer.firstLine ?? '(nothing)';
      peer.socket.destroy();
      if (!again.startsWith('200,')) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.match(again, /^200,bucketd,/, 'the address is served again once its connections are closed');
  } finally {
    if (timer) clearInterval(timer);
    for (const peer of peers) peer.socket.destroy();
    other?.close();
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('a dripped upload body below --min-rate gets TOO_SLOW, a close, and nothing stored', async (t) => {
  const root = await tempDir('bucketd-root-');
  let server: RunningServer | undefined;
  let timer: NodeJS.Timeout | undefined;
  let peer: RawPeer | undefined;
  try {
    server = await startServer({ root, args: ['--min-rate', '100000', '--rate-window', '1'] });
    peer = await RawPeer.connect(server.port);
    peer.send('NEW_BUCKET,box\n');
    assert.match(await peer.line(), /^201,box,/);
    peer.send('UPLOAD_FILE,box,slow.bin,1000000\n');
    assert.match(await peer.line(), /^150,slow\.bin,1000000,[0-9a-f]{32} /);
    const start = Date.now();
    // A few bytes every 200 ms: far below 100000 bytes per second.
    timer = setInterval(() => {
      if (!peer!.closed) peer!.send(Buffer.alloc(4, 0x61));
    }, 200);
    const reply = await peer.line(CLOSE_BOUND_MS).catch((error: Error) => `(no reply: ${error.message})`);
    let closed = true;
    await peer.closedByPeer(Math.max(1, start + CLOSE_BOUND_MS - Date.now())).catch(() => (closed = false));
    clearInterval(timer);
    timer = undefined;
    t.diagnostic(`dripped upload got: ${reply}; closed by the server: ${closed} (${Date.now() - start} ms)`);

    assert.equal(reply.split(' ')[0], '408,TOO_SLOW', reply);
    assert.ok(closed, `the connection is closed within ${CLOSE_BOUND_MS} ms`);

    const check = await RawPeer.connect(server.port);
    check.send('LIST_FILE,box\n');
    assert.match(await check.line(), /^200,0 /, 'nothing was stored');
    check.close();
    // What arrived waits, staged and invisible, for a resume (or its expiry).
    assert.deepEqual(await readdir(path.join(server.root, '.bucketd', 'tmp')), [], 'nothing is left in the temporary folder');
  } finally {
    if (timer) clearInterval(timer);
    peer?.close();
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('the request deadline holds for every request of a connection, and an idle pause between requests is not a slow request', async () => {
  const server = await startServer({ args: ['--request-timeout', '0.3', '--idle-timeout', '10'] });
  try {
    const peer = await RawPeer.connect(server.port);
    for (let i = 0; i < 3; i++) {
      peer.send('HELLO\n');
      assert.match(await peer.line(), /^200,bucketd,/);
      // Idle longer than the request deadline: the deadline runs only while a line is under way.
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(peer.closed, false, 'an idle connection between requests stays open');
    }
    // A line started and never finished, after several served ones: still caught in time.
    const started = Date.now();
    peer.send('HEL');
    assert.match(await peer.line(3000), /^408,REQUEST_TIMEOUT /);
    assert.ok(Date.now() - started < 2500, `closed after ${Date.now() - started} ms`);
    await peer.closedByPeer();
  } finally {
    await server.stop();
  }
});
