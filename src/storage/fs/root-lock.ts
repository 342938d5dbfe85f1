/**
 * One server per ROOT. A store that opens ROOT writes who it is (pid, the
 * process's start time and the machine's boot id) to .bucketd/server.lock,
 * before it empties what an earlier run left in tmp/ and trash/ — which,
 * with a server still running there, would be that server's commits and
 * removals in flight. A store that finds the file written by a process
 * that still runs refuses ROOT; a file whose writer is gone (a crash, a
 * kill -9) is stale and taken over.
 *
 * The file lies in the bookkeeping folder, which only the server's user
 * can write: nobody else can hold a ROOT for it. Opens in one process
 * share the hold. It is a guard for one machine, as ROOT is meant to be
 * local: a process in another PID namespace (another container) or on
 * another machine cannot be seen running, and its file reads as stale.
 */
import { readFileSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { errnoOf } from './os-errors.js';

export const LOCK_FILE = 'server.lock';

/** Another running process serves this ROOT. */
export class RootBusyError extends Error {
  constructor(readonly pid: number) {
    super(`another bucketd (pid ${pid}) serves it; run one server per ROOT`);
    this.name = 'RootBusyError';
  }
}

interface Holder {
  pid: number;
  /** The process's start time in clock ticks since boot (/proc/PID/stat), where there is a /proc. */
  start: number | undefined;
  boot: string | undefined;
}

// This process's holds, by lock file: opens in one process share one.
const held = new Map<string, { count: number }>();

/** Holds ROOT for this process (bookkeeping folder `hiddenDir`, already checked to be a real folder); RootBusyError when another process does. */
export async function holdRoot(hiddenDir: string): Promise<() => Promise<void>> {
  const file = path.join(hiddenDir, LOCK_FILE);
  const mine = self();
  const shared = held.get(file);
  if (shared !== undefined) {
    shared.count++;
    return releaser(file, mine);
  }
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(mine)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      held.set(file, { count: 1 });
      return releaser(file, mine);
    } catch (error) {
      if (errnoOf(error) !== 'EEXIST' || attempt >= 2) throw error;
    }
    const holder = await readHolder(file);
    // This very process's file, left by an open whose hold has ended: not another server.
    if (holder !== undefined && holder.pid !== process.pid && runs(holder)) throw new RootBusyError(holder.pid);
    // Stale (or unreadable): taken over. Two servers starting at the same
    // instant over a stale file are told apart by O_EXCL above.
    await unlink(file).catch((error: unknown) => {
      if (errnoOf(error) !== 'ENOENT') throw error;
    });
  }
}

function releaser(file: string, mine: Holder): () => Promise<void> {
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    const shared = held.get(file);
    if (shared === undefined || --shared.count > 0) return;
    held.delete(file);
    // Only our own file: never one a later server wrote after ours was taken over.
    const holder = await readHolder(file);
    if (holder !== undefined && holder.pid === mine.pid && holder.start === mine.start && holder.boot === mine.boot) {
      await unlink(file).catch(() => undefined);
    }
  };
}

async function readHolder(file: string): Promise<Holder | undefined> {
  try {
    const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    let text: string;
    try {
      text = await readFile(handle, 'utf8');
    } finally {
      await handle.close();
    }
    const value = JSON.parse(text) as Partial<Holder>;
    if (typeof value.pid !== 'number' || !Number.isSafeInteger(value.pid) || value.pid <= 0) return undefined;
    return { pid: value.pid, start: typeof value.start === 'number' ? value.start : undefined, boot: typeof value.boot === 'string' ? value.boot : undefined };
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote `holder` still runs (and is that process, not a later one given its pid). */
function runs(holder: Holder): boolean {
  const mine = self();
  if (holder.boot !== mine.boot) return false; // written before the machine restarted
  if (mine.start !== undefined) {
    const start = startOf(holder.pid);
    return start !== undefined && start === holder.start;
  }
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return errnoOf(error) === 'EPERM';
  }
}

function self(): Holder {
  return { pid: process.pid, start: startOf(process.pid), boot: bootId() };
}

/** A live process's start time (field 22 of /proc/PID/stat), or undefined without /proc, without the process, or for one that has ended but not been reaped (a zombie). */
function startOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The name (field 2) is in parentheses and may hold spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    const start = Number(fields[19]);
    return Number.isFinite(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

let boot: string | undefined | null = null;
function bootId(): string | undefined {
  if (boot === null) {
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      boot = undefined;
    }
  }
  return boot;
}
