/** 50 clients uploading and downloading at once, every checksum verified. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { BucketClient } from '../../src/client/index.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const CLIENTS = 50;
const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('many clients at once', () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({ args: ['--max-connections-per-ip', String(CLIENTS)] });
    const setup = await BucketClient.connect({ port: server.port });
    await setup.createBucket('shared');
    await setup.exit();
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test(`${CLIENTS} clients upload and download concurrently with every checksum intact`, async () => {
    const results = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, index) => {
        const client = await BucketClient.connect({ port: server.port });
        const data = randomBytes(256 * 1024 + index * 4099);
        // Uneven chunks, to cross every boundary the server might assume.
        const chunks = [data.subarray(0, 1), data.subarray(1, 70_001), data.subarray(70_001)];
        const stored = await client.upload('shared', `file-${index}.bin`, Readable.from(chunks), data.length);
        assert.equal(stored.sha256, sha(data));
        const received: Buffer[] = [];
        const sink = new Writable({ write: (chunk: Buffer, _e, done) => (received.push(chunk), done()) });
        const fetched = await client.download('shared', `file-${index}.bin`, sink);
        assert.equal(fetched.sha256, sha(data));
        assert.ok(Buffer.concat(received).equals(data), `file-${index} came back different`);
        await client.exit();
        return stored.sha256;
      }),
    );
    assert.equal(new Set(results).size, CLIENTS);
    const check = await BucketClient.connect({ port: server.port });
    const files = await check.listFiles('shared');
    assert.equal(files.length, CLIENTS);
    assert.deepEqual(new Set(files.map((f) => f.sha256)), new Set(results));
    await check.exit();
  });

  test('concurrent uploads to one name: readers always see one whole version', async () => {
    const versions = Array.from({ length: 10 }, (_, i) => Buffer.alloc(512 * 1024, 0x30 + i));
    const valid = new Set(versions.map(sha));
    const writers = versions.map(async (data) => {
      const client = await BucketClient.connect({ port: server.port });
      await client.upload('shared', 'contended.bin', Readable.from([data]), data.length);
      await client.exit();
    });
    const reader = await BucketClient.connect({ port: server.port });
    await writers[0];
    const reads = Array.from({ length: 10 }, async () => {
      const sink = new Writable({ write: (_c, _e, done) => done() });
      const result = await reader.download('shared', 'contended.bin', sink);
      assert.ok(valid.has(result.sha256), 'a download mixed two versions');
    });
    await Promise.all([...writers, ...reads]);
    await reader.exit();
  });
});
