/**
 * The storage contract. The server speaks only to this interface, so a
 * second backend (an S3-compatible store) can stand in without the server
 * changing. Every method throws BucketError with a stable code on failure.
 */
export interface BucketInfo {
  name: string;
  createdAt: Date;
}

export interface FileInfo {
  name: string;
  size: number;
  modifiedAt: Date;
  /** Known when the file was stored through bucketd and is unchanged since. */
  sha256?: string;
}

export interface StoredFile {
  name: string;
  size: number;
  sha256: string;
}

/** An upload in progress: bytes go to a hidden temporary place. */
export interface UploadSink {
  /** The name the file will be stored under (normalised). */
  readonly name: string;
  /** Takes the next chunk; resolves when the sink is ready for more. */
  write(chunk: Buffer): Promise<void>;
  /**
   * Checks that exactly the declared bytes arrived and that their SHA-256 is
   * `expectedSha256`, makes them durable, then visible under the name at
   * once. On any failure nothing becomes visible.
   */
  commit(expectedSha256: string): Promise<StoredFile>;
  /** Throws away what was written. Safe to call more than once. */
  abort(): Promise<void>;
}

/** An open file, ready to stream. It stays the same file even if replaced. */
export interface DownloadSource {
  readonly name: string;
  readonly size: number;
  /** The SHA-256 recorded when it was stored, when known. */
  readonly recordedSha256?: string;
  /**
   * Reads up to `target.length` bytes at `position` into `target`, which the
   * caller owns and reuses (so a download makes no garbage); resolves with
   * the count, 0 at the end. Reads are sequential.
   */
  read(target: Buffer, position: number): Promise<number>;
  close(): Promise<void>;
}

export interface DeleteBucketOptions {
  /** Delete the bucket's files too. */
  force?: boolean;
}

export interface Storage {
  createBucket(bucket: string): Promise<BucketInfo>;
  /** Every bucket, sorted by name. */
  listBuckets(): Promise<BucketInfo[]>;
  /** Throws BUCKET_NOT_EMPTY (with the file count) unless empty or forced. */
  deleteBucket(bucket: string, options?: DeleteBucketOptions): Promise<{ deletedFiles: number }>;
  /** Every file of the bucket, sorted by name. */
  listFiles(bucket: string): Promise<FileInfo[]>;
  startUpload(bucket: string, name: string, declaredSize: number): Promise<UploadSink>;
  openFile(bucket: string, name: string): Promise<DownloadSource>;
  /** Resolves with the name as stored (normalised). */
  deleteFile(bucket: string, name: string): Promise<{ name: string }>;
  close(): Promise<void>;
}

/** Sorts by name in code point (UTF-8 byte) order, the same on every machine. */
export function byName<T extends { name: string }>(a: T, b: T): number {
  return Buffer.compare(Buffer.from(a.name, 'utf8'), Buffer.from(b.name, 'utf8'));
}
