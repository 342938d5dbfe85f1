/**
 * A lock between processes: a file made with O_EXCL semantics, holding the
 * owner's PID and the time it was taken. `bucketd user ...` and a running
 * server take it around each change of the access file. A lock whose owner
 * is dead, or that is older than `staleMs`, is broken: a crash cannot
 * leave the file locked for good.
 */
import { link, lstat, open, rename, unlink, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { errnoOf } from '../../storage/fs/os-errors.js';

export interface FileLockOptions {
  /** How long to wait for the lock before giving up (default 5 s). */
  timeoutMs?: number;
  /** A lock older than this is broken whoever holds it (default 30 s). */
  staleMs?: number;
  /** The pause between tries (default 20 ms, growing to 100 ms). */
  retryMs?: number;
}

/** The lock stayed held by a live process for the whole wait. */
export class LockTimeoutError extends Error {
  readonly holder: number | undefined;

  constructor(lockPath: string, holder: number | undefined) {
    super(`${lockPath} is held by ${holder === undefined ? 'another process' : `process ${holder}`}; try again in a moment`);
    this.name = 'LockTimeoutError';
    this.holder = holder;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `work` while holding the lock file at `lockPath`. */
export async function withFileLock<T>(lockPath: string, work: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const ino = await acquire(lockPath, options);
  try {
    return await work();
  } finally {
    await release(lockPath, ino);
  }
}

async function acquire(lockPath: string, options: FileLockOptions): Promise<bigint> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const staleMs = options.staleMs ?? 30_000;
  let pause = options.retryMs ?? 20;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ino = await tryCreate(lockPath);
    if (ino !== undefined) return ino;
    const holder = await inspect(lockPath);
    if (holder !== undefined && (holder.dead || Date.now() - holder.takenAt > staleMs)) {
      await breakLock(lockPath, holder.ino);
      continue;
    }
    if (Date.now() >= deadline) throw new LockTimeoutError(lockPath, holder?.pid);
    await sleep(pause);
    pause = Math.min(pause * 2, 100);
  }
}

/**
 * Writes the owner's PID beside the lock, then links it into place: link()
 * fails if the lock exists, and the lock is never seen without its content.
 */
async function tryCreate(lockPath: string): Promise<bigint | undefined> {
  const draft = `${lockPath}.${process.pid}.${randomBytes(6).toString('hex')}`;
  await writeFile(draft, `${process.pid}\n${Date.now()}\n`, { mode: 0o600, flag: constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW });
  try {
    await link(draft, lockPath);
    return (await lstat(lockPath, { bigint: true })).ino;
  } catch (error) {
    if (errnoOf(error) === 'EEXIST') return undefined;
    throw error;
  } finally {
    await unlink(draft).catch(() => undefined);
  }
}

interface Holder {
  ino: bigint;
  pid: number | undefined;
  takenAt: number;
  dead: boolean;
}

/** Who holds the lock; undefined if it is gone already. */
async function inspect(lockPath: string): Promise<Holder | undefined> {
  try {
    const stats = await lstat(lockPath, { bigint: true });
    if (!stats.isFile()) throw new Error(`${lockPath} is not a lock file (it is a symbolic link or a folder); remove it, and check who put it there`);
    let text = '';
    const handle = await open(lockPath, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      text = (await handle.readFile({ encoding: 'utf8' })).slice(0, 100);
    } finally {
      await handle.close();
    }
    const [pidText, timeText] = text.split('\n');
    const pid = /^[1-9][0-9]{0,9}$/.test(pidText ?? '') ? Number(pidText) : undefined;
    const written = /^[0-9]{1,16}$/.test(timeText ?? '') ? Number(timeText) : Number(stats.mtimeMs);
    return { ino: stats.ino, pid, takenAt: Math.min(written, Number(stats.mtimeMs)), dead: pid === undefined || !alive(pid) };
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoOf(error) !== 'ESRCH';
  }
}

/**
 * Moves the stale lock aside. If another process broke it first and took a
 * fresh lock meanwhile, what was moved is that fresh lock: it goes back.
 */
async function breakLock(lockPath: string, staleIno: bigint): Promise<void> {
  const aside = `${lockPath}.stale.${randomBytes(6).toString('hex')}`;
  try {
    await rename(lockPath, aside);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return;
    throw error;
  }
  try {
    const moved = await lstat(aside, { bigint: true });
    if (moved.ino !== staleIno) await link(aside, lockPath).catch(() => undefined);
  } finally {
    await unlink(aside).catch(() => undefined);
  }
}

async function release(lockPath: string, ino: bigint): Promise<void> {
  const stats = await lstat(lockPath, { bigint: true }).catch(() => undefined);
  // Ours, unless it was broken as stale and someone else holds it now.
  if (stats?.ino === ino) await unlink(lockPath).catch(() => undefined);
}
