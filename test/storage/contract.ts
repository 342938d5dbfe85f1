/**
 * The storage contract: every test of the Storage interface, run against
 * each backend (`runStorageContract('fs', makeFsStorage)`). Bytes go in and
 * out through storage/verify.ts, as the server sends them. Tests that look
 * at a backend's own medium (folders on disk, an S3 bucket) live beside
 * its own test file, not here.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { BucketError, type ErrorCode } from '../../src/errors.js';
import type { FileInfo, Listing, Storage } from '../../src/storage/storage.js';
import { VerifiedDownload, VerifiedUpload } from '../../src/storage/verify.js';
import { BufferPool } from '../../src/util/buffer-pool.js';

export interface StorageUnderTest {
  storage: Storage;
  /** Waits for background work, so a test can look at the result. */
  settled?(): Promise<void>;
  cleanup(): Promise<void>;
}

export const sha = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

export async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<BucketError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BucketError, `expected BucketError ${code}, got ${String(error)}`);
    assert.equal(error.code, code);
    return error;
  }
  assert.fail(`expected ${code}`);
}

export async function put(storage: Storage, bucket: string, name: string, data: Buffer | string): Promise<void> {
  const bytes = Buffer.from(data);
  const upload = new VerifiedUpload(await storage.startUpload(bucket, name, bytes.length), bytes.length);
  await upload.write(bytes);
  await upload.commit(sha(bytes));
}

// Small buffers, so even short files come in several chunks.
const pool = (): BufferPool => new BufferPool(64, 4);

export async function readAll(storage: Storage, bucket: string, name: string): Promise<Buffer> {
  const source = await storage.openFile(bucket, name);
  const download = new VerifiedDownload(source);
  const parts: Buffer[] = [];
  const buffers = pool();
  try {
    for await (const chunk of download.chunks(buffers)) {
      parts.push(Buffer.from(chunk.bytes));
      chunk.release();
    }
  } finally {
    await source.close();
  }
  const check = download.check();
  assert.ok(check.intact, `${bucket}/${name} fails its recorded checksum`);
  assert.equal(buffers.lent, 0, 'every buffer went back to the pool');
  return Buffer.concat(parts);
}

export async function entries<T>(listing: Promise<Listing<T>>): Promise<T[]> {
  const { count, pages } = await listing;
  const all: T[] = [];
  for await (const page of pages) all.push(...page);
  assert.equal(all.length, count, 'a listing yields exactly the count it announced');
  return all;
}

