/**
 * The storage contract. The server speaks only to this interface, so a
 * second backend (an S3-compatible store) can stand in without the server
 * changing; `test/storage/contract.ts` holds the tests every backend passes.
 * Every method throws BucketError with a stable code on failure.
 *
 * Checksums are not a backend's business: `verify.ts` counts and hashes
 * every byte in and out, for every backend alike. A backend only records
 * the SHA-256 it is given at commit and reports it back on open.
 */
export interface BucketInfo {
  name: string;
  createdAt: Date;
}

export interface FileInfo {
  kind?: 'file';
  /** Folders and the file's own name joined by "/", e.g. `2026/trip/img.jpg`. */
  name: string;
  size: number;
  modifiedAt: Date;
  /** Known when the file was stored through bucketd and is unchanged since. */
  sha256?: string;
}

/** In a listing with a delimiter: the names under `name` (which ends in "/"), folded into one. */
export interface FolderInfo {
  kind: 'folder';
  name: string;
}

export interface ListOptions {
  /** Only the names that start with this (normalised to NFC). */
  prefix?: string;
  /** "/": one level below the prefix; deeper names come as their folder, once. */
  delimiter?: '/';
}

export interface StoredFile {
  name: string;
  size: number;
  sha256: string;
}

/**
 * A sorted listing, as of when it was taken: its length is known at once
 * (the protocol announces it), its entries arrive page by page, so a bucket
 * of any size lists in bounded memory. Iterate `pages` once.
 */
export interface Listing<T> {
  readonly count: number;
  readonly pages: AsyncIterable<readonly T[]>;
}

/** An upload in progress: bytes go to a hidden temporary place. */
export interface UploadSink {
  /** The name the file will be stored under (normalised). */
  readonly name: string;
  /** Takes the next chunk; resolves when the sink is ready for more. */
  write(chunk: Buffer): Promise<void>;
  /**
   * Makes what was written durable, then visible under the name at once,
   * recorded with `sha256` (which the caller has verified). On any failure
   * nothing becomes visible and what was written is gone.
   */
  commit(sha256: string): Promise<StoredFile>;
  /** Throws away what was written. Safe to call more than once. */
  abort(): Promise<void>;
}

/**
 * An upload that outlives its connection (protocol 4): its bytes are
 * staged in the store's bookkeeping area under an id, and can be fed again
 * from the last durable byte until it is committed or aborted.
 */
export interface StagedUpload {
  id: string;
  bucket: string;
  /** The name it will be stored under (normalised). */
  name: string;
  /** Declared size. */
  size: number;
  /** Bytes staged durably: what a resume may start from. */
  held: number;
  /** Who started it; absent for the anonymous user or a server without users. */
  owner?: string;
  startedAt: Date;
  /** When bytes last arrived (or it was started); expiry counts from here. */
  updatedAt: Date;
}

/** An upload being fed: staged bytes grow; `suspend` keeps them for a later resume. */
export interface StagingSink extends UploadSink {
  readonly id: string;
  /**
   * Makes what was written durable, records it, and lets go of the file,
   * keeping the upload for a resume. Resolves with the bytes now held.
   * After a failed write it keeps what was durable before it.
   */
  suspend(): Promise<number>;
}

export interface StagingRequest {
  id: string;
  owner?: string;
}

/**
 * Buffers for downloads come from a server-wide budget: a backend borrows
 * one to read into, and the consumer gives it back once its bytes are sent,
 * so however many readers stall, memory stays within the budget.
 */
export interface BufferLender {
  /** A buffer of `chunkSize` bytes; waits while the budget is spent. */
  borrow(): Promise<Buffer>;
  giveBack(buffer: Buffer): void;
  readonly chunkSize: number;
}

/** A piece of a download; `release()` once its bytes have been sent. */
export interface Chunk {
  readonly bytes: Buffer;
  release(): void;
}

/** An open file, ready to stream. It stays the same file even if replaced. */
export interface DownloadSource {
  readonly name: string;
  readonly size: number;
  /** The SHA-256 recorded when it was stored, when known. */
  readonly recordedSha256?: string;
  /**
   * The file's bytes from `start`, in order. A backend that reads into
   * memory of its own choosing should still borrow from `buffers`, so the
   * server's budget holds. Iterate once; a read failure throws.
   */
  chunks(buffers: BufferLender, start?: number): AsyncIterable<Chunk>;
  close(): Promise<void>;
}

