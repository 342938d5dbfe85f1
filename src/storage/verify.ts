/**
 * The one layer where bytes are counted and hashed, on the way in and on
 * the way out, for every backend: an upload is committed only when exactly
 * the declared bytes arrived and their SHA-256 is the one the client sent;
 * a download reports the SHA-256 of what was actually read, and whether it
 * still matches the one recorded at upload.
 */
import { createHash, type Hash } from 'node:crypto';
import { BucketError } from '../errors.js';
import type { BufferLender, Chunk, DownloadSource, StoredFile, UploadSink } from './storage.js';

/** Where an upload's hashing stood: after `received` bytes. */
export interface UploadSnapshot {
  received: number;
  hash: Hash;
}

export class VerifiedUpload {
  readonly declaredSize: number;
  readonly #sink: UploadSink;
  #hash: Hash = createHash('sha256');
  #received = 0;
  #ended = false;

  constructor(sink: UploadSink, declaredSize: number) {
    this.#sink = sink;
    this.declaredSize = declaredSize;
  }

  /** The hash of what arrived so far, as it stands (a copy), to go on from later. */
  snapshot(): UploadSnapshot {
    return { received: this.#received, hash: this.#hash.copy() };
  }

  /** A resumed upload that goes on from a snapshot taken when its bytes stopped (no bytes read again). */
  static fromSnapshot(sink: UploadSink, declaredSize: number, snapshot: UploadSnapshot): VerifiedUpload {
    const upload = new VerifiedUpload(sink, declaredSize);
    upload.#hash = snapshot.hash.copy();
    upload.#received = snapshot.received;
    return upload;
  }

  /**
   * A resumed upload: the hash is rebuilt from the staged bytes before
   * `offset` (read once, so a resume costs reading them again: about what
   * hashing them cost the first time).
   */
  static async resumed(sink: UploadSink, declaredSize: number, offset: number, prefix: AsyncIterable<Buffer>): Promise<VerifiedUpload> {
    const upload = new VerifiedUpload(sink, declaredSize);
    for await (const chunk of prefix) {
      upload.#hash.update(chunk);
      upload.#received += chunk.length;
    }
    if (upload.#received !== offset) throw new BucketError('STORAGE_FAILED', `a staged upload held ${upload.#received} bytes where ${offset} were expected`);
    return upload;
  }

  get name(): string {
    return this.#sink.name;
  }

  get received(): number {
    return this.#received;
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.#ended) throw new Error('write after the upload ended');
    this.#received += chunk.length;
    if (this.#received > this.declaredSize) throw new BucketError('BAD_FIELD', 'more bytes arrived than the upload declared');
    this.#hash.update(chunk);
    await this.#sink.write(chunk);
  }

  /**
   * Commits if the count and the hash match; otherwise throws
   * INCOMPLETE_BODY or CHECKSUM_MISMATCH, with nothing stored.
   */
  async commit(expectedSha256: string): Promise<StoredFile> {
    if (this.#ended) throw new Error('commit after the upload ended');
    this.#ended = true;
    if (this.#received !== this.declaredSize) {
      await this.#sink.abort();
      throw new BucketError('INCOMPLETE_BODY', `received ${this.#received} of ${this.declaredSize} bytes`);
    }
    const sha256 = this.#hash.digest('hex');
    if (sha256 !== expectedSha256) {
      await this.#sink.abort();
      throw new BucketError('CHECKSUM_MISMATCH');
    }
    return this.#sink.commit(sha256);
  }

  /** Throws away what arrived. Safe to call more than once. */
  async abort(): Promise<void> {
    this.#ended = true;
    await this.#sink.abort();
  }
}

export interface DownloadCheck {
  /** The SHA-256 of every byte read. */
  sha256: string;
  /** Bytes read; short of what was to be sent if the file shrank under us. */
  bytes: number;
  /** False when a recorded SHA-256 exists and differs: the stored bytes went bad. */
  intact: boolean;
}

/**
 * Streams a download's chunks while hashing them; `check()` is ready once
 * the iteration has ended.
 */
export class VerifiedDownload {
  readonly #source: DownloadSource;
  readonly #start: number;
  readonly #hash: Hash = createHash('sha256');
  #bytes = 0;
  #done = false;

  /** From `start` on: the hash and count are of those bytes only, and only a whole file can be checked against its record. */
  constructor(source: DownloadSource, start = 0) {
    this.#source = source;
    this.#start = start;
  }

  async *chunks(buffers: BufferLender): AsyncGenerator<Chunk> {
    for await (const chunk of this.#source.chunks(buffers, this.#start)) {
      this.#hash.update(chunk.bytes);
      this.#bytes += chunk.bytes.length;
      yield chunk;
    }
    this.#done = true;
  }

  check(): DownloadCheck {
    if (!this.#done) throw new Error('check() before the download was read to its end');
    const sha256 = this.#hash.digest('hex');
    const recorded = this.#source.recordedSha256;
    const whole = this.#start === 0;
    return { sha256, bytes: this.#bytes, intact: this.#bytes === this.#source.size - this.#start && (!whole || recorded === undefined || recorded === sha256) };
  }
}
