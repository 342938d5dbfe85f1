import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BucketError, type ErrorCode } from '../../src/errors.js';
import { FsStorage, HIDDEN_DIR } from '../../src/storage/fs/fs-storage.js';
import type { DownloadSource, Storage } from '../../src/storage/storage.js';
import { tempDir } from '../helpers/server.js';

const sha = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<BucketError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BucketError, `expected BucketError ${code}, got ${String(error)}`);
    assert.equal(error.code, code);
    return error;
  }
  assert.fail(`expected ${code}`);
}

async function put(storage: Storage, bucket: string, name: string, data: Buffer | string): Promise<void> {
  const bytes = Buffer.from(data);
  const sink = await storage.startUpload(bucket, name, bytes.length);
  await sink.write(bytes);
  await sink.commit(sha(bytes));
}

async function drain(source: DownloadSource): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const buffer = Buffer.alloc(4);
  for (let position = 0; ; ) {
    const count = await source.read(buffer, position);
    if (count === 0) break;
    chunks.push(Buffer.from(buffer.subarray(0, count)));
    position += count;
  }
  await source.close();
  return Buffer.concat(chunks);
}

async function drainFrom(source: DownloadSource, start: number): Promise<Buffer> {
  const buffer = Buffer.alloc(64);
  const count = await source.read(buffer, start);
  await source.close();
  return buffer.subarray(0, count);
}

async function readAll(storage: Storage, bucket: string, name: string): Promise<Buffer> {
  return drain(await storage.openFile(bucket, name));
}

