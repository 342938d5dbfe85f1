/**
 * One upload into the filesystem backend: a part file in the staging area
 * (staging.ts), opened exclusively, never through a link; bytes queued to
 * the disk as they come and made durable now and then. Suspend: fsync and
 * record, for a resume. Commit: fsync, close, record the checksum, rename
 * into place (making the folders on the way), fsync the folder it went
 * into. On abort or a failed commit the part is removed and nothing is
 * visible. (Counting and hashing happen above, in storage/verify.ts, for
 * every backend.)
 */
import { constants, ftruncate as ftruncateCallback } from 'node:fs';
import { truncate } from 'node:fs/promises';
import * as meta from './meta.js';
import { promisify } from 'node:util';
import path from 'node:path';
import { fd } from '../../util/fd.js';
import type { FlowWindow } from '../../util/flow.js';
import type { StagedUpload, StagingSink, StoredFile } from '../storage.js';
import type { ChecksumStore } from './checksums.js';
import { FileWriter } from '../../util/file-writer.js';
import { makeParents, pathConflict } from './folders.js';
import { syncDir, type FsLayout } from './layout.js';
import type { KeyedRwLock } from './locks.js';
import { fromOsError } from './os-errors.js';
import type { Reservation } from './space.js';
import type { UploadStage } from './staging.js';
import type { Trash } from './trash.js';

const ftruncate = promisify(ftruncateCallback);

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
}

// A staged upload is made durable (fsync, then its record) after this many
// new bytes, or this long after the last time, whichever comes first.
const CHECKPOINT_BYTES = 8 * 1024 * 1024;
const CHECKPOINT_MS = 2000;
// Files up to this size are written on the event loop (see FileWriter).
const SMALL_FILE_BYTES = 256 * 1024;

/**
 * Opens a staged upload's part, never through a symlink, before the
 * client is told to send, so that a failure is known in time: a new one
 * exclusively, a resumed one cut back to `offset`.
 */
