/**
 * One upload into the filesystem backend: a temporary file in the hidden
 * area, opened exclusively, bytes counted and hashed as they stream; then
 * verify, fsync, close, rename into place, fsync the bucket folder.
 * On any failure the temporary file is removed and nothing is visible.
 */
import { createHash, type Hash } from 'node:crypto';
import { lstat, rename, rm } from 'node:fs/promises';
import { constants } from 'node:fs';
import { fd } from '../../util/fd.js';
import type { FileIdentity } from './checksums.js';
import { BucketError } from '../../errors.js';
import type { StoredFile, UploadSink } from '../storage.js';
import { fromOsError } from './os-errors.js';
import { FileWriter } from './file-writer.js';

// Bytes an upload may have queued for the disk before the socket is paused.
export const WRITE_HIGH_WATER_MARK = 4 * 1024 * 1024;

export interface UploadTarget {
  bucket: string;
  name: string;
  declaredSize: number;
  tmpPath: string;
  finalPath: string;
}

export interface UploadHooks {
  /**
   * Records the checksum of the file about to be renamed into place. It is
   * written first, keyed by the file's identity, so that a reader never
   * pairs one version's bytes with another version's checksum.
   */
  recordChecksum(target: UploadTarget, sha256: string, identity: FileIdentity): Promise<void>;
  /** Serialises the visible part of commits to one name. */
  lock<T>(key: string, work: () => Promise<T>): Promise<T>;
  /** fsyncs a folder so a rename into it survives a crash. */
  syncDir(dir: string): Promise<void>;
  /** Throws NO_SUCH_BUCKET if the bucket folder is gone. */
  bucketDir(bucket: string): Promise<string>;
  /**
   * Gives the file at `filePath` (if any) a second name in the trash, so that
   * replacing it does not wait for its blocks to be freed; returns that name.
   */
  setAside(filePath: string): Promise<string | undefined>;
  /** Removes a set-aside file in the background. */
  discardLater(filePath: string): void;
}

/**
 * Creates the temporary file exclusively, never through a symlink, before
 * the client is told to send, so that a failure is known in time.
 */
export async function openTempFile(tmpPath: string): Promise<FileWriter> {
  const descriptor = await fd.open(tmpPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  return new FileWriter(descriptor, WRITE_HIGH_WATER_MARK);
}

export class FsUploadSink implements UploadSink {
  readonly name: string;
  readonly #target: UploadTarget;
  readonly #hooks: UploadHooks;
  readonly #file: FileWriter;
  readonly #hash: Hash = createHash('sha256');
  #received = 0;
  #done = false;

  constructor(target: UploadTarget, file: FileWriter, hooks: UploadHooks) {
    this.name = target.name;
    this.#target = target;
    this.#hooks = hooks;
    this.#file = file;
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.#done) throw new Error('write after the upload ended');
    this.#received += chunk.length;
    if (this.#received > this.#target.declaredSize) {
      throw new BucketError('BAD_FIELD', 'more bytes arrived than the upload declared');
    }
    this.#hash.update(chunk);
    await this.#file.write(chunk).catch((error: unknown) => {
      throw fromOsError(error);
    });
  }

  async commit(expectedSha256: string): Promise<StoredFile> {
    if (this.#done) throw new Error('commit after the upload ended');
    this.#done = true;
    try {
      if (this.#received !== this.#target.declaredSize) {
        throw new BucketError('INCOMPLETE_BODY', `received ${this.#received} of ${this.#target.declaredSize} bytes`);
      }
      const sha256 = this.#hash.digest('hex');
      if (sha256 !== expectedSha256) throw new BucketError('CHECKSUM_MISMATCH');
      await this.#file.close(); // every byte written and fsynced
      const stat = await lstat(this.#target.tmpPath, { bigint: true });
      const { bucket, name, tmpPath, finalPath } = this.#target;
      await this.#hooks.lock(`${bucket}/${name}`, async () => {
        const dir = await this.#hooks.bucketDir(bucket);
        await this.#hooks.recordChecksum(this.#target, sha256, stat);
        const displaced = await this.#hooks.setAside(finalPath);
        try {
          await rename(tmpPath, finalPath).catch((error: unknown) => {
            throw fromOsError(error, 'NO_SUCH_BUCKET');
          });
          await this.#hooks.syncDir(dir);
        } finally {
          if (displaced) this.#hooks.discardLater(displaced);
        }
      });
      return { name, size: this.#received, sha256 };
    } catch (error) {
      await this.#discard();
      throw fromOsError(error);
    }
  }

  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.#discard();
  }

  async #discard(): Promise<void> {
    await this.#file.destroy();
    await rm(this.#target.tmpPath, { force: true }).catch(() => undefined);
  }
}
