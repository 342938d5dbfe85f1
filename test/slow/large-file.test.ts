/**
 * A file of more than 1 GiB streams up and down with flat memory. The bytes
 * are generated on the fly and checked by SHA-256, never kept whole.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { BucketClient } from '../../src/client/index.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { hashingSink } from '../helpers/sinks.js';

const SIZE = 1024 ** 3 + 12_345; // just over 1 GiB, and not a multiple of any chunk size
const CHUNK = 1024 * 1024;
// Measured: about 93 MiB, of which about 46 MiB is an idle Node process.
const MAX_SERVER_RSS = 120 * 1024 * 1024;

/** Deterministic pseudo-random bytes: each chunk differs, none is kept. */
function generated(size: number): Readable {
  let sent = 0;
  let counter = 0;
  const block = Buffer.alloc(CHUNK);
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      if (sent >= size) {
        this.push(null);
        return;
      }
      const length = Math.min(CHUNK, size - sent);
      const chunk = Buffer.from(block.subarray(0, length));
      chunk.writeUInt32LE(counter++, 0);
      chunk.writeUInt32LE(counter * 2654435761 >>> 0, length >= 8 ? 4 : 0);
      sent += length;
      this.push(chunk);
    },
  });
}

async function hashOf(source: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of source) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

describe('a file over 1 GiB', () => {
  let server: RunningServer;

  before(async () => {
    // tmpfs when there is one, so the test measures the program, not the disk.
    server = await startServer({ base: existsSync('/dev/shm') ? '/dev/shm' : undefined });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test('streams up and down intact while the server stays small', async () => {
    const expected = await hashOf(generated(SIZE));
    const client = await BucketClient.connect({ port: server.port });
    await client.createBucket('big');
    const stored = await client.upload('big', 'huge.bin', generated(SIZE), SIZE);
    assert.equal(stored.size, SIZE);
    assert.equal(stored.sha256, expected);
    assert.equal((await stat(path.join(server.root, 'big', 'huge.bin'))).size, SIZE);

    const received = hashingSink();
    const fetched = await client.download('big', 'huge.bin', received.sink);
    assert.equal(received.received, SIZE);
    assert.equal(fetched.sha256, expected);
    assert.equal(received.digest(), expected);
    await client.exit();

    const peak = await server.peakRss();
    assert.ok(peak > 0 && peak < MAX_SERVER_RSS, `server peak RSS ${Math.round(peak / 1024 / 1024)} MB`);
  });
});