export interface DeleteBucketOptions {
  /** Delete the bucket's files too. */
  force?: boolean;
}

export interface Storage {
  /** What the store is, for people: a folder, a URL. */
  readonly description: string;
  createBucket(bucket: string): Promise<BucketInfo>;
  /** Every bucket, sorted by name. */
  listBuckets(): Promise<Listing<BucketInfo>>;
  /** Throws BUCKET_NOT_EMPTY (with the file count) unless empty or forced. */
  deleteBucket(bucket: string, options?: DeleteBucketOptions): Promise<{ deletedFiles: number }>;
  /**
   * The bucket's files (all of them, at every depth, unless a prefix says
   * otherwise), sorted by name; with a delimiter, folders too, sorted
   * among them by their name ending in "/". Only listings with a delimiter
   * hold folders.
   */
  listFiles(bucket: string, options?: ListOptions & { delimiter?: undefined }): Promise<Listing<FileInfo>>;
  listFiles(bucket: string, options: ListOptions): Promise<Listing<FileInfo | FolderInfo>>;
  /**
   * Refusals (no bucket, bad name, no room) come here, before any byte
   * moves. The upload is staged under `staging.id` (a new random one if
   * not given) until committed or aborted, so that it can be resumed.
   */
  startUpload(bucket: string, name: string, declaredSize: number, staging?: StagingRequest): Promise<StagingSink>;
  /** The unfinished uploads, oldest first. */
  stagedUploads(): Promise<StagedUpload[]>;
  /** One unfinished upload, if there is one by that id. */
  stagedUpload(id: string): Promise<StagedUpload | undefined>;
  /**
   * Feeds a staged upload again from `offset` (at most what it holds;
   * staged bytes past it are dropped). `prefix` yields the staged bytes
   * before `offset`, for the caller to rebuild its hash; read it before
   * writing. NO_SUCH_UPLOAD if there is none; NO_SUCH_BUCKET or
   * PATH_CONFLICT if its bucket went or a folder stands where it goes;
   * NO_SPACE if the rest does not fit. Bytes dropped past a lower offset
   * are dropped durably (the record says so) before this resolves.
   */
  resumeUpload(id: string, offset: number): Promise<{ upload: StagedUpload; sink: StagingSink; prefix: AsyncIterable<Buffer> }>;
  /** Removes a staged upload (not one being fed); resolves with the bytes released. NO_SUCH_UPLOAD if there is none. */
  abortUpload(id: string): Promise<number>;
  openFile(bucket: string, name: string): Promise<DownloadSource>;
  /** Resolves with the name as stored (normalised). */
  deleteFile(bucket: string, name: string): Promise<{ name: string }>;
  /**
   * Checks that the store can be reached and written (a readiness probe):
   * writes, syncs and removes a small object of its own; throws why not.
   */
  probe(): Promise<void>;
  /** Waits for commits in flight; the store is not used afterwards. */
  close(): Promise<void>;
}

/** Sorts by name in code point (UTF-8 byte) order, the same on every machine. */
export function byName<T extends { name: string }>(a: T, b: T): number {
  return compareNames(a.name, b.name);
}

/** Code point order, which is UTF-8 byte order; no allocation, for big sorts. */
export function compareNames(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // UTF-16 order differs from code point order only where a surrogate
    // (above U+FFFF) meets U+E000-U+FFFF: lift surrogates above them.
    const rank = (unit: number): number => (unit >= 0xd800 && unit <= 0xdfff ? unit + 0x2000 : unit >= 0xe000 ? unit - 0x800 : unit);
    return rank(x) - rank(y);
  }
  return a.length - b.length;
}

/** A listing of entries already in memory, in pages of `pageSize`. */
export function listingOf<T>(entries: readonly T[], pageSize = 1000): Listing<T> {
  return {
    count: entries.length,
    pages: (async function* () {
      for (let at = 0; at < entries.length; at += pageSize) yield entries.slice(at, at + pageSize);
    })(),
  };
}
