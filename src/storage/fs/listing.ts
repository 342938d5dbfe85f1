/**
 * Listing a bucket folder in bounded memory. First a snapshot: the names
 * of the regular files and what identifies each version (size, mtime,
 * inode) — small, and enough to announce the count and sort. Then pages:
 * the checksum records are looked up a page at a time, so the full
 * FileInfo of every file never exists at once.
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

interface Snapshot {
  name: string;
  size: bigint;
  mtimeNs: bigint;
  ino: bigint;
}

export async function listBucketFolder(bucket: string, dir: string, checksums: ChecksumStore): Promise<Listing<FileInfo>> {
  const names = (await readdir(dir)).filter(isListableName);
  const stats = await mapLimit(names, STAT_CONCURRENCY, async (name): Promise<Snapshot | undefined> => {
    const stat = await lstat(path.join(dir, name), { bigint: true }).catch(() => undefined);
    // Regular files only: a folder or a link put there by hand is not a file of ours.
    return stat?.isFile() ? { name, size: stat.size, mtimeNs: stat.mtimeNs, ino: stat.ino } : undefined;
  });
  const files = stats.filter((entry): entry is Snapshot => entry !== undefined).sort((a, b) => compareNames(a.name, b.name));
  return {
    count: files.length,
    pages: (async function* () {
      for (let at = 0; at < files.length; at += PAGE_SIZE) {
        const page = files.slice(at, at + PAGE_SIZE);
        yield await mapLimit(page, STAT_CONCURRENCY, async (file): Promise<FileInfo> => {
          const info: FileInfo = { name: file.name, size: Number(file.size), modifiedAt: new Date(Number(file.mtimeNs / 1_000_000n)) };
          const sha256 = await checksums.lookup(bucket, file.name, file);
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
