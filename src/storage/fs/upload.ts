/**
 * One upload into the filesystem backend: a temporary file in the hidden
 * area, opened exclusively, never through a link; bytes queued to the disk
 * as they come. Commit: fsync, close, record the checksum, rename into
 * place (making the folders on the way), fsync the folder it went into. On any failure the temporary file is
 * removed and nothing is visible. (Counting and hashing happen above, in
 * storage/verify.ts, for every backend.)
 */
import { constants } from 'node:fs';
import { lstat, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fd } from '../../util/fd.js';
import type { FlowWindow } from '../../util/flow.js';
import type { StoredFile, UploadSink } from '../storage.js';
import type { ChecksumStore } from './checksums.js';
import { FileWriter } from './file-writer.js';
import { makeParents, pathConflict } from './folders.js';
import { syncDir, type FsLayout } from './layout.js';
import type { KeyedRwLock } from './locks.js';
import { fromOsError } from './os-errors.js';
import type { Reservation } from './space.js';
import type { Trash } from './trash.js';

/** What a commit needs from the backend: where, how to record, how to lock. */
export interface CommitServices {
  layout: FsLayout;
  checksums: ChecksumStore;
  bucketLocks: KeyedRwLock;
  fileLocks: KeyedRwLock;
  /** Per bucket: held shared to make folders and move in, exclusively to remove empty ones. */
  folderLocks: KeyedRwLock;
  trash: Trash;
}

export interface UploadTarget {
  bucket: string;
  name: string;
  tmpPath: string;
}

/**
 * Creates the temporary file exclusively, never through a symlink, before
 * the client is told to send, so that a failure is known in time.
 */
export async function openTempFile(tmpPath: string, window: FlowWindow): Promise<FileWriter> {
  const descriptor = await fd.open(tmpPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  return new FileWriter(descriptor, window);
}

export class FsUploadSink implements UploadSink {
  readonly name: string;
  readonly #target: UploadTarget;
  readonly #services: CommitServices;
  readonly #file: FileWriter;
  readonly #reservation: Reservation;
  #received = 0;
  #done = false;

  constructor(target: UploadTarget, file: FileWriter, reservation: Reservation, services: CommitServices) {
    this.name = target.name;
    this.#target = target;
    this.#services = services;
    this.#file = file;
    this.#reservation = reservation;
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.#done) throw new Error('write after the upload ended');
    this.#received += chunk.length;
    this.#reservation.wrote(chunk.length);
    await this.#file.write(chunk).catch((error: unknown) => {
      throw fromOsError(error);
    });
  }

  async commit(sha256: string): Promise<StoredFile> {
    if (this.#done) throw new Error('commit after the upload ended');
    this.#done = true;
    const { bucket, name, tmpPath } = this.#target;
    const { layout, checksums, bucketLocks, fileLocks, folderLocks, trash } = this.#services;
    try {
      await this.#file.close(); // every byte written and fsynced
      const identity = await lstat(tmpPath, { bigint: true });
      await bucketLocks.run(bucket, 'shared', () =>
        fileLocks.run(`${bucket}/${name}`, 'exclusive', () =>
          folderLocks.run(bucket, 'shared', async () => {
            const dir = await layout.bucketDir(bucket);
            await makeParents(dir, name);
            const finalPath = path.join(dir, name);
            if ((await lstat(finalPath).catch(() => undefined))?.isDirectory()) throw pathConflict(name, true);
            // Recorded first, keyed by the new file's identity, so a reader
            // never pairs one version's bytes with another's checksum.
            await checksums.record(bucket, name, sha256, identity);
            const displaced = await trash.keepAside(finalPath);
            try {
              await rename(tmpPath, finalPath);
              await syncDir(path.dirname(finalPath));
            } finally {
              if (displaced) trash.discard(displaced);
            }
          }),
        ),
      );
      return { name, size: this.#received, sha256 };
    } catch (error) {
      await this.#discard();
      throw fromOsError(error, 'NO_SUCH_BUCKET');
    } finally {
      this.#reservation.release();
    }
  }

  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.#reservation.release();
    await this.#discard();
  }

  async #discard(): Promise<void> {
    await this.#file.destroy();
    await rm(this.#target.tmpPath, { force: true }).catch(() => undefined);
  }
}