export async function openPart(partPath: string, window: FlowWindow, offset?: number, size = Infinity): Promise<FileWriter> {
  if (offset === undefined) {
    const descriptor = await meta.open(partPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    return new FileWriter(descriptor, window, 0, size <= SMALL_FILE_BYTES);
  }
  const descriptor = await fd.open(partPath, constants.O_WRONLY | constants.O_NOFOLLOW);
  try {
    await ftruncate(descriptor, offset);
  } catch (error) {
    await fd.close(descriptor);
    throw error;
  }
  return new FileWriter(descriptor, window, offset);
}

/**
 * One upload into the filesystem backend, staged in `.bucketd/uploads`
 * under its id. Bytes are queued to the disk as they come, and made
 * durable now and then (see CHECKPOINT_*) so that a crash costs little.
 */
export class FsUploadSink implements StagingSink {
  readonly id: string;
  readonly name: string;
  readonly #target: UploadTarget;
  readonly #services: CommitServices;
  readonly #stage: UploadStage;
  readonly #file: FileWriter;
  readonly #reservation: Reservation;
  readonly #record: StagedUpload;
  /** Where this connection's bytes started (0, or the resume offset). */
  readonly #start: number;
  #received = 0;
  #checkpointAt: number;
  #checkpointing: Promise<void> | undefined;
  /** A checkpoint for bytes that arrived and then nothing more for a while. */
  #quietTimer: NodeJS.Timeout | undefined;
  #checkpointFailure: unknown;
  /** A record of it is on disk (written here, or it was resumed), to remove at the commit. */
  #recorded: boolean;
  /** Every byte written and fsynced, the file closed (a commit got that far). */
  #written = false;
  #done = false;

  constructor(record: StagedUpload, file: FileWriter, reservation: Reservation, stage: UploadStage, services: CommitServices, recorded = false) {
    this.#recorded = recorded;
    this.id = record.id;
    this.name = record.name;
    this.#record = { ...record };
    this.#start = record.held;
    this.#target = { bucket: record.bucket, name: record.name };
    this.#services = services;
    this.#stage = stage;
    this.#file = file;
    this.#reservation = reservation;
    this.#checkpointAt = Date.now();
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.#done) throw new Error('write after the upload ended');
    if (this.#checkpointFailure !== undefined) throw fromOsError(this.#checkpointFailure);
    this.#received += chunk.length;
    this.#reservation.wrote(chunk.length);
    await this.#file.write(chunk).catch((error: unknown) => {
      throw fromOsError(error);
    });
    if (this.#start + this.#received - this.#record.held >= CHECKPOINT_BYTES || Date.now() - this.#checkpointAt >= CHECKPOINT_MS) this.#startCheckpoint();
    else this.#quietTimer ??= setTimeout(() => this.#startCheckpoint(), CHECKPOINT_MS).unref();
  }

  #startCheckpoint(): void {
    clearTimeout(this.#quietTimer);
    this.#quietTimer = undefined;
    if (this.#done || this.#checkpointing !== undefined) return;
    this.#checkpointing = this.#checkpoint().finally(() => {
      this.#checkpointing = undefined;
      // Bytes that came meanwhile get their turn, even if no more come.
      if (!this.#done && this.#start + this.#received > this.#record.held) this.#quietTimer ??= setTimeout(() => this.#startCheckpoint(), CHECKPOINT_MS).unref();
    });
  }

  /** fsyncs what reached the kernel, then records it as held; never blocks the writes. */
  async #checkpoint(): Promise<void> {
    this.#checkpointAt = Date.now();
    try {
      const held = this.#start + (await this.#file.checkpoint());
      if (held === 0 || (held <= this.#record.held && this.#record.held > 0)) return; // nothing (new) to hold
      if (this.#done) return; // suspend or commit has the last word
      await this.#stage.record({ ...this.#record, held, updatedAt: new Date() });
      this.#recorded = true;
      this.#record.held = held;
    } catch (error) {
      this.#checkpointFailure = error;
    }
  }

  async suspend(): Promise<number> {
    if (this.#done) return this.#record.held;
    this.#done = true;
    clearTimeout(this.#quietTimer);
    this.#reservation.release();
    await this.#checkpointing;
    let held = this.#record.held;
    try {
      if (!this.#written) await this.#file.close(); // every byte written and fsynced
      held = this.#start + this.#received;
    } catch {
      // A write failed (a full disk): what was durable before it stays
      // held, and the space of the rest is given back.
      await this.#file.destroy();
      await truncate(this.#stage.partPath(this.id), held).catch(() => undefined);
    }
    try {
      await this.#stage.record({ ...this.#record, held, updatedAt: new Date() });
      this.#recorded = true;
      this.#record.held = held;
    } catch {
      // Not recorded (the disk is full, say): an earlier record, if any, says what is held.
    }
    if (this.#record.held === 0) {
      // Nothing durable to resume from: not worth the space it takes.
      await this.#stage.remove(this.id);
      return 0;
    }
    return this.#record.held;
  }

  async commit(sha256: string): Promise<StoredFile> {
    if (this.#done) throw new Error('commit after the upload ended');
    this.#done = true;
    clearTimeout(this.#quietTimer);
    const { bucket, name } = this.#target;
    const partPath = this.#stage.partPath(this.id);
    const { layout, checksums, bucketLocks, fileLocks, folderLocks, trash } = this.#services;
    try {
      await this.#checkpointing;
      try {
        await this.#file.close(); // every byte written and fsynced
        this.#written = true;
      } catch (error) {
        // Not all written (a full disk): what is durable stays for a resume.
        this.#done = false;
        await this.suspend();
        throw Object.assign(fromOsError(error), { kept: true });
      }
      const identity = await meta.lstatBig(partPath);
      await bucketLocks.run(bucket, 'shared', () =>
        fileLocks.run(`${bucket}/${name}`, 'exclusive', () =>
          folderLocks.run(bucket, 'shared', async () => {
            const dir = await layout.bucketDir(bucket);
            await makeParents(dir, name);
            const finalPath = path.join(dir, name);
            const existing = await meta.lstatIfAny(finalPath).catch(() => undefined);
            if (existing?.isDirectory()) throw pathConflict(name, true);
            // Recorded first, keyed by the new file's identity, so a reader
            // never pairs one version's bytes with another's checksum.
            await checksums.record(bucket, name, sha256, identity);
            // A file it replaces is kept aside (so that its space is freed in the
            // background); a new name has none. The file's lock keeps others out meanwhile.
            const displaced = existing === undefined ? undefined : await trash.keepAside(finalPath);
            try {
              await meta.rename(partPath, finalPath);
              await syncDir(path.dirname(finalPath));
            } finally {
              if (displaced) trash.discard(displaced);
            }
          }),
        ),
      );
      // Moved into place: the record has nothing left to describe (a crash
      // before this line leaves a record without a part, tidied at start).
      if (this.#recorded) await this.#stage.forget(this.id);
      return { name, size: Number(identity.size), sha256 };
    } catch (error) {
      if ((error as { kept?: boolean }).kept === true) throw error;
      const failure = fromOsError(error, 'NO_SUCH_BUCKET');
      if (failure.code === 'NO_SUCH_BUCKET') {
        // Its bucket is gone: nowhere to store it, ever.
        await this.#discard();
        throw failure;
      }
      // Whole and verified, but not stored (a folder in the way, a failing
      // disk): kept, so that a resume can store it once the cause is gone.
      this.#done = false;
      await this.suspend();
      throw failure;
    } finally {
      this.#reservation.release();
    }
  }

  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#quietTimer);
    this.#reservation.release();
    await this.#checkpointing;
    await this.#discard();
  }

  async #discard(): Promise<void> {
    await this.#file.destroy();
    await this.#stage.remove(this.id);
  }
}
