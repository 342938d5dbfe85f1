/**
 * The checksum records this server wrote or read lately, in memory, so
 * that a listing or a download of a file whose record is known costs no
 * look at the records folder (five checks of folders, an open, a read and
 * a close). An entry is used only for the very version it describes
 * (size, mtime and inode, as the record on disk is), and is changed or
 * dropped wherever the record on disk is written or removed. The oldest
 * entries go first beyond MAX_ENTRIES (about 300 bytes each).
 */
import type { FileIdentity } from './checksums.js';

const MAX_ENTRIES = 20_000;

interface Entry {
  sha256: string;
  size: bigint;
  mtimeNs: bigint;
  ino: bigint;
}

export class RecordCache {
  readonly #entries = new Map<string, Entry>();
  readonly #max: number;

  constructor(max = MAX_ENTRIES) {
    this.#max = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The SHA-256 of this version of the file, if an entry describes it. */
  get(bucket: string, name: string, identity: FileIdentity): string | undefined {
    const entry = this.#entries.get(keyOf(bucket, name));
    if (entry === undefined || entry.size !== identity.size || entry.mtimeNs !== identity.mtimeNs || entry.ino !== identity.ino) return undefined;
    return entry.sha256;
  }

  set(bucket: string, name: string, sha256: string, identity: FileIdentity): void {
    const key = keyOf(bucket, name);
    // Set anew, so that it counts as the newest.
    this.#entries.delete(key);
    this.#entries.set(key, { sha256, size: identity.size, mtimeNs: identity.mtimeNs, ino: identity.ino });
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  delete(bucket: string, name: string): void {
    this.#entries.delete(keyOf(bucket, name));
  }

  deleteBucket(bucket: string): void {
    const prefix = `${bucket}\0`;
    for (const key of this.#entries.keys()) if (key.startsWith(prefix)) this.#entries.delete(key);
  }
}

// Neither a bucket nor a file name can hold a NUL.
function keyOf(bucket: string, name: string): string {
  return `${bucket}\0${name}`;
}
