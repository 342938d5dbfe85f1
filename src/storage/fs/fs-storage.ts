/**
 * The filesystem backend: buckets are plain folders under ROOT and files
 * plain files inside them, so `ls ROOT` shows exactly what was uploaded.
 * Bookkeeping lives in ROOT/.bucketd (never a bucket: bucket names cannot
 * start with '.'): tmp/ for uploads in flight, sums/ for checksums,
 * trash/ for buckets being deleted.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, lstat, mkdir, open, readdir, rename, rm, rmdir, statfs, unlink } from 'node:fs/promises';
import { fd as fdOps } from '../../util/fd.js';
import { mapLimit } from '../../util/map-limit.js';
import { plural } from '../../util/plural.js';
import path from 'node:path';
import { BucketError } from '../../errors.js';
import { checkBucketName, isValidBucketName, normalizeFileName } from '../names.js';
import { byName, type BucketInfo, type DeleteBucketOptions, type DownloadSource, type FileInfo, type Storage, type UploadSink } from '../storage.js';
import { ChecksumStore } from './checksums.js';
import { FsDownloadSource } from './download.js';
import { errnoOf, fromOsError } from './os-errors.js';
import { FsUploadSink, openTempFile, type UploadHooks } from './upload.js';

export const HIDDEN_DIR = '.bucketd';

// Files examined at once when listing a bucket.
const LIST_CONCURRENCY = 32;

export class FsStorage implements Storage {
  readonly root: string;
  readonly #tmpDir: string;
  readonly #trashDir: string;
  readonly #checksums: ChecksumStore;
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #background = new Set<Promise<void>>();
  readonly #uploadHooks: UploadHooks;

  private constructor(root: string) {
    this.root = root;
    const hidden = path.join(root, HIDDEN_DIR);
    this.#tmpDir = path.join(hidden, 'tmp');
    this.#trashDir = path.join(hidden, 'trash');
    this.#checksums = new ChecksumStore(path.join(hidden, 'sums'), this.#tmpDir);
    this.#uploadHooks = {
      recordChecksum: (target, sha256, identity) => this.#checksums.record(target.bucket, target.name, sha256, identity),
      lock: (key, work) => this.#withLock(key, work),
      syncDir: (dir) => syncDir(dir),
      bucketDir: (bucket) => this.#bucketDir(bucket),
      setAside: (filePath) => this.#setAside(filePath),
      discardLater: (filePath) => this.#inBackground(rm(filePath, { force: true })),
    };
  }

  /**
   * Opens ROOT, creating it (parents included) if absent, and removes what
   * an earlier run left half-done: uploads in flight, buckets half-deleted.
   */
  static async open(root: string): Promise<FsStorage> {
    const absolute = path.resolve(root);
    await mkdir(absolute, { recursive: true });
    const storage = new FsStorage(absolute);
    await rm(storage.#tmpDir, { recursive: true, force: true });
    await rm(storage.#trashDir, { recursive: true, force: true });
    await mkdir(storage.#tmpDir, { recursive: true });
    await mkdir(storage.#trashDir, { recursive: true });
    return storage;
  }

  async createBucket(bucket: string): Promise<BucketInfo> {
    checkBucketName(bucket);
    const dir = path.join(this.root, bucket);
    try {
      await mkdir(dir);
    } catch (error) {
      throw errnoOf(error) === 'EEXIST' ? new BucketError('BUCKET_EXISTS', `bucket "${bucket}" already exists`) : fromOsError(error);
    }
    await syncDir(this.root);
    return { name: bucket, createdAt: createdAt(await lstat(dir)) };
  }

  async listBuckets(): Promise<BucketInfo[]> {
    const entries = await readdir(this.root, { withFileTypes: true }).catch((error: unknown) => {
      throw fromOsError(error);
    });
    const buckets: BucketInfo[] = [];
    for (const entry of entries) {
      // Real folders only: a symlink planted under ROOT is not a bucket.
      if (!entry.isDirectory() || !isValidBucketName(entry.name)) continue;
      const stats = await lstat(path.join(this.root, entry.name)).catch(() => undefined);
      if (stats?.isDirectory()) buckets.push({ name: entry.name, createdAt: createdAt(stats) });
    }
    return buckets.sort(byName);
  }

  async deleteBucket(bucket: string, options: DeleteBucketOptions = {}): Promise<{ deletedFiles: number }> {
    const dir = await this.#bucketDir(bucket);
    const entries = await readdir(dir).catch((error: unknown) => {
      throw fromOsError(error, 'NO_SUCH_BUCKET');
    });
    if (!options.force) {
      if (entries.length > 0) {
        const message = `bucket "${bucket}" holds ${plural(entries.length, 'file')}; delete them first or ask for FORCE`;
        throw new BucketError('BUCKET_NOT_EMPTY', message, [String(entries.length)]);
      }
      try {
        await rmdir(dir);
      } catch (error) {
        // A file arrived between the listing and the removal: report it.
        if (errnoOf(error) === 'ENOTEMPTY') return this.deleteBucket(bucket, options);
        throw fromOsError(error, 'NO_SUCH_BUCKET');
      }
    } else {
      // Move the folder aside first, so the bucket vanishes at once, whole.
      const trash = path.join(this.#trashDir, `${bucket}-${randomBytes(6).toString('hex')}`);
      await rename(dir, trash).catch((error: unknown) => {
        throw fromOsError(error, 'NO_SUCH_BUCKET');
      });
      // Gone for every client already; freeing the space can take its time.
      this.#inBackground(rm(trash, { recursive: true, force: true }));
    }
    await this.#checksums.forgetBucket(bucket);
    await syncDir(this.root);
    return { deletedFiles: entries.length };
  }

  async listFiles(bucket: string): Promise<FileInfo[]> {
    const dir = await this.#bucketDir(bucket);
    const entries = await readdir(dir, { withFileTypes: true }).catch((error: unknown) => {
      throw fromOsError(error, 'NO_SUCH_BUCKET');
    });
    const candidates = entries.filter((entry) => entry.isFile() && isListableName(entry.name));
    const files = await mapLimit(candidates, LIST_CONCURRENCY, async (entry): Promise<FileInfo | undefined> => {
      const stats = await lstat(path.join(dir, entry.name), { bigint: true }).catch(() => undefined);
      if (!stats?.isFile()) return undefined;
      const sha256 = await this.#checksums.lookup(bucket, entry.name, stats);
      const info: FileInfo = { name: entry.name, size: Number(stats.size), modifiedAt: new Date(Number(stats.mtimeMs)) };
      if (sha256 !== undefined) info.sha256 = sha256;
      return info;
    });
    return files.filter((file): file is FileInfo => file !== undefined).sort(byName);
  }

  async startUpload(bucket: string, name: string, declaredSize: number): Promise<UploadSink> {
    const { fileName, dir } = await this.#locate(bucket, name);
    await this.#checkFreeSpace(declaredSize);
    const tmpPath = path.join(this.#tmpDir, `${randomBytes(12).toString('hex')}.upload`);
    const stream = await openTempFile(tmpPath).catch((error: unknown) => {
      throw fromOsError(error);
    });
    const target = { bucket, name: fileName, declaredSize, tmpPath, finalPath: path.join(dir, fileName) };
    return new FsUploadSink(target, stream, this.#uploadHooks);
  }

  async openFile(bucket: string, name: string): Promise<DownloadSource> {
    const { fileName, dir } = await this.#locate(bucket, name);
    // O_NOFOLLOW: a symlink planted in a bucket is never followed out of ROOT.
    const fd = await fdOps.open(path.join(dir, fileName), constants.O_RDONLY | constants.O_NOFOLLOW).catch((error: unknown) => {
      throw fromOsError(error, 'NO_SUCH_FILE', noSuchFile(bucket, fileName));
    });
    try {
      const stats = await fdOps.stat(fd);
      if (!stats.isFile()) throw new BucketError('NO_SUCH_FILE', noSuchFile(bucket, fileName));
      const recordedSha256 = await this.#checksums.lookup(bucket, fileName, stats);
      return new FsDownloadSource(fileName, fd, Number(stats.size), recordedSha256);
    } catch (error) {
      await fdOps.close(fd);
      throw fromOsError(error, 'NO_SUCH_FILE');
    }
  }

  async deleteFile(bucket: string, name: string): Promise<{ name: string }> {
    const { fileName, dir } = await this.#locate(bucket, name);
    const filePath = path.join(dir, fileName);
    await this.#withLock(`${bucket}/${fileName}`, async () => {
      const stats = await lstat(filePath).catch((error: unknown) => {
        throw fromOsError(error, 'NO_SUCH_FILE', noSuchFile(bucket, fileName));
      });
      if (!stats.isFile()) throw new BucketError('NO_SUCH_FILE', noSuchFile(bucket, fileName));
      await unlink(filePath).catch((error: unknown) => {
        throw fromOsError(error, 'NO_SUCH_FILE', noSuchFile(bucket, fileName));
      });
      await this.#checksums.forget(bucket, fileName);
      await syncDir(dir);
    });
    return { name: fileName };
  }

  /**
   * Waits for commits in flight. Background removals are not waited for:
   * what they leave in the trash, the next start removes.
   */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#locks.values()]);
  }

  /** Resolves when no background removal is running (for tests and tools). */
  async settled(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
  }

  async #setAside(filePath: string): Promise<string | undefined> {
    const aside = path.join(this.#trashDir, `${randomBytes(8).toString('hex')}.replaced`);
    try {
      await link(filePath, aside);
      return aside;
    } catch {
      return undefined; // nothing there, or no hard links here: replace in place
    }
  }

  /** Runs cleanup that nobody waits for; what it leaves, the next start removes. */
  #inBackground(work: Promise<unknown>): void {
    const tracked: Promise<void> = work.then(
      () => undefined,
      () => undefined,
    );
    this.#background.add(tracked);
    void tracked.then(() => this.#background.delete(tracked));
  }

  /**
   * Checks a bucket and file name in one fixed order — the bucket name's
   * form, the file name's form, then the bucket's existence — so the same
   * request always gets the same error.
   */
  async #locate(bucket: string, name: string): Promise<{ fileName: string; dir: string }> {
    checkBucketName(bucket);
    const fileName = normalizeFileName(name);
    return { fileName, dir: await this.#bucketDir(bucket) };
  }

  /** The bucket's folder; NO_SUCH_BUCKET unless it is a real folder. */
  async #bucketDir(bucket: string): Promise<string> {
    checkBucketName(bucket);
    const dir = path.join(this.root, bucket);
    const stats = await lstat(dir).catch(() => undefined);
    if (!stats?.isDirectory()) throw new BucketError('NO_SUCH_BUCKET', `no bucket "${bucket}"`);
    return dir;
  }

  async #checkFreeSpace(declaredSize: number): Promise<void> {
    const stats = await statfs(this.#tmpDir).catch(() => undefined);
    if (stats && declaredSize > stats.bavail * stats.bsize) {
      throw new BucketError('NO_SPACE', `the server has room for ${stats.bavail * stats.bsize} bytes, not ${declaredSize}`);
    }
  }

  async #withLock<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(key) ?? Promise.resolve();
    const current = previous.then(work, work);
    const settled = current.catch(() => undefined);
    this.#locks.set(key, settled);
    void settled.then(() => {
      if (this.#locks.get(key) === settled) this.#locks.delete(key);
    });
    return current;
  }
}

function noSuchFile(bucket: string, name: string): string {
  return `no file "${name}" in bucket "${bucket}"`;
}

function createdAt(stats: { birthtimeMs: number; mtimeMs: number }): Date {
  // Some filesystems (tmpfs among them) have no birth time.
  return new Date(stats.birthtimeMs > 0 ? stats.birthtimeMs : stats.mtimeMs);
}

/** Names that the protocol can carry and a client can ask for again. */
function isListableName(name: string): boolean {
  try {
    return normalizeFileName(name) === name;
  } catch {
    return false;
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
