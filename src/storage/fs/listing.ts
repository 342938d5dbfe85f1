/**
 * Listing a bucket folder in bounded memory. First a snapshot: the names
 * of the regular files and what identifies each version (size, mtime,
 * inode), in typed arrays — about a hundred bytes a file, enough to
 * announce the count and sort. Then pages: the checksum records are looked
 * up a page at a time, so the full FileInfo of every file never exists at
 * once.
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { mapLimit } from '../../util/map-limit.js';
import { normalizeFileName } from '../names.js';
import { compareNames, type FileInfo, type Listing } from '../storage.js';
import type { ChecksumStore } from './checksums.js';

// Files examined at once, and entries per page.
const STAT_CONCURRENCY = 32;
const PAGE_SIZE = 500;

export async function listBucketFolder(bucket: string, dir: string, checksums: ChecksumStore): Promise<Listing<FileInfo>> {
  const candidates = (await readdir(dir)).filter(isListableName);
  const sizes = new Float64Array(candidates.length);
  const mtimes = new BigInt64Array(candidates.length);
  const inodes = new BigUint64Array(candidates.length);
  const isFile = new Uint8Array(candidates.length);
  await mapLimit(
    candidates.map((_, index) => index),
    STAT_CONCURRENCY,
    async (index) => {
      const stat = await lstat(path.join(dir, candidates[index]!), { bigint: true }).catch(() => undefined);
      // Regular files only: a folder or a link put there by hand is not a file of ours.
      if (!stat?.isFile()) return;
      isFile[index] = 1;
      sizes[index] = Number(stat.size);
      mtimes[index] = stat.mtimeNs;
      inodes[index] = stat.ino;
    },
  );
  const order = Uint32Array.from(candidates.keys())
    .filter((index) => isFile[index] === 1)
    .sort((a, b) => compareNames(candidates[a]!, candidates[b]!));
  const lookup = await checksums.bucketReader(bucket);
  return {
    count: order.length,
    pages: (async function* () {
      for (let at = 0; at < order.length; at += PAGE_SIZE) {
        yield await mapLimit(Array.from(order.subarray(at, at + PAGE_SIZE)), STAT_CONCURRENCY, async (index): Promise<FileInfo> => {
          const name = candidates[index]!;
          const identity = { size: BigInt(sizes[index]!), mtimeNs: mtimes[index]!, ino: inodes[index]! };
          const info: FileInfo = { name, size: sizes[index]!, modifiedAt: new Date(Number(identity.mtimeNs / 1_000_000n)) };
          const sha256 = await lookup(name, identity);
          if (sha256 !== undefined) info.sha256 = sha256;
          return info;
        });
      }
    })(),
  };
}

/** Counts what a bucket folder holds: regular files, and anything else. */
export async function countEntries(dir: string): Promise<{ files: number; others: number }> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile()).length;
  return { files, others: entries.length - files };
}

/** Names that the protocol can carry and a client can ask for again. */
function isListableName(name: string): boolean {
  try {
    return normalizeFileName(name) === name;
  } catch {
    return false;
  }
}
