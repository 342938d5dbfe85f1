import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { UploadHasher } from '../../src/client/upload-hasher.js';

const MiB = 1024 * 1024;
let dir: string;
let file: string;
const content = randomBytes(40 * MiB + 123);
const sha256 = createHash('sha256').update(content).digest('hex');

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bucketd-hasher-'));
  file = path.join(dir, 'data.bin');
  await writeFile(file, content);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `content` from `from` to `to`, fed in shared memory as the reader would. */
async function feed(hasher: UploadHasher, from: number, to: number): Promise<void> {
  const shared = Buffer.from(new SharedArrayBuffer(3 * MiB));
  for (let offset = from; offset < to; offset += shared.length) {
    const length = Math.min(shared.length, to - offset);
    content.copy(shared, 0, offset, offset + length);
    await hasher.hash(shared.subarray(0, length), offset);
  }
}

test('the worker hashes the bytes it is fed into the whole file SHA-256', async () => {
  const hasher = new UploadHasher(file, content.length);
  try {
    await feed(hasher, 0, content.length);
    assert.equal(await hasher.digest(), sha256);
  } finally {
    hasher.stop();
  }
});

test('a resume seeks back, before or after its marks, and the hash is still the whole file', async () => {
  const hasher = new UploadHasher(file, content.length);
  try {
    await feed(hasher, 0, 30 * MiB);
    hasher.seek(21 * MiB + 5); // past the mark at 16 MiB: the worker reads the rest from the file
    await feed(hasher, 21 * MiB + 5, 25 * MiB);
    hasher.seek(3 * MiB); // before any mark: from the start
    await feed(hasher, 3 * MiB, content.length);
    assert.equal(await hasher.digest(), sha256);
  } finally {
    hasher.stop();
  }
});

test('bytes fed out of place, or a digest before the end, fail', async () => {
  const hasher = new UploadHasher(file, content.length);
  try {
    await feed(hasher, 0, MiB);
    await assert.rejects(hasher.digest(), /covers 1048576 of/);
    await assert.rejects(feed(hasher, 2 * MiB, 3 * MiB), /came where the hash stood/);
    await assert.rejects(hasher.digest());
  } finally {
    hasher.stop();
  }
});
