/**
 * What `sync` remembers about local files: each one's SHA-256 with the
 * stamp (size, modification and change times in nanoseconds, inode) it
 * had when hashed, so that a file whose stamp has not moved is not read
 * again. One small JSON file in the user's cache folder, written whole
 * to a temporary file and renamed into place; a cache that cannot be
 * read or parsed is an empty one, and one that cannot be written is
 * skipped: at worst files are hashed again, never copied wrongly, since
 * a hash is only ever compared with the server's.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { mkdir, open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

/** When a file was hashed: if any of these moved, the hash may be stale. */
export interface FileStamp {
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
}

interface Entry extends FileStamp {
  sha256: string;
  /** When the entry was last used (ms since the epoch), for pruning. */
  seen: number;
}

const VERSION = 1;
// Past this many files, the least recently used are dropped: about 200 bytes each.
export const MAX_ENTRIES = 100_000;

export function stampOf(stats: BigIntStats): FileStamp {
  return { size: Number(stats.size), mtimeNs: String(stats.mtimeNs), ctimeNs: String(stats.ctimeNs), ino: String(stats.ino) };
}

export function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino;
}

/** `$XDG_CACHE_HOME/bucket/hashes.json`, else `~/.cache/bucket/hashes.json`. */
export function hashCachePath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CACHE_HOME !== undefined && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(env.HOME ?? os.homedir(), '.cache');
  return path.join(base, 'bucket', 'hashes.json');
}

/**
 * The SHA-256 of a file's bytes, read as a stream, and its stamp if it
 * held still while read (else undefined: the hash is not worth keeping).
 */
export async function hashFile(filePath: string): Promise<{ sha256: string; stamp: FileStamp | undefined }> {
  const handle = await open(filePath, 'r');
  try {
    const before = stampOf(await handle.stat({ bigint: true }));
    const hash = createHash('sha256');
    await pipeline(handle.createReadStream({ autoClose: false, start: 0 }), hash);
    const after = stampOf(await handle.stat({ bigint: true }));
    return { sha256: hash.digest('hex'), stamp: sameStamp(before, after) ? after : undefined };
  } finally {
    await handle.close();
  }
}

export class HashCache {
  readonly file: string;
  #entries: Map<string, Entry>;
  /** What this run learned or forgot (null), laid over the file as it is at save time. */
  readonly #changes = new Map<string, Entry | null>();
  readonly #now: () => number;

  private constructor(file: string, entries: Map<string, Entry>, now: () => number) {
    this.file = file;
    this.#entries = entries;
    this.#now = now;
  }

  /** Loads the cache at `file`; a missing or damaged one loads empty. */
  static async load(file: string, now: () => number = Date.now): Promise<HashCache> {
    return new HashCache(file, await readEntries(file), now);
  }

  /** The SHA-256 remembered for `filePath` if its stamp is still `stamp`. */
  lookup(filePath: string, stamp: FileStamp): string | undefined {
    const entry = this.#entries.get(filePath);
    if (entry === undefined || !sameStamp(entry, stamp)) return undefined;
    const used = { ...entry, seen: this.#now() };
    this.#entries.set(filePath, used);
    this.#changes.set(filePath, used);
    return entry.sha256;
  }

  record(filePath: string, stamp: FileStamp, sha256: string): void {
    const entry: Entry = { ...stamp, sha256, seen: this.#now() };
    this.#entries.set(filePath, entry);
    this.#changes.set(filePath, entry);
  }

  forget(filePath: string): void {
    this.#entries.delete(filePath);
    this.#changes.set(filePath, null);
  }

  /** The paths remembered inside `folder` (an absolute path). */
  pathsUnder(folder: string): string[] {
    const inside = folder.endsWith(path.sep) ? folder : folder + path.sep;
    return [...this.#entries.keys()].filter((filePath) => filePath.startsWith(inside));
  }

  /**
   * Writes what this run changed over the file as it is now (another run
   * may have saved meanwhile), pruned to MAX_ENTRIES. Resolves false if
   * the file could not be written; that is never an error worth failing for.
   */
  async save(): Promise<boolean> {
    if (this.#changes.size === 0) return true;
    const entries = await readEntries(this.file);
    for (const [filePath, entry] of this.#changes) {
      if (entry === null) entries.delete(filePath);
      else entries.set(filePath, entry);
    }
    const kept = entries.size <= MAX_ENTRIES ? [...entries] : [...entries].sort((a, b) => b[1].seen - a[1].seen).slice(0, MAX_ENTRIES);
    const text = JSON.stringify({ version: VERSION, entries: Object.fromEntries(kept) });
    const temporary = `${this.file}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
      await writeFile(temporary, text, { mode: 0o600, flag: 'wx' });
      await rename(temporary, this.file);
    } catch {
      await unlink(temporary).catch(() => undefined);
      return false;
    }
    this.#entries = new Map(kept);
    this.#changes.clear();
    return true;
  }
}

async function readEntries(file: string): Promise<Map<string, Entry>> {
  const entries = new Map<string, Entry>();
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return entries;
  }
  if (typeof parsed !== 'object' || parsed === null || !('version' in parsed) || parsed.version !== VERSION || !('entries' in parsed)) return entries;
  const raw = parsed.entries;
  if (typeof raw !== 'object' || raw === null) return entries;
  for (const [filePath, value] of Object.entries(raw as Record<string, unknown>)) {
    if (isEntry(value)) entries.set(filePath, value);
  }
  return entries;
}

function isEntry(value: unknown): value is Entry {
  if (typeof value !== 'object' || value === null) return false;
  const entry = value as Record<string, unknown>;
  return (
    typeof entry.size === 'number' &&
    typeof entry.mtimeNs === 'string' &&
    typeof entry.ctimeNs === 'string' &&
    typeof entry.ino === 'string' &&
    typeof entry.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(entry.sha256) &&
    typeof entry.seen === 'number'
  );
}
