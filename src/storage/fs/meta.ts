/**
 * Metadata calls on the way of every upload and download (lstat, fstat,
 * open, mkdir, rename, statfs, closing, reading and writing the small
 * bookkeeping records), made synchronously on the event loop, behind the
 * same promise-returning shape as node:fs/promises.
 *
 * Why: each asynchronous fs call is a round trip through libuv's thread
 * pool that costs 7-20 µs of CPU here (more under load), where the call
 * itself costs 1-2 µs; a small upload makes about twenty of them, so the
 * round trips were most of a small file's cost. These calls read or
 * change only the kernel's caches on a local filesystem. What waits for
 * the device — fsync, and bodies of any size — stays asynchronous. (A
 * root on a network filesystem that stalls stalls the server with it; the
 * README asks for a local filesystem.)
 */
import fs, { type BigIntStats, type Stats, type StatsFs } from 'node:fs';
import { fd } from '../../util/fd.js';

export async function lstat(target: string): Promise<Stats> {
  return fs.lstatSync(target);
}

/**
 * As lstat, but resolves undefined where nothing is (ENOENT) instead of
 * failing: a thrown error costs more than the call (it captures a stack),
 * and "not there yet" is the common answer for a new file's name.
 */
export async function lstatIfAny(target: string): Promise<Stats | undefined> {
  return fs.lstatSync(target, { throwIfNoEntry: false });
}

export async function lstatBig(target: string): Promise<BigIntStats> {
  return fs.lstatSync(target, { bigint: true });
}

/** Opens (or creates, as `flags` say) a file; resolves with its descriptor. */
export async function open(target: string, flags: number, mode?: number): Promise<number> {
  return fs.openSync(target, flags, mode);
}

export async function fstatBig(descriptor: number): Promise<BigIntStats> {
  return fs.fstatSync(descriptor, { bigint: true });
}

// Room for any bookkeeping record in one read; reused, since reads here are synchronous.
let smallFileBuffer = Buffer.allocUnsafe(16 * 1024);

/**
 * A small bookkeeping file's text (`flags` as for open, e.g. O_NOFOLLOW).
 * One read, where readFileSync makes two (the second to see the end): a
 * read of a regular file that returns less than asked has met its end.
 * A listing reads one of these per file.
 */
export async function readSmallFile(target: string, flags: number): Promise<string> {
  const descriptor = fs.openSync(target, flags);
  try {
    let length = 0;
    for (;;) {
      if (length === smallFileBuffer.length) smallFileBuffer = Buffer.concat([smallFileBuffer, Buffer.allocUnsafe(smallFileBuffer.length)]);
      const read = fs.readSync(descriptor, smallFileBuffer, length, smallFileBuffer.length - length, null);
      length += read;
      if (read === 0 || length < smallFileBuffer.length) return smallFileBuffer.toString('utf8', 0, length);
    }
  } finally {
    fs.closeSync(descriptor);
  }
}

export async function mkdir(target: string): Promise<void> {
  fs.mkdirSync(target);
}

export async function rename(from: string, to: string): Promise<void> {
  fs.renameSync(from, to);
}

export async function statfs(target: string): Promise<StatsFs> {
  return fs.statfsSync(target);
}

/** Writes a small new file whole (`flags` as for open); no fsync: for caches that may be lost. */
export async function writeSmallFile(target: string, data: string, flags: number): Promise<void> {
  const bytes = Buffer.from(data, 'utf8');
  const descriptor = fs.openSync(target, flags, 0o644);
  try {
    for (let written = 0; written < bytes.length; ) written += fs.writeSync(descriptor, bytes, written, bytes.length - written);
  } finally {
    fs.closeSync(descriptor);
  }
}

/**
 * fsyncs a folder, so that a rename into it or out of it survives a
 * crash. Group commit: callers that come while a sync of the same folder
 * is under way share the next one, which starts when it ends (the one
 * under way may have begun before their rename). So many uploads into one
 * folder cost a few fsyncs, and none is answered before its rename is
 * durable. Only the fsync itself waits for the device.
 */
export function syncDir(dir: string): Promise<void> {
  const running = dirSyncs.get(dir);
  if (running === undefined) return startDirSync(dir);
  running.next ??= running.done.then(
    () => startDirSync(dir),
    () => startDirSync(dir),
  );
  return running.next;
}

interface DirSync {
  done: Promise<void>;
  /** The sync that starts when this one ends, shared by whoever asked meanwhile. */
  next?: Promise<void>;
}

const dirSyncs = new Map<string, DirSync>();

function startDirSync(dir: string): Promise<void> {
  const sync: DirSync = { done: fsyncFolder(dir) };
  dirSyncs.set(dir, sync);
  const settle = (): void => {
    if (dirSyncs.get(dir) === sync) dirSyncs.delete(dir);
  };
  sync.done.then(settle, settle);
  return sync.done;
}

async function fsyncFolder(dir: string): Promise<void> {
  const descriptor = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    await fd.sync(descriptor);
  } finally {
    fs.closeSync(descriptor);
  }
}
