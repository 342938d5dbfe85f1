/**
 * One bucketd per ROOT. A server that opens ROOT clears what an earlier run
 * left in its bookkeeping folder (.bucketd/tmp and .bucketd/trash); with a
 * server still running there, that would take files from under its
 * uploads and removals in flight. So bucketd locks ROOT/.bucketd/server.lock
 * with flock(2) before it clears anything, and a second server stops with
 * a line naming the first.
 *
 * Node has no file locks, but a flock belongs to the open file, not to the
 * process that took it: bucketd opens the file itself, and flock(1)
 * (util-linux, in every Debian; BusyBox's will do) locks it through a copy
 * of that descriptor and exits. The lock then lasts as long as bucketd's
 * own descriptor: until it exits, however it exits (kill -9 included),
 * when the kernel lets it go. Nothing is ever judged stale, so two servers
 * starting at once cannot both win. Only where flock(1) is missing does
 * the server start without the lock, and says so; any other failure to
 * lock stops it.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, existsSync, fstatSync, ftruncateSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import path from 'node:path';
import { errnoOf, fileErrorReason } from '../util/file-errors.js';

export const LOCK_FILE = 'server.lock';

// A server that has just ended lets its lock go as it exits; one started
// at the same moment (a restart) tries for this long.
const PATIENCE_MS = 3000;
const RETRY_EVERY_MS = 100;

/** ROOT is served by another bucketd. */
export class RootHeldError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RootHeldError';
  }
}

export interface RootHold {
  /** Lets the lock go now (it goes anyway when this process ends). */
  release(): void;
}

/**
 * Locks `bookkeepingDir`/server.lock for as long as this process lives.
 * Throws RootHeldError when another process holds it, and an Error saying
 * why when it cannot be locked; without flock(1), tells `warn` and goes on.
 */
export async function holdRoot(bookkeepingDir: string, warn: (message: string) => void): Promise<RootHold> {
  const file = path.join(bookkeepingDir, LOCK_FILE);
  const fd = openLockFile(file);
  try {
    const deadline = performance.now() + PATIENCE_MS;
    let outcome = await lock(fd);
    while (outcome === 'elsewhere' && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, RETRY_EVERY_MS));
      outcome = await lock(fd);
    }
    if (outcome === 'missing') {
      closeSync(fd);
      warn('cannot make sure no other bucketd serves this root: flock(1) is not installed (util-linux); make sure yourself');
      return { release: () => undefined };
    }
    if (outcome === 'elsewhere') throw new RootHeldError(`another bucketd serves it${holderOf(fd)}; one server per root (the lock: ${file})`);
    if (outcome !== 'locked') throw new Error(`cannot lock ${file}: ${outcome}`);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  // Who holds it, for the line a second server gives; the lock itself is the flock.
  try {
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
  } catch {
    // Opened read-only, or a full disk: the lock holds all the same (and a
    // pid left from an earlier holder is named only if it is a bucketd).
  }
  let open = true;
  return {
    release: () => {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/**
 * Opens (creating it) the lock file, never through a link (O_NOFOLLOW), never
 * waiting on a pipe put in its place (O_NONBLOCK), and only if it is a plain
 * file with no other name (a hard link could be a file elsewhere).
 */
function openLockFile(file: string): number {
  const flags = constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  let fd: number;
  try {
    try {
      fd = openSync(file, constants.O_RDWR | flags, 0o644);
    } catch (error) {
      // Left by a server of another user (an earlier run with sudo): a lock
      // needs only to read it.
      if (errnoOf(error) !== 'EACCES') throw error;
      fd = openSync(file, constants.O_RDONLY | flags);
    }
  } catch (error) {
    if (errnoOf(error) === 'EACCES') {
      // Never "remove it": that user's server may be serving ROOT now.
      throw new Error(`cannot open ${file}: permission denied (it belongs to another user, whose bucketd may serve this root); let this user read it, or stop that server`);
    }
    const reason = errnoOf(error) === 'ELOOP' ? 'it is a symbolic link' : fileErrorReason(error);
    throw new Error(`cannot open ${file}: ${reason}; if it is not bucketd's, remove it`);
  }
  const stats = fstatSync(fd);
  if (!stats.isFile() || stats.nlink !== 1) {
    closeSync(fd);
    throw new Error(`cannot open ${file}: it is not a plain file of its own; if it is not bucketd's, remove it`);
  }
  return fd;
}

/**
 * One try of flock(1) on descriptor 3, a copy of `fd`, without waiting (-n
 * and a descriptor: what util-linux and BusyBox both take): 'locked';
 * 'elsewhere' (exit 1, nothing said); 'missing' (no flock); or why it failed.
 */
function lock(fd: number): Promise<string> {
  const child = spawn('flock', ['-n', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
  return new Promise((resolve) => {
    let complaint = '';
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (complaint += text));
    child.on('error', (error) => resolve(errnoOf(error) === 'ENOENT' ? 'missing' : error.message));
    child.on('close', (code, signal) => {
      if (code === 0) resolve('locked');
      else if (code === 1 && complaint.trim() === '') resolve('elsewhere');
      else resolve(complaint.trim().split('\n')[0] || `flock ended with ${signal ?? `code ${code}`}`);
    });
  });
}

/** " (pid N)" when the lock file names a process that is alive, else nothing. */
function holderOf(fd: number): string {
  let pid: number;
  try {
    const text = Buffer.alloc(32);
    pid = Number(text.subarray(0, readSync(fd, text, 0, text.length, 0)).toString().trim());
  } catch {
    return '';
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return '';
  try {
    process.kill(pid, 0); // only asks: throws ESRCH when there is no such process
  } catch (error) {
    if (errnoOf(error) !== 'EPERM') return ''; // EPERM: there is, another user's
  }
  // A pid left by an earlier holder may be some other program's by now.
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('bucketd')) return '';
  } catch (error) {
    if (errnoOf(error) !== 'ENOENT' || existsSync('/proc/self')) return ''; // no /proc at all: named as it is
  }
  return ` (pid ${pid})`;
}
