/**
 * uploadFile's way for large files (hashed on a worker thread from the
 * buffers being sent): the stored bytes and SHA-256 are the file's, a file
 * that grows or shrinks while it goes fails as SOURCE_CHANGED, and a
 * cancelled upload stops its thread and reports CANCELLED.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BucketClient, downloadFile, uploadFile } from '../../src/client/index.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

const SIZE = 64 * 1024 * 1024 + 4321; // past the worker's threshold, and not a whole number of chunks
const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe('large uploads from a file', () => {
  let server: RunningServer;
  let work: string;
  let client: BucketClient;
  let content: Buffer;

  before(async () => {
    server = await startServer();
    work = await tempDir();
    client = await BucketClient.connect({ port: server.port });
    await client.createBucket('large');
    content = randomBytes(SIZE);
  });

  after(async () => {
    client.close();
    await server.stop();
  });

  test('the file is stored whole, with its own SHA-256', async () => {
    const file = path.join(work, 'whole.bin');
    await writeFile(file, content);
    const result = await uploadFile(client, file, 'large');
    assert.equal(result.size, SIZE);
    assert.equal(result.sha256, sha(content));
    const back = await downloadFile(client, 'large', 'whole.bin', path.join(work, 'back.bin'));
    assert.equal(back.sha256, sha(content));
    assert.ok((await readFile(back.path)).equals(content));
  });

  test('a file that grows while it is sent fails as SOURCE_CHANGED, and nothing is stored', async () => {
    const file = path.join(work, 'growing.bin');
    await writeFile(file, content);
    let grown = false;
    const onProgress = (): void => {
      if (grown) return;
      grown = true;
      void appendFile(file, Buffer.alloc(1000, 1));
    };
    await assert.rejects(uploadFile(client, file, 'large', 'growing.bin', { onProgress, retries: 0 }), (error: Error & { code?: string }) => error.code === 'SOURCE_CHANGED');
    assert.ok(!(await client.listFiles('large')).some((entry) => entry.name === 'growing.bin'));
  });

  test('a file that shrinks while it is sent fails as SOURCE_CHANGED', async () => {
    const file = path.join(work, 'shrinking.bin');
    await writeFile(file, content);
    let cut = false;
    const onProgress = (): void => {
      if (cut) return;
      cut = true;
      void truncate(file, SIZE - 5 * 1024 * 1024);
    };
    await assert.rejects(uploadFile(client, file, 'large', 'shrinking.bin', { onProgress, retries: 0 }), (error: Error & { code?: string }) => error.code === 'SOURCE_CHANGED');
  });

  test('a cancelled upload ends as CANCELLED', async () => {
    const file = path.join(work, 'cancelled.bin');
    await writeFile(file, content);
    const controller = new AbortController();
    let aborted = false;
    const onProgress = (done: number): void => {
      if (!aborted && done > 8 * 1024 * 1024) {
        aborted = true;
        controller.abort();
      }
    };
    await assert.rejects(uploadFile(client, file, 'large', 'cancelled.bin', { onProgress, signal: controller.signal }), (error: Error & { code?: string }) => error.code === 'CANCELLED');
    // The client goes on working after it.
    assert.ok(Array.isArray(await client.listFiles('large')));
  });
});
