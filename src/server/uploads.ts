/**
 * The server's view of unfinished uploads (protocol 4): which are being
 * fed now (one connection at a time each), which wait for a resume and how
 * many bytes they hold (for quotas), and when they expire. The bytes and
 * the records live in the storage; this keeps what a running server needs
 * at once, and sweeps the expired ones away.
 */
import { randomHex } from '../util/random-hex.js';
import { BucketError } from '../errors.js';
import type { StagedUpload, Storage } from '../storage/storage.js';
import type { UploadSnapshot } from '../storage/verify.js';
import type { Logger } from './logger.js';

export const DEFAULT_UPLOAD_TTL_MS = 24 * 60 * 60 * 1000;
const MAX_REMEMBERED_HASHES = 10_000;
// The sweeper runs this often at most, and at least every tenth of the TTL.
const SWEEP_EVERY_MS = 60_000;

export class UploadRegistry {
  readonly #storage: Storage;
  readonly #logger: Logger;
  /** 0: never. */
  readonly ttlMs: number;
  readonly #busy = new Set<string>();
  /** Waiting for a resume, by id: their held bytes count against quotas. */
  readonly #waiting = new Map<string, StagedUpload>();
  /**
   * Where the hash of a waiting upload stood when its bytes stopped, so
   * that a resume from there need not read them again (lost at a restart,
   * when the resume reads them once).
   */
  readonly #hashes = new Map<string, UploadSnapshot>();
  readonly #now: () => number;
  /** Uploads being fed now, and into which bucket. */
  readonly #feeding = new Map<string, string>();
  /** Uploads being fed into a bucket that was deleted meanwhile. */
  readonly #doomed = new Set<string>();
  /** Doomed uploads being removed now that their connection let go. */
  readonly #dropping = new Set<string>();
  /** Uploads gone since the current sweep listed them (a listing can be stale by the time it is read). */
  readonly #goneSince = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;

  /** `now`: the time in ms since the epoch (tests move it on to expire uploads). */
  constructor(storage: Storage, logger: Logger, ttlMs = DEFAULT_UPLOAD_TTL_MS, now: () => number = Date.now) {
    this.#storage = storage;
    this.#logger = logger;
    this.ttlMs = ttlMs;
    this.#now = now;
  }