export function runStorageContract(backend: string, make: () => Promise<StorageUnderTest>): void {
  describe(`storage contract: ${backend}`, () => {
    let under: StorageUnderTest;
    let storage: Storage;
    const names = async (bucket: string): Promise<string[]> => (await entries(storage.listFiles(bucket))).map((file) => file.name);

    before(async () => {
      under = await make();
      storage = under.storage;
    });
    after(async () => {
      await storage.close();
      await under.cleanup();
    });

    test('buckets: create, refuse a second of the same name, list sorted, delete', async () => {
      await storage.createBucket('zeta');
      const created = await storage.createBucket('alpha');
      assert.equal(created.name, 'alpha');
      assert.ok(created.createdAt.getTime() > 0);
      await rejectsWith(storage.createBucket('alpha'), 'BUCKET_EXISTS');
      assert.deepEqual((await entries(storage.listBuckets())).map((b) => b.name).filter((n) => n === 'alpha' || n === 'zeta'), ['alpha', 'zeta']);
      await storage.deleteBucket('zeta');
      await storage.deleteBucket('alpha');
      await rejectsWith(storage.deleteBucket('alpha'), 'NO_SUCH_BUCKET');
    });

    test('the readiness probe succeeds on a working store and leaves nothing visible', async () => {
      const before = (await entries(storage.listBuckets())).map((b) => b.name);
      await storage.probe();
      await storage.probe();
      assert.deepEqual((await entries(storage.listBuckets())).map((b) => b.name), before);
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

    test('an upload reads back byte for byte, and its SHA-256 is recorded', async () => {
      await storage.createBucket('photos');
      await put(storage, 'photos', 'a.txt', 'hello');
      assert.equal((await readAll(storage, 'photos', 'a.txt')).toString(), 'hello');
      const [file] = await entries(storage.listFiles('photos'));
      assert.deepEqual({ name: file?.name, size: file?.size, sha256: file?.sha256 }, { name: 'a.txt', size: 5, sha256: sha('hello') });
      const source = await storage.openFile('photos', 'a.txt');
      assert.equal(source.recordedSha256, sha('hello'));
      await source.close();
    });

    test('an empty file, and a download from an offset', async () => {
      await put(storage, 'photos', 'empty', '');
      assert.equal((await readAll(storage, 'photos', 'empty')).length, 0);
      await put(storage, 'photos', 'digits', '0123456789');
      const source = await storage.openFile('photos', 'digits');
      const parts: Buffer[] = [];
      for await (const chunk of source.chunks(pool(), 6)) {
        parts.push(Buffer.from(chunk.bytes));
        chunk.release();
      }
      await source.close();
      assert.equal(Buffer.concat(parts).toString(), '6789');
    });

    test('a checksum mismatch stores nothing and keeps the old file', async () => {
      const upload = new VerifiedUpload(await storage.startUpload('photos', 'a.txt', 3), 3);
      await upload.write(Buffer.from('bad'));
      await rejectsWith(upload.commit(sha('not it')), 'CHECKSUM_MISMATCH');
      assert.equal((await readAll(storage, 'photos', 'a.txt')).toString(), 'hello');
    });

    test('short and long bodies are refused and store nothing', async () => {
      const short = new VerifiedUpload(await storage.startUpload('photos', 'short', 10), 10);
      await short.write(Buffer.from('12345'));
      await rejectsWith(short.commit(sha('12345')), 'INCOMPLETE_BODY');
      const long = new VerifiedUpload(await storage.startUpload('photos', 'long', 2), 2);
      await rejectsWith(long.write(Buffer.from('123')), 'BAD_FIELD');
      await long.abort();
      const listed = await names('photos');
      assert.ok(!listed.includes('short') && !listed.includes('long'));
    });

    test('an aborted upload leaves nothing behind', async () => {
      const sink = await storage.startUpload('photos', 'gone.bin', 1000);
      await sink.write(Buffer.alloc(500));
      await sink.abort();
      await sink.abort();
      await rejectsWith(storage.openFile('photos', 'gone.bin'), 'NO_SUCH_FILE');
    });

    test('a replace is atomic: an open reader keeps the old bytes', async () => {
      await put(storage, 'photos', 'r.txt', 'old version');
      const reader = await storage.openFile('photos', 'r.txt');
      const iterator = reader.chunks(pool())[Symbol.asyncIterator]();
      const first = await iterator.next(); // half-way through the old file...
      assert.ok(!first.done);
      const parts = [Buffer.from(first.value.bytes)];
      first.value.release();
      await put(storage, 'photos', 'r.txt', 'the new one'); // ...it is replaced
      for (let step = await iterator.next(); !step.done; step = await iterator.next()) {
        parts.push(Buffer.from(step.value.bytes));
        step.value.release();
      }
      await reader.close();
      assert.equal(Buffer.concat(parts).toString(), 'old version');
      assert.equal((await readAll(storage, 'photos', 'r.txt')).toString(), 'the new one');
    });

    test('file names: any UTF-8, normalised to NFC; the unsafe ones refused', async () => {
      await put(storage, 'photos', 'cafe\u0301.txt', 'x');
      assert.ok((await names('photos')).includes('caf\u00e9.txt'));
      assert.equal((await readAll(storage, 'photos', 'caf\u00e9.txt')).toString(), 'x');
      assert.deepEqual(await storage.deleteFile('photos', 'cafe\u0301.txt'), { name: 'caf\u00e9.txt' });
      for (const name of ['a b, c.txt', '🎉', 'ñandú', '%41', '.hidden', 'x'.repeat(255)]) {
        await put(storage, 'photos', name, name);
        assert.equal((await readAll(storage, 'photos', name)).toString(), name);
      }
      for (const bad of ['', '.', '..', 'a//b', 'a/', '../x', 'a/./b', 'a/../b', '/etc/passwd', 'a\u0000b', 'a/\nb', 'x'.repeat(256), 'é'.repeat(128), `a/${'x'.repeat(256)}`, 'abc/'.repeat(256) + 'x']) {
        await rejectsWith(storage.startUpload('photos', bad, 1), 'INVALID_FILE_NAME');
        await rejectsWith(storage.openFile('photos', bad), 'INVALID_FILE_NAME');
        await rejectsWith(storage.deleteFile('photos', bad), 'INVALID_FILE_NAME');
      }
    });

    test('unknown bucket and unknown file are distinct errors', async () => {
      await rejectsWith(storage.listFiles('nobucket'), 'NO_SUCH_BUCKET');
      await rejectsWith(storage.startUpload('nobucket', 'a', 1), 'NO_SUCH_BUCKET');
      await rejectsWith(storage.openFile('nobucket', 'a'), 'NO_SUCH_BUCKET');
      await rejectsWith(storage.deleteFile('nobucket', 'a'), 'NO_SUCH_BUCKET');
      await rejectsWith(storage.deleteFile('photos', 'nofile'), 'NO_SUCH_FILE');
      await rejectsWith(storage.openFile('photos', 'nofile'), 'NO_SUCH_FILE');
      await rejectsWith(storage.deleteBucket('nobucket'), 'NO_SUCH_BUCKET');
    });

    test('a non-empty bucket is deleted only when forced, and says how many files it held', async () => {
      await storage.createBucket('full');
      await put(storage, 'full', 'one', '1');
      await put(storage, 'full', 'two', '2');
      const error = await rejectsWith(storage.deleteBucket('full'), 'BUCKET_NOT_EMPTY');
      assert.deepEqual(error.details, ['2']);
      assert.deepEqual(await storage.deleteBucket('full', { force: true }), { deletedFiles: 2 });
      await rejectsWith(storage.listFiles('full'), 'NO_SUCH_BUCKET');
      await storage.createBucket('full');
      assert.deepEqual(await names('full'), []);
      await storage.deleteBucket('full');
    });

    test('an upload committed into a bucket deleted meanwhile fails with NO_SUCH_BUCKET', async () => {
      await storage.createBucket('brief');
      const upload = new VerifiedUpload(await storage.startUpload('brief', 'late.txt', 4), 4);
      await upload.write(Buffer.from('late'));
      await storage.deleteBucket('brief', { force: true });
      await rejectsWith(upload.commit(sha('late')), 'NO_SUCH_BUCKET');
      await rejectsWith(storage.listFiles('brief'), 'NO_SUCH_BUCKET');
    });

    test('racing bucket and file operations always end in a documented answer', async () => {
      const allowed = new Set<string>(['BUCKET_EXISTS', 'NO_SUCH_BUCKET', 'NO_SUCH_FILE', 'BUCKET_NOT_EMPTY']);
      const attempt = async (work: () => Promise<unknown>): Promise<void> => {
        try {
          await work();
        } catch (error) {
          assert.ok(error instanceof BucketError && allowed.has(error.code), `unexpected ${String(error)}`);
        }
      };
      for (let round = 0; round < 20; round++) {
        await Promise.all([
          attempt(() => storage.createBucket('race')),
          attempt(() => storage.deleteBucket('race', { force: round % 2 === 0 })),
          attempt(() => put(storage, 'race', `f${round % 3}`, 'x')),
          attempt(() => storage.deleteFile('race', `f${(round + 1) % 3}`)),
          attempt(() => storage.createBucket('race')),
          attempt(() => entries(storage.listFiles('race'))),
        ]);
      }
      await attempt(() => storage.deleteBucket('race', { force: true }));
    });

    test('a bucket of many files lists whole, sorted, page by page', async () => {
      await storage.createBucket('many');
      const names = Array.from({ length: 1200 }, (_, i) => `file-${String(1199 - i).padStart(4, '0')}`);
      for (let at = 0; at < names.length; at += 50) await Promise.all(names.slice(at, at + 50).map((name) => put(storage, 'many', name, name)));
      const listing = await storage.listFiles('many');
      assert.equal(listing.count, 1200);
      const listed: FileInfo[] = [];
      let pages = 0;
      for await (const page of listing.pages) {
        pages++;
        listed.push(...page);
      }
      assert.ok(pages > 1, 'a big listing comes in several pages');
      assert.deepEqual(listed.map((f) => f.name), [...names].sort());
      assert.ok(listed.every((f) => f.sha256 === sha(f.name)));
      await storage.deleteBucket('many', { force: true });
    });

    test('names in folders: stored, read back, listed whole with their folders', async () => {
      await storage.createBucket('tree');
      const files = ['2026/trip/img 01.jpg', '2026/trip/notes/day 1.txt', '2026/a.txt', 'top.txt', 'ñ/🎉/x'];
      for (const name of files) await put(storage, 'tree', name, name);
      for (const name of files) assert.equal((await readAll(storage, 'tree', name)).toString(), name);
      const listed = await entries(storage.listFiles('tree'));
      assert.deepEqual(listed.map((file) => file.name), [...files].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
      assert.ok(listed.every((file) => file.sha256 === sha(file.name)), 'checksums are recorded for names in folders');
      await put(storage, 'tree', 'e\u0301/cafe\u0301', 'nfc');
      assert.ok((await names('tree')).includes('\u00e9/caf\u00e9'), 'every segment is normalised to NFC');
      await storage.deleteBucket('tree', { force: true });
    });

    test('a prefix keeps the names that start with it; the delimiter folds one level into folders', async () => {
      await storage.createBucket('level');
      for (const name of ['a/b/c.txt', 'a/b/d.txt', 'a/e.txt', 'a-z', 'a.txt', 'ab/x', 'b']) await put(storage, 'level', name, name);
      const list = async (prefix: string | undefined, delimiter?: '/'): Promise<string[]> =>
        (await entries(storage.listFiles('level', { ...(prefix === undefined ? {} : { prefix }), ...(delimiter ? { delimiter } : {}) }))).map((entry) => (entry.kind === 'folder' ? `[${entry.name}]` : entry.name));
      // Byte order, folders by their name with its "/": "-" < "." < "/".
      assert.deepEqual(await list('', '/'), ['a-z', 'a.txt', '[a/]', '[ab/]', 'b']);
      assert.deepEqual(await list('a/', '/'), ['[a/b/]', 'a/e.txt']);
      assert.deepEqual(await list('a/b/', '/'), ['a/b/c.txt', 'a/b/d.txt']);
      assert.deepEqual(await list('a/'), ['a/b/c.txt', 'a/b/d.txt', 'a/e.txt']);
      assert.deepEqual(await list('a/b'), ['a/b/c.txt', 'a/b/d.txt']);
      assert.deepEqual(await list('a', '/'), ['a-z', 'a.txt', '[a/]', '[ab/]']);
      assert.deepEqual(await list('a/b', '/'), ['[a/b/]']);
      assert.deepEqual(await list('zz', '/'), []);
      assert.deepEqual(await list('a/b/c.txt', '/'), ['a/b/c.txt']);
      await rejectsWith(storage.listFiles('nolevel', { prefix: 'a/', delimiter: '/' }), 'NO_SUCH_BUCKET');
      await storage.deleteBucket('level', { force: true });
    });

    test('a name is never a file and a folder at once', async () => {
      await storage.createBucket('clash');
      await put(storage, 'clash', 'p', 'file');
      await put(storage, 'clash', 'q/r', 'deep');
      await rejectsWith(storage.startUpload('clash', 'p/x', 1), 'PATH_CONFLICT');
      await rejectsWith(storage.startUpload('clash', 'q', 1), 'PATH_CONFLICT');
      await rejectsWith(storage.openFile('clash', 'q'), 'NO_SUCH_FILE');
      await rejectsWith(storage.deleteFile('clash', 'q'), 'NO_SUCH_FILE');
      await rejectsWith(storage.openFile('clash', 'p/x'), 'NO_SUCH_FILE');
      await rejectsWith(storage.deleteFile('clash', 'p/x'), 'NO_SUCH_FILE');
      assert.deepEqual(await names('clash'), ['p', 'q/r']);
      await storage.deleteBucket('clash', { force: true });
    });

    test('a delete leaves no empty folder behind: the name is free for a file again', async () => {
      await storage.createBucket('prune');
      await put(storage, 'prune', 'd/e/f.txt', 'one');
      await put(storage, 'prune', 'd/g.txt', 'two');
      await storage.deleteFile('prune', 'd/e/f.txt');
      assert.deepEqual((await entries(storage.listFiles('prune', { delimiter: '/', prefix: 'd/' }))).map((entry) => entry.name), ['d/g.txt']);
      await put(storage, 'prune', 'd/e', 'now a file');
      await storage.deleteFile('prune', 'd/e');
      await storage.deleteFile('prune', 'd/g.txt');
      await put(storage, 'prune', 'd', 'a file where the folder was');
      assert.deepEqual(await names('prune'), ['d']);
      await storage.deleteFile('prune', 'd');
      await storage.deleteBucket('prune');
    });

    test('a delete emptying a folder never loses an upload into it made at the same time', async () => {
      await storage.createBucket('racing');
      for (let round = 0; round < 30; round++) {
        await put(storage, 'racing', `f/g/old-${round}`, 'old');
        await Promise.all([storage.deleteFile('racing', `f/g/old-${round}`), put(storage, 'racing', `f/g/new-${round}`, 'new')]);
        assert.equal((await readAll(storage, 'racing', `f/g/new-${round}`)).toString(), 'new');
        await storage.deleteFile('racing', `f/g/new-${round}`);
      }
      assert.deepEqual(await names('racing'), []);
      await storage.deleteBucket('racing');
    });

    test('files in folders count toward a bucket, and go with it when forced', async () => {
      await storage.createBucket('nested');
      for (const name of ['x/1', 'x/y/2', 'z']) await put(storage, 'nested', name, name);
      const refused = await rejectsWith(storage.deleteBucket('nested'), 'BUCKET_NOT_EMPTY');
      assert.deepEqual(refused.details, ['3']);
      assert.deepEqual(await storage.deleteBucket('nested', { force: true }), { deletedFiles: 3 });
      await rejectsWith(storage.listFiles('nested'), 'NO_SUCH_BUCKET');
    });

    test('sorting is by code point (UTF-8 byte order)', async () => {
      await storage.createBucket('order');
      const names = ['b', 'a', 'Z', 'é', '\uffff', '😀', 'a-', 'a.'];
      for (const name of names) await put(storage, 'order', name, name);
      const expected = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      assert.deepEqual(await entries(storage.listFiles('order')).then((files) => files.map((f) => f.name)), expected);
      await storage.deleteBucket('order', { force: true });
    });
  });
}
