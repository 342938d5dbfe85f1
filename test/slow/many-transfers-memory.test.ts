/**
 * 500 clients at once — 250 uploading distinct 1 MiB files, 250 downloading
 * others — every transfer verified by SHA-256, while the server's peak
 * resident memory stays under 256 MiB. The upload bodies are held until
 * every upload has its go-ahead, so that they really are in flight together.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { BucketClient } from '../../src/client/index.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { hashingSink } from '../helpers/sinks.js';

const MiB = 1024 * 1024;
const SIZE = MiB;
const UPLOADERS = 250;
const DOWNLOADERS = 250;
const MAX_SERVER_RSS = 256 * MiB;
const GATE_BOUND_MS = 20_000;

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

/** Distinct, cheap, deterministic contents for file `index` of a `kind`. */
function contents(kind: number, index: number): Buffer {
  const data = Buffer.alloc(SIZE, (index * 31 + kind) & 0xff);
  for (let offset = 0; offset + 8 <= SIZE; offset += 4096) {
    data.writeUInt32LE(index, offset);
    data.writeUInt32LE(kind * 0x10000 + offset / 4096, offset + 4);
  }
  return data;
}

/** Connects `count` clients, a batch at a time (the listen backlog is finite). */
async function connectMany(port: number, count: number): Promise<BucketClient[]> {
  const clients: BucketClient[] = [];
  for (let first = 0; first < count; first += 100) {
    clients.push(...(await Promise.all(Array.from({ length: Math.min(100, count - first) }, () => BucketClient.connect({ port })))));
  }
  return clients;
}

test(`${UPLOADERS} uploads and ${DOWNLOADERS} downloads of 1 MiB at once: all verified, server memory bounded`, { timeout: 240_000 }, async (t) => {
  // On a real disk, not tmpfs: uploads then queue for the disk (fsync), as they do in use.
  const root = await tempDir('bucketd-root-');
  let server: RunningServer | undefined;
  const clients: BucketClient[] = [];
  try {
    server = await startServer({ root, args: ['--max-connections', '2000', '--max-connections-per-ip', '2000'] });
    // The files to download, uploaded one by one beforehand.
    const setup = await BucketClient.connect({ port: server.port });
    clients.push(setup);
    await setup.createBucket('ups');
    await setup.createBucket('downs');
    const downloadSha: string[] = [];
    for (let i = 0; i < DOWNLOADERS; i++) {
      const data = contents(1, i);
      downloadSha.push(sha(data));
      await setup.upload('downs', `d-${i}.bin`, Readable.from([data]), SIZE);
    }
    const uploads = Array.from({ length: UPLOADERS }, (_, i) => contents(2, i));
    const uploadSha = uploads.map(sha);
    const before = await server.peakRss();

    // Every client connected first, then every transfer started at once.
    clients.push(...(await connectMany(server.port, UPLOADERS + DOWNLOADERS)));
    const workers = clients.slice(1);
    // Upload bodies start together: each waits until every upload has its
    // go-ahead (or, at most, GATE_BOUND_MS), so that all are in flight at once.
    let waiting = UPLOADERS;
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const gateTimer = setTimeout(openGate, GATE_BOUND_MS);
    gateTimer.unref();
    async function* gated(data: Buffer): AsyncGenerator<Buffer> {
      // The client asks for body bytes only after the server's 150.
      if (--waiting === 0) openGate();
      await gate;
      yield data;
    }
    const started = Date.now();
    const results = await Promise.allSettled([
      ...uploads.map(async (data, i) => {
        const stored = await workers[i]!.upload('ups', `u-${i}.bin`, gated(data), SIZE);
        assert.equal(stored.sha256, uploadSha[i], `upload ${i}`);
      }),
      ...downloadSha.map(async (expected, i) => {
        const received = hashingSink();
        const fetched = await workers[UPLOADERS + i]!.download('downs', `d-${i}.bin`, received.sink);
        assert.equal(received.received, SIZE, `download ${i} size`);
        assert.equal(fetched.sha256, expected, `download ${i}`);
        assert.equal(received.digest(), expected, `download ${i} bytes`);
      }),
    ]);
    clearTimeout(gateTimer);
    const peak = await server.peakRss();
    const failed = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
    t.diagnostic(`server peak RSS: ${mib(before)} before, ${mib(peak)} after ${UPLOADERS + DOWNLOADERS} concurrent transfers (${Date.now() - started} ms); failed transfers: ${failed.length}`);
    assert.deepEqual(
      failed.slice(0, 5).map((f) => String(f.reason)),
      [],
      `${failed.length} of ${results.length} transfers failed`,
    );

    const listed = await setup.listFiles('ups');
    assert.equal(listed.length, UPLOADERS);
    assert.deepEqual(new Set(listed.map((file) => file.sha256)), new Set(uploadSha));
    assert.ok(peak < MAX_SERVER_RSS, `server peak RSS ${mib(peak)} with ${UPLOADERS + DOWNLOADERS} concurrent transfers (limit ${mib(MAX_SERVER_RSS)})`);
  } finally {
    await Promise.all(clients.map((client) => client.exit().catch(() => client.close())));
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  }
});