  /** At start: what waits from an earlier run, less what has expired meanwhile; then sweeps now and then. */
  async start(): Promise<void> {
    await this.sweep();
    if (this.ttlMs > 0) this.#timer = setInterval(() => void this.sweep(), Math.max(1000, Math.min(SWEEP_EVERY_MS, this.ttlMs / 10))).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** A new upload's id: 128 random bits. */
  newId(): string {
    return randomHex(16);
  }

  /** Marks the upload as fed by this connection until the returned function is called; UPLOAD_BUSY if another feeds it. */
  claim(id: string): () => void {
    if (this.#busy.has(id)) throw new BucketError('UPLOAD_BUSY', `upload ${id} is being sent on another connection now; try again when it stops`);
    this.#busy.add(id);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#busy.delete(id);
      this.#feeding.delete(id);
      if (this.#doomed.delete(id)) {
        // Its bucket went while it was fed: whatever its connection kept goes too.
        this.#dropping.add(id);
        this.gone(id);
        void this.#storage
          .abortUpload(id)
          .catch(() => undefined)
          .finally(() => this.#dropping.delete(id));
      }
    };
  }

  /**
   * The claimed upload is being fed into `bucket` (so that deleting the
   * bucket can let it go); it no longer waits (its whole size is reserved
   * against the quota while it is fed).
   */
  feeding(id: string, bucket: string): void {
    this.#feeding.set(id, bucket);
    this.#waiting.delete(id);
  }

  /** Whether the upload's bucket was deleted while it was being fed: it is to be let go, not kept or stored. */
  isDoomed(id: string): boolean {
    return this.#doomed.has(id) || this.#dropping.has(id);
  }

  /** The upload now waits for a resume, holding what it holds (told by the connection that fed it, before it lets go). */
  waiting(upload: StagedUpload): void {
    this.#waiting.set(upload.id, upload);
  }

  /** The upload is gone (committed, aborted, expired). */
  gone(id: string): void {
    this.#waiting.delete(id);
    this.#hashes.delete(id);
    if (this.#sweeping !== undefined) this.#goneSince.add(id);
  }

  /** Keeps where the upload's hash stood, for a resume from exactly there. */
  rememberHash(id: string, snapshot: UploadSnapshot): void {
    this.#hashes.delete(id);
    this.#hashes.set(id, snapshot);
    // A few hundred bytes each; the oldest go first past the bound.
    if (this.#hashes.size > MAX_REMEMBERED_HASHES) this.#hashes.delete(this.#hashes.keys().next().value!);
  }

  /** The hash as it stood after `offset` bytes, if known; taken, not kept. */
  takeHash(id: string, offset: number): UploadSnapshot | undefined {
    const snapshot = this.#hashes.get(id);
    this.#hashes.delete(id);
    return snapshot?.received === offset ? snapshot : undefined;
  }

  /** Bytes held by the bucket's uploads that wait for a resume (those being fed reserve their whole size instead). */
  heldBytes(bucket: string): number {
    let bytes = 0;
    for (const upload of this.#waiting.values()) if (upload.bucket === bucket) bytes += upload.held;
    return bytes;
  }

  /** The uploads that wait for a resume, and the bytes they hold. */
  waitingTotals(): { count: number; bytes: number } {
    let bytes = 0;
    for (const upload of this.#waiting.values()) bytes += upload.held;
    return { count: this.#waiting.size, bytes };
  }

  expiresAt(upload: StagedUpload): Date | undefined {
    return this.ttlMs > 0 ? new Date(upload.updatedAt.getTime() + this.ttlMs) : undefined;
  }

  isExpired(upload: StagedUpload, now = this.#now()): boolean {
    return this.ttlMs > 0 && upload.updatedAt.getTime() + this.ttlMs <= now;
  }

  /**
   * A bucket was deleted: its unfinished uploads go too, so that none
   * turns up in a new bucket of the same name. One being fed now fails
   * at its commit (no bucket) and is removed then.
   */
  async dropBucket(bucket: string): Promise<void> {
    // Those being fed now are let go by their connection when it is done with them.
    for (const [id, feeding] of this.#feeding) if (feeding === bucket) this.#doomed.add(id);
    for (const upload of await this.#storage.stagedUploads()) {
      if (upload.bucket !== bucket || this.#busy.has(upload.id)) continue;
      const release = this.claim(upload.id);
      try {
        await this.#storage.abortUpload(upload.id).catch(() => undefined);
      } finally {
        release();
        this.gone(upload.id);
      }
    }
  }

  /** Removes expired uploads that nobody feeds, and learns what the rest hold. */
  async sweep(): Promise<void> {
    this.#sweeping ??= this.#sweep().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  async #sweep(): Promise<void> {
    const now = this.#now();
    this.#goneSince.clear();
    let uploads: StagedUpload[];
    try {
      uploads = await this.#storage.stagedUploads();
    } catch (error) {
      this.#logger.warn('cannot list unfinished uploads', { error: error instanceof Error ? error.message : String(error) });
      return;
    }
    const present = new Set<string>();
    const expired: StagedUpload[] = [];
    for (const upload of uploads) {
      // Fed now, or gone since the listing was taken: not this sweep's to judge.
      if (this.#busy.has(upload.id) || this.#goneSince.has(upload.id)) continue;
      if (this.isExpired(upload, now)) {
        expired.push(upload);
        continue;
      }
      present.add(upload.id);
      this.#waiting.set(upload.id, upload);
    }
    for (const upload of expired) {
      if (this.#busy.has(upload.id)) continue;
      const release = this.claim(upload.id);
      let removed = false;
      try {
        // Read again now that it is ours: a resume since the listing may have made it young again.
        const current = await this.#storage.stagedUpload(upload.id);
        if (current !== undefined && this.isExpired(current)) {
          this.#hashes.delete(upload.id);
          const bytes = await this.#storage.abortUpload(upload.id);
          removed = true;
          this.#logger.info('unfinished upload expired', { upload: upload.id, bucket: upload.bucket, name: upload.name, bytes });
        } else if (current !== undefined) {
          present.add(current.id);
          this.#waiting.set(current.id, current);
        }
      } catch (error) {
        if (!(error instanceof BucketError && error.code === 'NO_SUCH_UPLOAD')) this.#logger.warn('cannot remove an expired upload', { upload: upload.id, error: error instanceof Error ? error.message : String(error) });
      } finally {
        release();
        if (removed) this.gone(upload.id);
      }
    }
    // Gone meanwhile by other ways (the storage is the truth); not those that began to wait since the listing.
    for (const [id, upload] of this.#waiting) if (!present.has(id) && upload.updatedAt.getTime() < now) this.#waiting.delete(id);
  }
}
