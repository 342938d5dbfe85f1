/**
 * The filesystem backend: the storage contract, and what only a folder on
 * disk shows — plain files, the bookkeeping area, links planted by hand.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FsStorage, HIDDEN_DIR, UnsafeRootError } from '../../src/storage/fs/fs-storage.js';
import { VerifiedUpload } from '../../src/storage/verify.js';
import { tempDir } from '../helpers/server.js';
import { entries, put, readAll, rejectsWith, runStorageContract, sha } from './contract.js';

runStorageContract('fs', async () => {
  const base = await tempDir();
  const storage = await FsStorage.open(path.join(base, 'root'));
  return { storage, settled: () => storage.settled(), cleanup: () => rm(base, { recursive: true, force: true }) };
});

describe('FsStorage on disk', () => {
  let root: string;
  let storage: FsStorage;
  const tmpFiles = async (): Promise<string[]> => readdir(path.join(root, HIDDEN_DIR, 'tmp'));
  /** Uploads are staged here until committed or aborted. */
  const stagedFiles = async (): Promise<string[]> => readdir(path.join(root, HIDDEN_DIR, 'uploads'));
  const trashFiles = async (): Promise<string[]> => readdir(path.join(root, HIDDEN_DIR, 'trash'));

  before(async () => {
    root = path.join(await tempDir(), 'nested', 'root');
    storage = await FsStorage.open(root);
  });
  after(async () => {
    await storage.close();
    await rm(path.dirname(path.dirname(root)), { recursive: true, force: true });
  });

  test('creates ROOT with its parents; buckets are plain folders, files plain files', async () => {
    await storage.createBucket('photos');
    assert.deepEqual((await readdir(root)).sort(), [HIDDEN_DIR, 'photos']);
    assert.deepEqual((await readdir(path.join(root, HIDDEN_DIR))).sort(), ['sums', 'tmp', 'trash', 'uploads']);
    await put(storage, 'photos', 'a.txt', 'hello');
    assert.equal(await readFile(path.join(root, 'photos', 'a.txt'), 'utf8'), 'hello');
    assert.deepEqual(await tmpFiles(), []);
    assert.deepEqual(await stagedFiles(), []);
  });

  test('the bucket list ignores the hidden area and strays', async () => {
    await writeFile(path.join(root, 'stray-file'), 'x');
    await mkdir(path.join(root, 'Not_A_Bucket'));
    assert.deepEqual((await entries(storage.listBuckets())).map((b) => b.name), ['photos']);
  });

  test('the readiness probe leaves nothing in tmp', async () => {
    await storage.probe();
    assert.deepEqual(await tmpFiles(), []);
  });

  test('failed and aborted uploads leave nothing staged', async () => {
    const upload = new VerifiedUpload(await storage.startUpload('photos', 'a.txt', 3), 3);
    await upload.write(Buffer.from('bad'));
    assert.equal((await stagedFiles()).length, 1);
    await rejectsWith(upload.commit(sha('other')), 'CHECKSUM_MISMATCH');
    const sink = await storage.startUpload('photos', 'gone.bin', 10);
    await sink.abort();
    assert.deepEqual(await stagedFiles(), []);
    assert.deepEqual(await tmpFiles(), []);
  });

  test('replaced files and force-deleted buckets are freed in the background', async () => {
    await put(storage, 'photos', 'r.txt', 'one');
    await put(storage, 'photos', 'r.txt', 'two');
    await storage.createBucket('doomed');
    await put(storage, 'doomed', 'x', 'x');
    await storage.deleteBucket('doomed', { force: true });
    await storage.settled();
    assert.deepEqual(await trashFiles(), []);
  });

  test('planted symlinks inside buckets are never followed', async () => {
    const outside = path.join(path.dirname(root), 'secret.txt');
    await writeFile(outside, 'secret');
    await symlink(outside, path.join(root, 'photos', 'link.txt'));
    await symlink(path.dirname(root), path.join(root, 'linked'));
    await rejectsWith(storage.openFile('photos', 'link.txt'), 'NO_SUCH_FILE');
    await rejectsWith(storage.deleteFile('photos', 'link.txt'), 'NO_SUCH_FILE');
    assert.ok(!(await entries(storage.listFiles('photos'))).some((f) => f.name === 'link.txt'));
    await rejectsWith(storage.listFiles('linked'), 'NO_SUCH_BUCKET');
    assert.ok(!(await entries(storage.listBuckets())).some((b) => b.name === 'linked'));
    // Replacing a planted link replaces the link, never the file it points at.
    await put(storage, 'photos', 'link.txt', 'mine');
    assert.equal(await readFile(outside, 'utf8'), 'secret');
    await rm(path.join(root, 'linked'));
  });

  test('a file changed by hand after its checksum was read is never listed or opened with the old one', async () => {
    await put(storage, 'photos', 'edited.txt', 'the stored words');
    await put(storage, 'photos', 'deep/edited.txt', 'the stored words');
    // Listed and opened once: their records are now known in memory too.
    const before = await entries(storage.listFiles('photos'));
    for (const name of ['edited.txt', 'deep/edited.txt']) {
      assert.equal(before.find((file) => file.name === name)?.sha256, sha('the stored words'));
      const source = await storage.openFile('photos', name);
      assert.equal(source.recordedSha256, sha('the stored words'));
      await source.close();
      // Changed in place by hand: another size and mtime, the same inode.
      await writeFile(path.join(root, 'photos', name), 'other words, by hand');
    }
    const after = await entries(storage.listFiles('photos'));
    for (const name of ['edited.txt', 'deep/edited.txt']) {
      assert.equal(after.find((file) => file.name === name)?.sha256, undefined, `${name} is listed without a checksum`);
      const source = await storage.openFile('photos', name);
      assert.equal(source.recordedSha256, undefined, `${name} is opened without a checksum`);
      await source.close();
    }
    // Stored again: the new checksum, whatever was known before.
    await put(storage, 'photos', 'edited.txt', 'stored again');
    assert.equal((await entries(storage.listFiles('photos'))).find((file) => file.name === 'edited.txt')?.sha256, sha('stored again'));
    await storage.deleteFile('photos', 'edited.txt');
    await storage.deleteFile('photos', 'deep/edited.txt');
  });

  test('names in folders are nested folders under the bucket, removed once empty', async () => {
    await storage.createBucket('albums');
    await put(storage, 'albums', '2026/trip/img 01.jpg', 'jpeg');
    await put(storage, 'albums', '2026/notes.txt', 'notes');
    assert.equal(await readFile(path.join(root, 'albums', '2026', 'trip', 'img 01.jpg'), 'utf8'), 'jpeg');
    await storage.deleteFile('albums', '2026/trip/img 01.jpg');
    assert.deepEqual(await readdir(path.join(root, 'albums', '2026')), ['notes.txt']);
    await storage.deleteFile('albums', '2026/notes.txt');
    assert.deepEqual(await readdir(path.join(root, 'albums')), []);
    // A folder holding something put there by hand stays.
    await put(storage, 'albums', 'kept/x', 'x');
    await writeFile(path.join(root, 'albums', 'kept', 'by-hand.tmp\n'), 'unlistable name');
    await storage.deleteFile('albums', 'kept/x');
    assert.deepEqual(await readdir(path.join(root, 'albums', 'kept')), ['by-hand.tmp\n']);
    await storage.deleteBucket('albums', { force: true });
  });

  test('a link planted as a folder is never followed: not read, listed, written through or deleted through', async () => {
    const outside = path.join(path.dirname(root), 'outside-folder');
    await mkdir(outside, { recursive: true });
    await writeFile(path.join(outside, 'secret.txt'), 'secret');
    await storage.createBucket('planted');
    await put(storage, 'planted', 'real/a.txt', 'a');
    await symlink(outside, path.join(root, 'planted', 'via'));
    await symlink(outside, path.join(root, 'planted', 'real', 'via'));
    for (const name of ['via/secret.txt', 'real/via/secret.txt']) {
      await rejectsWith(storage.openFile('planted', name), 'NO_SUCH_FILE');
      await rejectsWith(storage.deleteFile('planted', name), 'NO_SUCH_FILE');
      await rejectsWith(storage.startUpload('planted', name, 1), 'PATH_CONFLICT');
    }
    await rejectsWith(storage.startUpload('planted', 'via/new.txt', 1), 'PATH_CONFLICT');
    assert.deepEqual((await entries(storage.listFiles('planted'))).map((f) => f.name), ['real/a.txt']);
    assert.deepEqual((await entries(storage.listFiles('planted', { prefix: 'via/', delimiter: '/' }))).map((f) => f.name), []);
    assert.deepEqual((await entries(storage.listFiles('planted', { delimiter: '/' }))).map((f) => f.name), ['real/']);
    assert.deepEqual(await readdir(outside), ['secret.txt']);
    assert.equal(await readFile(path.join(outside, 'secret.txt'), 'utf8'), 'secret');
    await storage.deleteBucket('planted', { force: true });
    await storage.settled();
    assert.deepEqual(await readdir(outside), ['secret.txt']);
  });

  test('DELETE_BUCKET counts regular files only; other entries still keep a bucket', async () => {
    await storage.createBucket('mixed');
    await put(storage, 'mixed', 'one', '1');
    await put(storage, 'mixed', 'two', '2');
    await mkdir(path.join(root, 'mixed', 'by-hand'));
    await symlink('/etc/hostname', path.join(root, 'mixed', 'a-link'));
    const error = await rejectsWith(storage.deleteBucket('mixed'), 'BUCKET_NOT_EMPTY');
    assert.deepEqual(error.details, ['2']);
    assert.match(error.message, /2 files and 2 other entries/); // the empty folder and the link
    assert.deepEqual(await storage.deleteBucket('mixed', { force: true }), { deletedFiles: 2 });
    await storage.createBucket('odd');
    await mkdir(path.join(root, 'odd', 'only-a-folder'));
    assert.deepEqual((await rejectsWith(storage.deleteBucket('odd'), 'BUCKET_NOT_EMPTY')).details, ['0']);
    await storage.deleteBucket('odd', { force: true });
  });

  test('a file changed by hand shows no stale checksum', async () => {
    await put(storage, 'photos', 'edited.txt', 'v1');
    await writeFile(path.join(root, 'photos', 'edited.txt'), 'v2 by hand');
    const file = (await entries(storage.listFiles('photos'))).find((f) => f.name === 'edited.txt');
    assert.equal(file?.size, 10);
    assert.equal(file?.sha256, undefined);
    assert.equal((await readAll(storage, 'photos', 'edited.txt')).toString(), 'v2 by hand');
  });

  test('uploads left by a crash are removed at the next start', async () => {
    await writeFile(path.join(root, HIDDEN_DIR, 'tmp', 'leftover.upload'), 'half');
    const reopened = await FsStorage.open(root);
    assert.deepEqual(await tmpFiles(), []);
    await reopened.close();
  });

  test('a reservation holds the declared size until the upload ends', async () => {
    const before = storage.reservedBytes;
    const sink = await storage.startUpload('photos', 'big', 1_000_000);
    assert.equal(storage.reservedBytes - before, 1_000_000);
    await sink.write(Buffer.alloc(400_000));
    assert.equal(storage.reservedBytes - before, 600_000);
    await sink.abort();
    assert.equal(storage.reservedBytes, before);
    await rejectsWith(storage.startUpload('photos', 'huge', Number.MAX_SAFE_INTEGER), 'NO_SPACE');
    assert.equal(storage.reservedBytes, before);
  });
});

