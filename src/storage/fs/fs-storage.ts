/**
 * The filesystem backend: buckets are plain folders under ROOT and files
 * plain files inside them, so `ls ROOT` shows exactly what was uploaded.
 * Where things live and how they are kept safe: layout.ts; freeing space
 * in the background: trash.ts; concurrent operations: locks.ts; free-space
 * reservations: space.ts.
 */
import { randomHex } from '../../util/random-hex.js';
import { constants } from 'node:fs';
import { lstat, mkdir, readdir, rmdir, unlink } from 'node:fs/promises';
import * as meta from './meta.js';
import path from 'node:path';
import { BucketError } from '../../errors.js';
import { fd as fdOps } from '../../util/fd.js';
import { FlowWindow } from '../../util/flow.js';
import { plural } from '../../util/plural.js';
import { checkBucketName, isValidBucketName, normalizeFileName } from '../names.js';
import { byName, listingOf, type BucketInfo, type DeleteBucketOptions, type DownloadSource, type FileInfo, type FolderInfo, type Listing, type ListOptions, type StagedUpload, type StagingRequest, type StagingSink, type Storage } from '../storage.js';
import { ChecksumStore } from './checksums.js';
import { FsDownloadSource } from './download.js';
import { parentsState, pathConflict, removeEmptyParents } from './folders.js';
import { FsLayout, syncDir } from './layout.js';
import { countEntries, listBucketFolder } from './listing.js';
import { KeyedRwLock } from './locks.js';
import { errnoOf, fromOsError } from './os-errors.js';
import { SpaceReserver } from './space.js';
import { Trash } from './trash.js';
import { UploadStage } from './staging.js';
import { FsUploadSink, openPart, type CommitServices } from './upload.js';

const PROBE_BYTES = Buffer.from('bucketd readiness probe\n');

export { HIDDEN_DIR, UnsafeRootError } from './layout.js';

export interface FsStorageOptions {
  /** Bytes all uploads together may have queued for the disk (default 64 MiB). */
  writeBufferBytes?: number;
  /** Bytes one upload may have queued for the disk (default 4 MiB). */
  writeBufferPerUpload?: number;
  /** Told about repairs made to the bookkeeping area (a link removed). */
  onRepair?: (message: string) => void;
  /**
   * Called with the bookkeeping folder (ROOT/.bucketd, a real folder by
   * then) before anything in it is made, cleared or tidied: a server makes
   * sure here that no other serves ROOT, and throws to refuse it.
   */
  hold?: (bookkeepingDir: string) => Promise<void>;
}

export const DEFAULT_WRITE_BUFFER_BYTES = 64 * 1024 * 1024;
const WRITE_BUFFER_PER_UPLOAD = 4 * 1024 * 1024;

export class FsStorage implements Storage {
  readonly root: string;
  readonly description: string;
  readonly #layout: FsLayout;
  readonly #checksums: ChecksumStore;
  readonly #bucketLocks = new KeyedRwLock();
  readonly #fileLocks = new KeyedRwLock();
  readonly #folderLocks = new KeyedRwLock();
  readonly #trash: Trash;
  readonly #space: SpaceReserver;
  readonly #writeBudget: FlowWindow;
  readonly #writePerUpload: number;
  readonly #commit: CommitServices;
  readonly #stage: UploadStage;

  private constructor(layout: FsLayout, options: FsStorageOptions) {
    this.#layout = layout;
    this.root = layout.root;
    this.description = layout.root;
    this.#checksums = new ChecksumStore(layout.sumsDir, layout.tmpDir, [layout.hiddenDir, layout.sumsDir, layout.tmpDir], options.onRepair);
    this.#trash = new Trash(layout.trashDir, [layout.hiddenDir, layout.trashDir]);
    this.#space = new SpaceReserver(layout.tmpDir);
    this.#writeBudget = new FlowWindow(options.writeBufferBytes ?? DEFAULT_WRITE_BUFFER_BYTES);
    this.#writePerUpload = options.writeBufferPerUpload ?? WRITE_BUFFER_PER_UPLOAD;
    this.#stage = new UploadStage(layout.uploadsDir, options.onRepair);
    this.#commit = { layout, checksums: this.#checksums, bucketLocks: this.#bucketLocks, fileLocks: this.#fileLocks, folderLocks: this.#folderLocks, trash: this.#trash };
  }

