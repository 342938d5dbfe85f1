/**
 * The checksum records this server wrote or read lately, in memory, so
 * that a listing or a download of a file whose record is known costs no
 * look at the records folder (five checks of folders, an open, a read and
 * a close). An entry is used only for the very version it describes
 * (size, mtime and inode, as the record on disk is), and is changed or
 * dropped wherever the record on disk is written or removed. The entries
 * used longest ago (set, or found for a listing or a download) go first
 * beyond MAX_BYTES (an entry costs about 330 bytes with a short name, up to
 * about 2.4 KB with the longest).
 */
import type { FileIdentity } from './checksums.js';

const MAX_BYTES = 8 * 1024 * 1024;

// What an entry costs in memory: its key (two bytes a character, at worst)
// and the rest (the map's slot, the entry, its SHA-256 and three bigints).
const bytesOf = (key: string): number => 2 * key.length + 330;

interface Entry {
  sha256: string;
  size: bigint;
  mtimeNs: bigint;
  ino: bigint;
}

export class RecordCache {
  readonly #entries = new Map<string, Entry>();
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxBytes = MAX_BYTES) {
    this.#maxBytes = maxBytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The SHA-256 of this version of the file, if an entry describes it. */
  get(bucket: string, name: string, identity: FileIdentity): string | undefined {
    const key = keyOf(bucket, name);
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.size !== identity.size || entry.mtimeNs !== identity.mtimeNs || entry.ino !== identity.ino) return undefined;
    // Moved to the end of the map's order, with the newest: a file read
    // often stays, however many others were set since.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.sha256;
  }

  set(bucket: string, name: string, sha256: string, identity: FileIdentity): void {
    const key = keyOf(bucket, name);
    // Set anew, so that it counts as the newest used.
    this.#remove(key);
    this.#entries.set(key, { sha256, size: identity.size, mtimeNs: identity.mtimeNs, ino: identity.ino });
    this.#bytes += bytesOf(key);
    while (this.#bytes > this.#maxBytes) this.#remove(this.#entries.keys().next().value!);
  }

  delete(bucket: string, name: string): void {
    this.#remove(keyOf(bucket, name));
  }

  deleteBucket(bucket: string): void {
    const prefix = `${bucket}\0`;
    for (const key of this.#entries.keys()) if (key.startsWith(prefix)) this.#remove(key);
  }

  #remove(key: string): void {
    if (this.#entries.delete(key)) this.#bytes -= bytesOf(key);
  }
}

// Neither a bucket nor a file name can hold a NUL.
function keyOf(bucket: string, name: string): string {
  return `${bucket}\0${name}`;
}