describe('FsStorage refuses links in its bookkeeping folder', () => {
  for (const planted of [HIDDEN_DIR, `${HIDDEN_DIR}/tmp`, `${HIDDEN_DIR}/trash`, `${HIDDEN_DIR}/sums`, `${HIDDEN_DIR}/uploads`]) {
    test(`${planted} as a link: no start, nothing outside touched`, async () => {
      const base = await tempDir();
      try {
        const root = path.join(base, 'root');
        const outside = path.join(base, 'outside');
        await mkdir(path.join(root, HIDDEN_DIR), { recursive: true });
        await mkdir(path.join(outside, 'tmp'), { recursive: true });
        await writeFile(path.join(outside, 'tmp', 'precious'), 'keep me');
        const target = path.join(root, planted);
        await rm(target, { recursive: true, force: true });
        await symlink(outside, target);
        await assert.rejects(FsStorage.open(root), (error: unknown) => error instanceof UnsafeRootError && error.message.includes(target));
        assert.equal(await readFile(path.join(outside, 'tmp', 'precious'), 'utf8'), 'keep me');
      } finally {
        await rm(base, { recursive: true, force: true });
      }
    });
  }

  test('bookkeeping folders replaced by links while running are refused, never followed', async () => {
    const base = await tempDir();
    try {
      const root = path.join(base, 'root');
      const outside = path.join(base, 'outside');
      await mkdir(outside);
      const storage = await FsStorage.open(root);
      await storage.createBucket('bkt');
      for (const folder of ['tmp', 'sums', 'trash', 'uploads']) {
        const real = path.join(root, HIDDEN_DIR, folder);
        await rm(real, { recursive: true, force: true });
        await symlink(outside, real);
      }
      await rejectsWith(storage.startUpload('bkt', 'a.txt', 1), 'STORAGE_FAILED');
      await rejectsWith(storage.deleteBucket('bkt', { force: true }), 'STORAGE_FAILED');
      await rejectsWith(storage.probe(), 'STORAGE_FAILED'); // not ready: /readyz says so
      assert.deepEqual(await readdir(outside), []);
      await storage.close();
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });

  test('links among the checksum records are removed, never written through', async () => {
    const base = await tempDir();
    try {
      const root = path.join(base, 'root');
      const outside = path.join(base, 'outside');
      await mkdir(outside);
      await writeFile(path.join(outside, 'victim'), 'keep me');
      const repairs: string[] = [];
      const storage = await FsStorage.open(root, { onRepair: (message) => repairs.push(message) });
      await storage.createBucket('bk1');
      await storage.createBucket('bk2');
      await mkdir(path.join(root, HIDDEN_DIR, 'sums', 'bk2'), { recursive: true });
      await symlink(outside, path.join(root, HIDDEN_DIR, 'sums', 'bk1'));
      await symlink(path.join(outside, 'victim'), path.join(root, HIDDEN_DIR, 'sums', 'bk2', 'victim'));
      await put(storage, 'bk1', 'victim', 'new');
      await put(storage, 'bk2', 'victim', 'new');
      await storage.deleteFile('bk1', 'victim');
      await storage.deleteBucket('bk2', { force: true });
      assert.deepEqual(await readdir(outside), ['victim']);
      assert.equal(await readFile(path.join(outside, 'victim'), 'utf8'), 'keep me');
      assert.equal(repairs.length, 1);
      await storage.close();
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});

test('at start, staged uploads whose record is damaged or names a place outside its bucket are removed, and the rest kept', async () => {
  const root = path.join(await tempDir(), 'root');
  const first = await FsStorage.open(root);
  await first.createBucket('box');
  await first.close();
  const uploads = path.join(root, HIDDEN_DIR, 'uploads');
  const record = (id: string, fields: Record<string, unknown>): string =>
    JSON.stringify({ id, bucket: 'box', name: 'a.bin', size: 10, held: 4, startedAt: new Date().toISOString(), updatedAt: new Date().toISOString(), ...fields });
  const good = 'a'.repeat(32);
  const escaping = 'b'.repeat(32);
  const damaged = 'c'.repeat(32);
  const badBucket = 'd'.repeat(32);
  for (const id of [good, escaping, damaged, badBucket]) await writeFile(path.join(uploads, `${id}.part`), 'abcd');
  await writeFile(path.join(uploads, `${good}.json`), record(good, {}));
  await writeFile(path.join(uploads, `${escaping}.json`), record(escaping, { name: '../../outside.bin' }));
  await writeFile(path.join(uploads, `${damaged}.json`), '{"id": "not json');
  await writeFile(path.join(uploads, `${badBucket}.json`), record(badBucket, { bucket: '../x' }));
  const storage = await FsStorage.open(root);
  try {
    assert.deepEqual((await storage.stagedUploads()).map((upload) => upload.id), [good]);
    assert.deepEqual((await readdir(uploads)).sort(), [`${good}.json`, `${good}.part`]);
    await rejectsWith(storage.resumeUpload(escaping, 0), 'NO_SUCH_UPLOAD');
  } finally {
    await storage.close();
    await rm(path.dirname(root), { recursive: true, force: true });
  }
});

describe('FsStorage listing beside commits', () => {
  let base: string;
  let storage: FsStorage;
  before(async () => {
    base = await tempDir();
    storage = await FsStorage.open(path.join(base, 'root'));
  });
  after(async () => {
    await storage.close();
    await rm(base, { recursive: true, force: true });
  });

  test('a file replaced while a listing is under way is listed as one whole version, with its checksum', async () => {
    await storage.createBucket('versions');
    await put(storage, 'versions', 'f.bin', 'the old version\n');
    await put(storage, 'versions', 'nested/g.bin', 'old g\n');
    // The listing's snapshot is taken now; its checksums are read page by page, later.
    const listing = storage.listFiles('versions');
    await put(storage, 'versions', 'f.bin', 'the new version, longer\n');
    await put(storage, 'versions', 'nested/g.bin', 'new g, longer\n');
    const listed = await entries(listing);
    assert.deepEqual(
      listed.map((file) => [file.name, file.size, file.sha256]),
      [
        ['f.bin', 24, sha('the new version, longer\n')],
        ['nested/g.bin', 14, sha('new g, longer\n')],
      ],
    );
  });
});
