/**
 * Readers that stop reading cannot hurt anyone else: downloads still move
 * when they hold the whole buffer pool, a deadline inside a download body
 * closes it without a line that could pass for file bytes, and refused
 * connections cannot linger past their deadline.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { BucketClient } from '../../src/client/client.js';
import { newRoot } from '../helpers/bucketd.js';
import { RawPeer } from '../helpers/raw.js';
import { startServer } from '../helpers/server.js';
import { hashingSink } from '../helpers/sinks.js';

const MiB = 1024 * 1024;

async function stalledReader(port: number, request: string): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => undefined);
  socket.pause(); // never reads
  socket.write(request);
  return socket;
}

test('downloads move while stalled readers hold every pooled buffer', async () => {
  // 3M of buffer memory: a pool of four 256 KiB buffers, which eight stalled readers exhaust.
  const server = await startServer({ args: ['--buffer-memory', '3M', '--min-rate', '1', '--rate-window', '60'] });
  const stalled: net.Socket[] = [];
  try {
    const client = await BucketClient.connect({ port: server.port });
    await client.createBucket('big');
    const big = randomBytes(16 * MiB);
    await client.upload('big', 'f.bin', Readable.from([big]), big.length);
    const small = randomBytes(3 * MiB);
    await client.upload('big', 'small.bin', Readable.from([small]), small.length);
    for (let i = 0; i < 8; i++) stalled.push(await stalledReader(server.port, 'DOWNLOAD_FILE,big,f.bin\n'));
    await new Promise((resolve) => setTimeout(resolve, 500)); // let them fill their socket buffers
    const received = hashingSink();
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the download waited behind the stalled readers')), 15_000).unref());
    const result = await Promise.race([client.download('big', 'small.bin', received.sink), timeout]);
    assert.equal(received.received, small.length);
    assert.equal(received.digest(), result.sha256);
    await client.exit();
  } finally {
    for (const socket of stalled) socket.destroy();
    await server.stop();
  }
});

async function cutShortDownload(args: string[]): Promise<void> {
  // The file is stored by a server without the tight limits, so that a
  // busy machine's pause during the upload cannot trip them first.
  const root = await newRoot();
  const data = randomBytes(32 * MiB);
  const loader = await startServer({ root });
  try {
    const client = await BucketClient.connect({ port: loader.port });
    await client.createBucket('big');
    await client.upload('big', 'f.bin', Readable.from([data]), data.length);
    await client.exit();
  } finally {
    await loader.stop();
  }
  const server = await startServer({ root, args });
  try {
    const peer = await RawPeer.connect(server.port);
    peer.socket.pause();
    peer.send('DOWNLOAD_FILE,big,f.bin\n');
    await new Promise((resolve) => setTimeout(resolve, 1500)); // stalled past the deadline
    peer.socket.resume();
    assert.match(await peer.line(), /^150,f\.bin,33554432 /);
    await peer.closedByPeer();
    const body = peer.rest();
    assert.ok(body.length < data.length, 'the download was cut short');
    // Everything after the go-ahead is a prefix of the file: no line was slipped in.
    assert.ok(body.equals(data.subarray(0, body.length)), 'only file bytes arrived');
  } finally {
    await server.stop();
  }
}

test('a download below the minimum rate is closed without a line among its bytes', () => cutShortDownload(['--min-rate', '100M', '--rate-window', '0.5']));

test('a download idle past the idle timeout is closed without a line among its bytes', () => cutShortDownload(['--idle-timeout', '0.5', '--min-rate', '0']));

test('a refused connection is closed on a hard deadline, even while it keeps sending', async () => {
  const server = await startServer({ args: ['--max-connections', '1'] });
  const first = await RawPeer.connect(server.port);
  first.send('HELLO\n');
  await first.line();
  const refused = await RawPeer.connect(server.port);
  const drip = setInterval(() => refused.send('x'), 200);
  try {
    assert.match(await refused.line(), /^503,TOO_MANY_CONNECTIONS /);
    await refused.closedByPeer(5000);
  } finally {
    clearInterval(drip);
    first.close();
  }
  assert.equal(await server.stop(), 0);
});