describe('FsStorage', () => {
  let root: string;
  let storage: FsStorage;
  const tmpFiles = async (): Promise<string[]> => readdir(path.join(root, HIDDEN_DIR, 'tmp'));

  before(async () => {
    root = path.join(await tempDir(), 'nested', 'root');
    storage = await FsStorage.open(root);
  });
  after(async () => {
    await storage.close();
    await rm(path.dirname(path.dirname(root)), { recursive: true, force: true });
  });

  test('creates ROOT with its parents; buckets are plain folders', async () => {
    await storage.createBucket('photos');
    assert.deepEqual((await readdir(root)).sort(), [HIDDEN_DIR, 'photos']);
    await rejectsWith(storage.createBucket('photos'), 'BUCKET_EXISTS');
  });

  test('bucket names follow the S3 rules', async () => {
    for (const bad of ['ab', 'A-bucket', '-abc', 'abc-', 'a_b_c', 'a..b', '192.168.1.1', 'x'.repeat(64), '.bucketd', '../etc', 'a b c']) {
      await rejectsWith(storage.createBucket(bad), 'INVALID_BUCKET_NAME');
    }
    for (const good of ['abc', 'my.bucket-2', 'x'.repeat(63)]) {
      await storage.createBucket(good);
      await storage.deleteBucket(good);
    }
  });

  test('lists buckets sorted by name, ignoring the hidden area and strays', async () => {
    await storage.createBucket('zeta');
    await storage.createBucket('alpha');
    await writeFile(path.join(root, 'stray-file'), 'x');
    await mkdir(path.join(root, 'Not_A_Bucket'));
    const names = (await storage.listBuckets()).map((b) => b.name);
    assert.deepEqual(names, ['alpha', 'photos', 'zeta']);
    await storage.deleteBucket('zeta');
    await storage.deleteBucket('alpha');
  });

  test('an upload is a plain file with its bytes; the listing knows its SHA-256', async () => {
    await put(storage, 'photos', 'a.txt', 'hello');
    assert.equal(await readFile(path.join(root, 'photos', 'a.txt'), 'utf8'), 'hello');
    const [file] = await storage.listFiles('photos');
    assert.deepEqual({ name: file?.name, size: file?.size, sha256: file?.sha256 }, { name: 'a.txt', size: 5, sha256: sha('hello') });
    assert.deepEqual(await tmpFiles(), []);
  });

  test('a checksum mismatch stores nothing and keeps the old file', async () => {
    const sink = await storage.startUpload('photos', 'a.txt', 3);
    await sink.write(Buffer.from('bad'));
    await rejectsWith(sink.commit(sha('not it')), 'CHECKSUM_MISMATCH');
    assert.equal(await readFile(path.join(root, 'photos', 'a.txt'), 'utf8'), 'hello');
    assert.deepEqual(await tmpFiles(), []);
  });

  test('short and long bodies are refused', async () => {
    const short = await storage.startUpload('photos', 'short', 10);
    await short.write(Buffer.from('12345'));
    await rejectsWith(short.commit(sha('12345')), 'INCOMPLETE_BODY');
    const long = await storage.startUpload('photos', 'long', 2);
    await rejectsWith(long.write(Buffer.from('123')), 'BAD_FIELD');
    await long.abort();
    assert.deepEqual((await storage.listFiles('photos')).map((f) => f.name), ['a.txt']);
    assert.deepEqual(await tmpFiles(), []);
  });

  test('an aborted upload leaves nothing behind', async () => {
    const sink = await storage.startUpload('photos', 'gone.bin', 1000);
    await sink.write(Buffer.alloc(500));
    assert.equal((await tmpFiles()).length, 1);
    await sink.abort();
    await sink.abort();
    assert.deepEqual(await tmpFiles(), []);
    await rejectsWith(storage.openFile('photos', 'gone.bin'), 'NO_SUCH_FILE');
  });

  test('a replace is atomic: an open reader keeps the old bytes', async () => {
    await put(storage, 'photos', 'r.txt', 'old version');
    const reader = await storage.openFile('photos', 'r.txt');
    const first = Buffer.alloc(4);
    assert.equal(await reader.read(first, 0), 4); // half-way through the old file...
    await put(storage, 'photos', 'r.txt', 'the new one'); // ...it is replaced
    const rest = await drainFrom(reader, 4);
    assert.equal(first.toString() + rest.toString(), 'old version');
    assert.equal((await readAll(storage, 'photos', 'r.txt')).toString(), 'the new one');
    // The replaced file was set aside and is removed in the background.
    await storage.settled();
    assert.deepEqual(await readdir(path.join(root, HIDDEN_DIR, 'trash')), []);
  });

  test('file names: any UTF-8, normalised to NFC; the unsafe ones refused', async () => {
    const nfd = 'cafe\u0301.txt';
    await put(storage, 'photos', nfd, 'x');
    assert.ok((await readdir(path.join(root, 'photos'))).includes('caf\u00e9.txt'));
    assert.equal((await readAll(storage, 'photos', 'caf\u00e9.txt')).toString(), 'x');
    for (const name of ['a b, c.txt', '🎉', 'ñandú', '%41', '.hidden', 'x'.repeat(255)]) {
      await put(storage, 'photos', name, name);
      assert.equal((await readAll(storage, 'photos', name)).toString(), name);
    }
    for (const bad of ['', '.', '..', 'a/b', '../x', '/etc/passwd', 'a\u0000b', 'a\nb', 'x'.repeat(256), 'é'.repeat(128)]) {
      await rejectsWith(storage.startUpload('photos', bad, 1), 'INVALID_FILE_NAME');
      await rejectsWith(storage.openFile('photos', bad), 'INVALID_FILE_NAME');
    }
  });

  test('nothing reaches outside ROOT, and planted symlinks are not followed', async () => {
    const outside = path.join(path.dirname(root), 'secret.txt');
    await writeFile(outside, 'secret');
    await symlink(outside, path.join(root, 'photos', 'link.txt'));
    await symlink(path.dirname(root), path.join(root, 'linked'));
    await rejectsWith(storage.openFile('photos', 'link.txt'), 'NO_SUCH_FILE');
    await rejectsWith(storage.deleteFile('photos', 'link.txt'), 'NO_SUCH_FILE');
    assert.ok(!(await storage.listFiles('photos')).some((f) => f.name === 'link.txt'));
    await rejectsWith(storage.listFiles('linked'), 'NO_SUCH_BUCKET');
    assert.ok(!(await storage.listBuckets()).some((b) => b.name === 'linked'));
    // Replacing a planted link replaces the link, never the file it points at.
    await put(storage, 'photos', 'link.txt', 'mine');
    assert.equal(await readFile(outside, 'utf8'), 'secret');
    await rm(path.join(root, 'linked'));
  });

  test('unknown bucket and unknown file are distinct errors', async () => {
    await rejectsWith(storage.listFiles('nobucket'), 'NO_SUCH_BUCKET');
    await rejectsWith(storage.startUpload('nobucket', 'a', 1), 'NO_SUCH_BUCKET');
    await rejectsWith(storage.openFile('nobucket', 'a'), 'NO_SUCH_BUCKET');
    await rejectsWith(storage.deleteFile('nobucket', 'a'), 'NO_SUCH_BUCKET');
    await rejectsWith(storage.deleteFile('photos', 'nofile'), 'NO_SUCH_FILE');
    await rejectsWith(storage.deleteBucket('nobucket'), 'NO_SUCH_BUCKET');
  });

  test('a non-empty bucket is deleted only when forced, and says how many files it holds', async () => {
    await storage.createBucket('full');
    await put(storage, 'full', 'one', '1');
    await put(storage, 'full', 'two', '2');
    const error = await rejectsWith(storage.deleteBucket('full'), 'BUCKET_NOT_EMPTY');
    assert.deepEqual(error.details, ['2']);
    assert.deepEqual(await storage.deleteBucket('full', { force: true }), { deletedFiles: 2 });
    await rejectsWith(storage.listFiles('full'), 'NO_SUCH_BUCKET');
    await storage.settled();
    assert.deepEqual(await readdir(path.join(root, HIDDEN_DIR, 'trash')), []);
    await storage.createBucket('full');
    assert.deepEqual(await storage.listFiles('full'), []);
    await storage.deleteBucket('full');
  });

  test('a file changed by hand shows no stale checksum', async () => {
    await put(storage, 'photos', 'edited.txt', 'v1');
    await writeFile(path.join(root, 'photos', 'edited.txt'), 'v2 by hand');
    const file = (await storage.listFiles('photos')).find((f) => f.name === 'edited.txt');
    assert.equal(file?.size, 10);
    assert.equal(file?.sha256, undefined);
  });

  test('a bucket of many files lists whole and sorted', async () => {
    await storage.createBucket('many');
    const names = Array.from({ length: 300 }, (_, i) => `file-${String(299 - i).padStart(3, '0')}`);
    for (const name of names) await put(storage, 'many', name, name);
    const listed = await storage.listFiles('many');
    assert.deepEqual(listed.map((f) => f.name), [...names].sort());
    assert.ok(listed.every((f) => f.sha256 === sha(f.name)));
    await storage.deleteBucket('many', { force: true });
  });

  test('uploads left by a crash are removed at the next start', async () => {
    await writeFile(path.join(root, HIDDEN_DIR, 'tmp', 'leftover.upload'), 'half');
    const reopened = await FsStorage.open(root);
    assert.deepEqual(await tmpFiles(), []);
    await reopened.close();
  });
});
