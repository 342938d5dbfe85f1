/**
 * Listing a bucket folder in bounded memory. First a snapshot: a walk of
 * the folders under the bucket (never through a link, and only into the
 * folders a prefix can reach) that keeps the names of the regular files
 * and what identifies each version (size, mtime, inode), in typed arrays
 * — about a hundred bytes a file, enough to announce the count and sort.
 * Then pages: the checksum records are looked up a page at a time, so the
 * full FileInfo of every file never exists at once.
 *
 * With the delimiter "/", the walk stops at the first folder past the
 * prefix: that folder is one item, listed when some file lies beneath it.
 */
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import * as meta from './meta.js';
import path from 'node:path';
import { mapLimit } from '../../util/map-limit.js';
import { isNormalSegment, MAX_FILE_PATH_BYTES, normalizePrefix } from '../names.js';
import { compareNames, type FileInfo, type FolderInfo, type Listing, type ListOptions } from '../storage.js';
import type { ChecksumStore } from './checksums.js';
import { errnoOf } from './os-errors.js';

// Files examined at once, and entries per page.
const STAT_CONCURRENCY = 32;
const PAGE_SIZE = 500;
// Files looked at directly between two turns of the event loop, so that a
// large bucket's listing never holds other clients up for long.
const STATS_PER_SLICE = 256;

const FILE = 1;
const FOLDER = 2;

/** Runs `work` while no commit or removal of the file `name` is under way (its shared lock). */
export type FileSettler = <T>(name: string, work: () => Promise<T>) => Promise<T>;

export async function listBucketFolder(bucket: string, dir: string, checksums: ChecksumStore, settle: FileSettler, options: ListOptions = {}): Promise<Listing<FileInfo | FolderInfo>> {
  const prefix = normalizePrefix(options.prefix ?? '');
  const statSlice = slices(STATS_PER_SLICE);
  const { files, folders } = await walk(dir, prefix, options.delimiter === '/');
  const candidates = files.concat(folders);
  const kinds = new Uint8Array(candidates.length);
  const sizes = new Float64Array(candidates.length);
  const mtimes = new BigInt64Array(candidates.length);
  const inodes = new BigUint64Array(candidates.length);
  await mapLimit(
    candidates.map((_, index) => index),
    STAT_CONCURRENCY,
    async (index) => {
      const name = candidates[index]!;
      if (index >= files.length) {
        if (await holdsAFile(dir, name)) kinds[index] = FOLDER;
        return;
      }
      // Direct, in slices (see statSlice): far cheaper than a thread-pool round trip per file.
      await statSlice();
      const stat = await meta.lstatBig(path.join(dir, name)).catch(() => undefined);
      // Regular files only: a link put there by hand is not a file of ours.
      if (!stat?.isFile()) return;
      kinds[index] = FILE;
      sizes[index] = Number(stat.size);
      mtimes[index] = stat.mtimeNs;
      inodes[index] = stat.ino;
    },
  );
  const order = Uint32Array.from(candidates.keys())
    .filter((index) => kinds[index] !== 0)
    .sort((a, b) => compareNames(candidates[a]!, candidates[b]!));
  const lookup = await checksums.bucketReader(bucket);
  return {
    count: order.length,
    pages: (async function* () {
      for (let at = 0; at < order.length; at += PAGE_SIZE) {
        yield await mapLimit(Array.from(order.subarray(at, at + PAGE_SIZE)), STAT_CONCURRENCY, async (index): Promise<FileInfo | FolderInfo> => {
          const name = candidates[index]!;
          if (kinds[index] === FOLDER) return { kind: 'folder', name };
          const identity = { size: BigInt(sizes[index]!), mtimeNs: mtimes[index]!, ino: inodes[index]! };
          const found = await lookup(name, identity);
          // No record at all: a file put there by hand, or one removed since
          // the snapshot. Listed as seen, without a checksum, and without a
          // lock: a bucket of such files lists as fast as any other.
          if (!found.recorded || found.sha256 !== undefined) return fileInfo(name, identity, found.sha256);
          // A record of another version: the file was replaced since the
          // snapshot, or is being replaced now (the new version's record is
          // written before its bytes are renamed in). Once the file's commit
          // is over, what is there and its record agree: look again then.
          return settle(name, async () => {
            const now = await meta.lstatBig(path.join(dir, name)).catch(() => undefined);
            if (!now?.isFile()) return fileInfo(name, identity, undefined); // removed meanwhile: as the snapshot saw it
            const current = { size: now.size, mtimeNs: now.mtimeNs, ino: now.ino };
            return fileInfo(name, current, await checksums.lookup(bucket, name, current));
          });
        });
      }
    })(),
  };
}

