/**
 * Per-bucket quotas: what a bucket holds, plus the declared sizes of the
 * uploads into it still in flight, plus what its unfinished uploads hold
 * while they wait for a resume, may not pass its quota. A bucket's
 * usage is read from the storage once, then kept by the uploads and
 * deletes that change it; a replaced file counts in full until the usage
 * is read again (it is, after any delete, and every few minutes).
 *
 * A file stored while the usage is being read may or may not be in what
 * the storage lists, so it is added to the result (counted twice at worst:
 * a quota errs on the side of refusing) and that result is read again the
 * next time it is needed.
 */
import { BucketError } from '../../errors.js';
import type { Storage } from '../../storage/storage.js';

interface Usage {
  files: number;
  bytes: number;
  readAt: number;
}

// Usage known for longer than this is read again from the storage.
const USAGE_TTL_MS = 5 * 60_000;

export interface QuotaSource {
  quota(bucket: string): number | undefined;
  /** Bytes held by the bucket's unfinished uploads that wait for a resume. */
  staged?(bucket: string): number;
}

export class QuotaKeeper {
  readonly #storage: Storage;
  readonly #quotas: QuotaSource;
  readonly #usage = new Map<string, Usage>();
  readonly #reading = new Map<string, Promise<Usage>>();
  readonly #inFlight = new Map<string, number>();
  /** Changes seen while a bucket's usage is being read. */
  readonly #duringRead = new Map<string, { files: number; bytes: number; changed: boolean }>();

  constructor(storage: Storage, quotas: QuotaSource) {
    this.#storage = storage;
    this.#quotas = quotas;
  }

  /** Files and bytes the bucket holds now, read from the storage if not known. */
  async usage(bucket: string): Promise<{ files: number; bytes: number }> {
    const known = this.#usage.get(bucket);
    if (known && Date.now() - known.readAt < USAGE_TTL_MS) return known;
    let reading = this.#reading.get(bucket);
    if (!reading) {
      reading = this.#read(bucket).finally(() => this.#reading.delete(bucket));
      this.#reading.set(bucket, reading);
    }
    return reading;
  }

  /**
   * Holds `declared` bytes of the bucket's quota for an upload until the
   * returned function is called; QUOTA_EXCEEDED (with the bytes left) if
   * they do not fit. Buckets without a quota are not read at all.
   */
  async reserve(bucket: string, declared: number): Promise<() => void> {
    const quota = this.#quotas.quota(bucket);
    if (quota === undefined) return () => undefined;
    const { bytes } = await this.usage(bucket);
    // Checked and taken in one synchronous step, so two uploads cannot both slip under it.
    const inFlight = this.#inFlight.get(bucket) ?? 0;
    const left = Math.max(0, quota - bytes - inFlight - (this.#quotas.staged?.(bucket) ?? 0));
    if (declared > left) {
      throw new BucketError('QUOTA_EXCEEDED', `bucket "${bucket}" has ${left} of its ${quota} bytes left; this upload needs ${declared}`, [String(left)]);
    }
    this.#inFlight.set(bucket, inFlight + declared);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const rest = (this.#inFlight.get(bucket) ?? declared) - declared;
      if (rest > 0) this.#inFlight.set(bucket, rest);
      else this.#inFlight.delete(bucket);
    };
  }

  /** A file of `size` bytes was stored in the bucket. */
  stored(bucket: string, size: number): void {
    const known = this.#usage.get(bucket);
    if (known) this.#usage.set(bucket, { ...known, files: known.files + 1, bytes: known.bytes + size });
    const during = this.#duringRead.get(bucket);
    if (during) {
      during.files += 1;
      during.bytes += size;
      during.changed = true;
    }
  }

  /** The bucket lost files (or is gone): its usage is read again when next needed. */
  changed(bucket: string): void {
    this.#usage.delete(bucket);
    const during = this.#duringRead.get(bucket);
    if (during) during.changed = true;
  }

  async #read(bucket: string): Promise<Usage> {
    const during = { files: 0, bytes: 0, changed: false };
    this.#duringRead.set(bucket, during);
    try {
      const listing = await this.#storage.listFiles(bucket);
      let bytes = 0;
      for await (const page of listing.pages) for (const file of page) bytes += file.size;
      // Changed meanwhile: this answer holds for now (stores added), and is read again next time.
      const usage = { files: listing.count + during.files, bytes: bytes + during.bytes, readAt: during.changed ? 0 : Date.now() };
      this.#usage.set(bucket, usage);
      return usage;
    } finally {
      this.#duringRead.delete(bucket);
    }
  }
}
