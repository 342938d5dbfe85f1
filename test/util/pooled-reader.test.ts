import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { PooledFileReader } from '../../src/util/pooled-reader.js';

let dir: string;
let file: string;
const content = randomBytes(1_000_003); // not a multiple of the chunk size

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bucketd-pooled-'));
  file = path.join(dir, 'data.bin');
  await writeFile(file, content);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('the chunks are the range, read into no more buffers than allowed, each used again once given back', async () => {
  const reader = new PooledFileReader(file, 17, content.length, { chunkBytes: 64 * 1024, count: 3 });
  const parts: Buffer[] = [];
  const memory = new Set<ArrayBufferLike>();
  for await (const chunk of reader) {
    parts.push(Buffer.from(chunk)); // a copy: the buffer is read into again
    memory.add(chunk.buffer);
    reader.giveBack(chunk);
  }
  assert.deepEqual(Buffer.concat(parts), content.subarray(17));
  assert.ok(memory.size <= 3, `${memory.size} buffers`);
});

test('reading waits for a buffer while every one is out, and a buffer lent elsewhere too comes back only when both are done', async () => {
  const lent: Array<() => void> = [];
  const offsets: number[] = [];
  const reader = new PooledFileReader(file, 0, content.length, {
    chunkBytes: 100_000,
    count: 2,
    shared: true,
    alsoLentTo: (chunk, offset) => {
      assert.ok(chunk.buffer instanceof SharedArrayBuffer);
      assert.deepEqual(Buffer.from(chunk), content.subarray(offset, offset + chunk.length));
      offsets.push(offset);
      return new Promise<void>((resolve) => lent.push(resolve));
    },
  });
  const iterator = reader[Symbol.asyncIterator]();
  const first = (await iterator.next()).value as Uint8Array;
  const second = (await iterator.next()).value as Uint8Array;
  reader.giveBack(first);
  reader.giveBack(second);
  // Both buffers are still held by the other borrower: the third read waits.
  let third: Uint8Array | undefined;
  const pending = iterator.next().then((step) => (third = step.value as Uint8Array));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(third, undefined);
  lent.shift()!();
  await pending;
  assert.deepEqual(Buffer.from(third!), content.subarray(200_000, 300_000));
  assert.deepEqual(offsets, [0, 100_000, 200_000]);
  await iterator.return?.(undefined);
});

test('a reader stopped while waiting for a buffer ends instead of hanging', async () => {
  const reader = new PooledFileReader(file, 0, content.length, { chunkBytes: 100_000, count: 2 });
  const iterator = reader[Symbol.asyncIterator]();
  await iterator.next();
  await iterator.next(); // the read ahead now waits: neither chunk was given back
  await iterator.return?.(undefined);
});