function fileInfo(name: string, identity: { size: bigint; mtimeNs: bigint }, sha256: string | undefined): FileInfo {
  const info: FileInfo = { name, size: Number(identity.size), modifiedAt: new Date(Number(identity.mtimeNs / 1_000_000n)) };
  if (sha256 !== undefined) info.sha256 = sha256;
  return info;
}

/** A function to await before each step of a loop: every `size` steps it lets the event loop turn once. */
function slices(size: number): () => Promise<void> {
  let steps = 0;
  return () => (++steps % size === 0 ? new Promise<void>((resolve) => setImmediate(resolve)) : Promise.resolve());
}

/**
 * The names under `dir` that may be listed for `prefix`: files (names
 * relative to the bucket, joined by "/"), and with `fold`, the first
 * folders past the prefix (ending in "/"). Only folders a name with the
 * prefix can lie in are read.
 */
async function walk(dir: string, prefix: string, fold: boolean): Promise<{ files: string[]; folders: string[] }> {
  const files: string[] = [];
  const folders: string[] = [];
  const pending = [''];
  for (let folder = pending.pop(); folder !== undefined; folder = pending.pop()) {
    for (const entry of await readFolder(dir, folder)) {
      const name = folder + entry.name;
      if (entry.isDirectory()) {
        const key = `${name}/`;
        // A file inside needs at least one more byte.
        if (Buffer.byteLength(key, 'utf8') >= MAX_FILE_PATH_BYTES) continue;
        if (prefix.startsWith(key)) pending.push(key);
        else if (key.startsWith(prefix)) (fold ? folders : pending).push(key);
      } else if (entry.isFile() && name.startsWith(prefix) && Buffer.byteLength(name, 'utf8') <= MAX_FILE_PATH_BYTES) {
        files.push(name);
      }
    }
  }
  return { files, folders };
}

/** Whether some listable file lies somewhere under the folder `key` (ending in "/"). */
async function holdsAFile(dir: string, key: string): Promise<boolean> {
  const pending = [key];
  for (let folder = pending.pop(); folder !== undefined; folder = pending.pop()) {
    for (const entry of await readFolder(dir, folder)) {
      const name = folder + entry.name;
      if (entry.isFile() && Buffer.byteLength(name, 'utf8') <= MAX_FILE_PATH_BYTES) return true;
      if (entry.isDirectory() && Buffer.byteLength(name, 'utf8') < MAX_FILE_PATH_BYTES - 1) pending.push(`${name}/`);
    }
  }
  return false;
}

/**
 * The entries of one folder of the bucket whose names a listing can carry
 * and a client can ask for again. The bucket's own folder must be there; a
 * folder below it that vanished meanwhile holds nothing.
 */
async function readFolder(dir: string, folder: string): Promise<Dirent[]> {
  let entries: Dirent[];
  try {
    // Dirent types come from the folder itself: a link is neither a file nor a folder.
    entries = await readdir(path.join(dir, folder), { withFileTypes: true });
  } catch (error) {
    const code = errnoOf(error);
    if (folder !== '' && (code === 'ENOENT' || code === 'ENOTDIR')) return [];
    throw error;
  }
  return entries.filter((entry) => isNormalSegment(entry.name));
}

/**
 * Counts what a bucket folder holds, at every depth, never through a
 * link: regular files, and anything else but folders that hold something
 * (an empty folder was put there by hand: deletes remove theirs).
 */
export async function countEntries(dir: string): Promise<{ files: number; others: number }> {
  let files = 0;
  let others = 0;
  const pending = [dir];
  for (let folder = pending.pop(); folder !== undefined; folder = pending.pop()) {
    const entries = await readdir(folder, { withFileTypes: true }).catch((error: unknown) => {
      if (folder !== dir && errnoOf(error) === 'ENOENT') return [];
      throw error;
    });
    if (entries.length === 0 && folder !== dir) others++;
    for (const entry of entries) {
      if (entry.isFile()) files++;
      else if (entry.isDirectory()) pending.push(path.join(folder, entry.name));
      else others++;
    }
  }
  return { files, others };
}