  /**
   * Opens ROOT, creating it (parents included) if absent, and removes what
   * an earlier run left half-done. Refuses (UnsafeRootError) a bookkeeping
   * folder that is a symbolic link.
   */
  static async open(root: string, options: FsStorageOptions = {}): Promise<FsStorage> {
    const storage = new FsStorage(await FsLayout.prepare(root, options.hold), options);
    await storage.#stage.tidy();
    return storage;
  }

  async createBucket(bucket: string): Promise<BucketInfo> {
    checkBucketName(bucket);
    return this.#bucketLocks.run(bucket, 'exclusive', async () => {
        const dir = path.join(this.root, bucket);
        try {
          await mkdir(dir);
        } catch (error) {
          throw errnoOf(error) === 'EEXIST' ? new BucketError('BUCKET_EXISTS', `bucket "${bucket}" already exists`) : fromOsError(error);
        }
        await syncDir(this.root);
        return { name: bucket, createdAt: createdAt(await lstat(dir)) };
    });
  }

  async listBuckets(): Promise<Listing<BucketInfo>> {
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
    return listingOf(buckets.sort(byName));
  }

  async deleteBucket(bucket: string, options: DeleteBucketOptions = {}): Promise<{ deletedFiles: number }> {
    checkBucketName(bucket);
    return this.#bucketLocks.run(bucket, 'exclusive', async () => {
        const dir = await this.#layout.bucketDir(bucket);
        // Under the exclusive lock no commit or delete can change the count.
        const { files, others } = await countEntries(dir).catch((error: unknown) => {
          throw fromOsError(error, 'NO_SUCH_BUCKET');
        });
        if (!options.force) {
          if (files + others > 0) {
            const what = others === 0 ? plural(files, 'file') : `${plural(files, 'file')} and ${plural(others, 'other entry', 'other entries')} (empty folders or links put there by hand)`;
            throw new BucketError('BUCKET_NOT_EMPTY', `bucket "${bucket}" holds ${what}; delete them first or ask for FORCE`, [String(files)]);
          }
          await rmdir(dir).catch((error: unknown) => {
            // Only empty folders left there by hand.
            if (errnoOf(error) === 'ENOTEMPTY' || errnoOf(error) === 'EEXIST') {
              throw new BucketError('BUCKET_NOT_EMPTY', `bucket "${bucket}" holds empty folders put there by hand; delete them first or ask for FORCE`, ['0']);
            }
            throw fromOsError(error, 'NO_SUCH_BUCKET');
          });
        } else {
          // Moved aside first, so the bucket vanishes at once, whole; its
          // space is freed in the background.
          const trashed = await this.#trash.moveIn(dir, bucket).catch((error: unknown) => {
            throw fromOsError(error, 'NO_SUCH_BUCKET');
          });
          this.#trash.discard(trashed);
        }
        await this.#checksums.forgetBucket(bucket);
        await syncDir(this.root);
        return { deletedFiles: files };
    });
  }

  async listFiles(bucket: string, options?: ListOptions & { delimiter?: undefined }): Promise<Listing<FileInfo>>;
  async listFiles(bucket: string, options: ListOptions): Promise<Listing<FileInfo | FolderInfo>>;
  async listFiles(bucket: string, options: ListOptions = {}): Promise<Listing<FileInfo | FolderInfo>> {
    const dir = await this.#layout.bucketDir(bucket);
    const settle = <T>(name: string, work: () => Promise<T>): Promise<T> => this.#fileLocks.run(`${bucket}/${name}`, 'shared', work);
    return listBucketFolder(bucket, dir, this.#checksums, settle, options).catch((error: unknown) => {
      throw fromOsError(error, 'NO_SUCH_BUCKET');
    });
  }

  async startUpload(bucket: string, name: string, declaredSize: number, staging: StagingRequest = { id: randomHex(16) }): Promise<StagingSink> {
    const { fileName, dir } = await this.#locate(bucket, name);
    // Told before any byte moves; the commit checks again.
    const way = await parentsState(dir, fileName).catch((error: unknown) => {
      throw fromOsError(error, 'NO_SUCH_BUCKET');
    });
    if (way === 'conflict') throw pathConflict(fileName);
    if (way === 'ready' && (await meta.lstatIfAny(path.join(dir, fileName)).catch(() => undefined))?.isDirectory()) throw pathConflict(fileName, true);
    await this.#layout.assertBookkeeping(this.#layout.uploadsDir);
    const reservation = await this.#space.reserve(declaredSize);
    const now = new Date();
    const record: StagedUpload = { id: staging.id, bucket, name: fileName, size: declaredSize, held: 0, startedAt: now, updatedAt: now };
    if (staging.owner !== undefined) record.owner = staging.owner;
    try {
      const file = await openPart(this.#stage.partPath(staging.id), this.#uploadWindow(), undefined, declaredSize);
      return new FsUploadSink(record, file, reservation, this.#stage, this.#commit);
    } catch (error) {
      reservation.release();
      throw fromOsError(error);
    }
  }

  async stagedUploads(): Promise<StagedUpload[]> {
    await this.#layout.assertBookkeeping(this.#layout.uploadsDir);
    return this.#stage.list().catch((error: unknown) => {
      throw fromOsError(error);
    });
  }

  async stagedUpload(id: string): Promise<StagedUpload | undefined> {
    await this.#layout.assertBookkeeping(this.#layout.uploadsDir);
    return this.#stage.read(id).catch((error: unknown) => {
      throw fromOsError(error);
    });
  }

  async resumeUpload(id: string, offset: number): Promise<{ upload: StagedUpload; sink: StagingSink; prefix: AsyncIterable<Buffer> }> {
    await this.#layout.assertBookkeeping(this.#layout.uploadsDir);
    const upload = await this.#stage.read(id);
    if (upload === undefined) throw new BucketError('NO_SUCH_UPLOAD');
    if (offset > upload.held) throw new BucketError('BAD_OFFSET', `the server holds ${upload.held} bytes of this upload`, [String(upload.held)]);
    // Told before any byte moves, as for a new upload; the commit checks again.
    const { fileName, dir } = await this.#locate(upload.bucket, upload.name);
    const way = await parentsState(dir, fileName).catch((error: unknown) => {
      throw fromOsError(error, 'NO_SUCH_BUCKET');
    });
    if (way === 'conflict') throw pathConflict(fileName);
    if (way === 'ready' && (await meta.lstatIfAny(path.join(dir, fileName)).catch(() => undefined))?.isDirectory()) throw pathConflict(fileName, true);
    const reservation = await this.#space.reserve(upload.size - offset);
    try {
      const file = await openPart(this.#stage.partPath(id), this.#uploadWindow(), offset);
      const from = { ...upload, held: offset };
      if (offset < upload.held) {
        // What lies past the offset is gone, on disk and in the record, before the client hears so.
        await file.checkpoint();
        await this.#stage.record({ ...from, updatedAt: new Date() });
      }
      return { upload: from, sink: new FsUploadSink(from, file, reservation, this.#stage, this.#commit, true), prefix: this.#stage.prefix(id, offset) };
    } catch (error) {
      reservation.release();
      throw fromOsError(error);
    }
  }

  async abortUpload(id: string): Promise<number> {
    if ((await this.#stage.read(id)) === undefined) throw new BucketError('NO_SUCH_UPLOAD');
    return this.#stage.remove(id);
  }

  #uploadWindow(): FlowWindow {
    return new FlowWindow(this.#writePerUpload, this.#writeBudget);
  }

  async openFile(bucket: string, name: string): Promise<DownloadSource> {
    const { fileName, dir } = await this.#locate(bucket, name);
    await this.#assertFolders(bucket, dir, fileName);
    // O_NOFOLLOW: a symlink planted in a bucket is never followed out of ROOT.
    const fd = await meta.open(path.join(dir, fileName), constants.O_RDONLY | constants.O_NOFOLLOW).catch((error: unknown) => {
      throw fromOsError(error, 'NO_SUCH_FILE', noSuchFile(bucket, fileName));
    });
    try {
      const stats = await meta.fstatBig(fd);
      if (!stats.isFile()) throw new BucketError('NO_SUCH_FILE', noSuchFile(bucket, fileName));
      const recordedSha256 = await this.#checksums.lookup(bucket, fileName, stats);
      return new FsDownloadSource(fileName, fd, Number(stats.size), recordedSha256);
    } catch (error) {
      await fdOps.close(fd);
      throw fromOsError(error, 'NO_SUCH_FILE');
    }
  }

  async deleteFile(bucket: string, name: string): Promise<{ name: string }> {
    const { fileName } = await this.#locate(bucket, name);
    return this.#bucketLocks.run(bucket, 'shared', () =>
        this.#fileLocks.run(`${bucket}/${fileName}`, 'exclusive', async () => {
          const dir = await this.#layout.bucketDir(bucket);
          await this.#assertFolders(bucket, dir, fileName);
          const filePath = path.join(dir, fileName);
          const stats = await lstat(filePath).catch((error: unknown) => {
            throw fromOsError(error, 'NO_SUCH_FILE', noSuchFile(bucket, fileName));
          });
          if (!stats.isFile()) throw new BucketError('NO_SUCH_FILE', noSuchFile(bucket, fileName));
          await unlink(filePath).catch((error: unknown) => {
            throw fromOsError(error, 'NO_SUCH_FILE', noSuchFile(bucket, fileName));
          });
          await this.#checksums.forget(bucket, fileName);
          await syncDir(path.dirname(filePath));
          // An upload into one of these folders waits, or has moved in already.
          await this.#folderLocks.run(bucket, 'exclusive', () => removeEmptyParents(dir, fileName));
          return { name: fileName };
        }),
    );
  }

  /** Writes, syncs and removes a small file where uploads are staged. */
  async probe(): Promise<void> {
    await this.#layout.assertBookkeeping(this.#layout.tmpDir);
    const probePath = path.join(this.#layout.tmpDir, `${randomHex(12)}.probe`);
    try {
      const fd = await fdOps.open(probePath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        await fdOps.write(fd, PROBE_BYTES);
        await fdOps.sync(fd);
      } finally {
        await fdOps.close(fd);
      }
    } catch (error) {
      throw fromOsError(error);
    } finally {
      await unlink(probePath).catch(() => undefined);
    }
  }

  /**
   * Waits for bucket operations and commits in flight (all hold a bucket
   * lock). Background removals are not waited for: what they leave in the
   * trash, the next start removes.
   */
  async close(): Promise<void> {
    await this.#bucketLocks.drained();
  }

  /** Resolves when no background removal is running (for tests and tools). */
  settled(): Promise<void> {
    return this.#trash.settled();
  }

  /** Bytes promised to uploads in flight and not yet written (for status pages and tests). */
  get reservedBytes(): number {
    return this.#space.reserved;
  }

  /** NO_SUCH_FILE unless every folder on the way to the name is a real folder (never a link). */
  async #assertFolders(bucket: string, dir: string, fileName: string): Promise<void> {
    const way = await parentsState(dir, fileName).catch((error: unknown) => {
      throw fromOsError(error, 'NO_SUCH_FILE', noSuchFile(bucket, fileName));
    });
    if (way !== 'ready') throw new BucketError('NO_SUCH_FILE', noSuchFile(bucket, fileName));
  }

  /**
   * Checks a bucket and file name in one fixed order — the bucket name's
   * form, the file name's form, then the bucket's existence — so the same
   * request always gets the same error.
   */
  async #locate(bucket: string, name: string): Promise<{ fileName: string; dir: string }> {
    checkBucketName(bucket);
    const fileName = normalizeFileName(name);
    return { fileName, dir: await this.#layout.bucketDir(bucket) };
  }
}

function noSuchFile(bucket: string, name: string): string {
  return `no file "${name}" in bucket "${bucket}"`;
}

function createdAt(stats: { birthtimeMs: number; mtimeMs: number }): Date {
  // Some filesystems (tmpfs among them) have no birth time.
  return new Date(stats.birthtimeMs > 0 ? stats.birthtimeMs : stats.mtimeMs);
}
