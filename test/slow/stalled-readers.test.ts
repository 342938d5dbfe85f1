/**
 * Readers that ask for a download and then never read cannot make the
 * server buffer without bound: 300 of them on a 16 MiB file, and the
 * server's peak resident memory stays under 256 MiB. Afterwards a normal
 * client still downloads the file intact.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { BucketClient } from '../../src/client/index.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { hashingSink } from '../helpers/sinks.js';

const MiB = 1024 * 1024;
const FILE_SIZE = 16 * MiB;
const READERS = 300;
const MAX_SERVER_RSS = 256 * MiB;
// How long the server gets to fill the stalled connections, at most.
const FILL_BOUND_MS = 30_000;

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

/** Asks for the file, reads the 150 line, then pauses for good. */
function stalledReader(port: number): Promise<{ socket: net.Socket; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write('DOWNLOAD_FILE,big,f.bin\n'));
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply to DOWNLOAD_FILE: ${JSON.stringify(got.toString('latin1').slice(0, 80))}`));
    }, 10_000);
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      const lf = got.indexOf(0x0a);
      if (lf < 0) return;
      socket.pause();
      socket.off('data', onData);
      clearTimeout(timer);
      resolve({ socket, head: got.subarray(0, lf).toString('utf8') });
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      reject(new Error('closed before the reply'));
    });
  });
}

test(`${READERS} stalled readers of a 16 MiB file: server memory stays bounded`, { timeout: 180_000 }, async (t) => {
  // tmpfs when there is one, so the test measures the program, not the disk.
  const root = await tempDir('bucketd-root-', existsSync('/dev/shm') ? '/dev/shm' : undefined);
  let server: RunningServer | undefined;
  const sockets: net.Socket[] = [];
  try {
    server = await startServer({ root, args: ['--max-connections-per-ip', '1000'] });
    const { port } = server;
    const data = randomBytes(FILE_SIZE);
    const setup = await BucketClient.connect({ port: server.port });
    await setup.createBucket('big');
    await setup.upload('big', 'f.bin', Readable.from([data]), FILE_SIZE);
    await setup.exit();
    const idle = await server.peakRss();

    for (let first = 0; first < READERS; first += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, READERS - first) }, () => stalledReader(port)));
      for (const { socket, head } of batch) {
        sockets.push(socket);
        assert.match(head, new RegExp(`^150,f\\.bin,${FILE_SIZE} `), head);
      }
    }

    // The server fills what it will; wait until its peak stops growing
    // (no more than 1 MiB in 3 s), within a bound.
    const start = Date.now();
    let peak = await server.peakRss();
    let stableSince = Date.now();
    while (Date.now() - start < FILL_BOUND_MS && Date.now() - stableSince < 3000 && peak <= MAX_SERVER_RSS) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const now = await server.peakRss();
      if (now - peak > MiB) stableSince = Date.now();
      peak = Math.max(peak, now);
    }
    t.diagnostic(`server peak RSS: ${mib(idle)} before, ${mib(peak)} with ${READERS} stalled readers (waited ${Date.now() - start} ms)`);
    assert.ok(peak < MAX_SERVER_RSS, `server peak RSS ${mib(peak)} with ${READERS} stalled readers (limit ${mib(MAX_SERVER_RSS)})`);

    for (const socket of sockets) socket.destroy();
    sockets.length = 0;

    // The server is still whole: a normal download arrives intact.
    const client = await BucketClient.connect({ port: server.port });
    const received = hashingSink();
    const result = await client.download('big', 'f.bin', received.sink);
    assert.equal(received.received, FILE_SIZE);
    assert.equal(result.sha256, sha(data));
    assert.equal(received.digest(), sha(data));
    await client.exit();
  } finally {
    for (const socket of sockets) socket.destroy();
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  }
});
