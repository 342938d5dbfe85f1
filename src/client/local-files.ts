/**
 * Putting a download in place on the local disk, and what a local failure
 * is called.
 */
import fs from 'node:fs';
import { stat } from 'node:fs/promises';
import { ClientError } from './errors.js';

/** A download's failure as the caller should see it: a destination that appeared meanwhile, or a local error. */
export function downloadFailure(error: unknown, finalPath: string): unknown {
  if (error instanceof Error && 'code' in error && error.code === 'EEXIST') {
    return new ClientError('DESTINATION_EXISTS', `${finalPath} already exists`);
  }
  return error instanceof ClientError || !isOsError(error) ? error : localError(`cannot write ${finalPath}`, error);
}

/**
 * Moves `from` to `to` unless `to` exists (EEXIST), even if it appeared
 * just now. Direct calls: local metadata, cheaper than thread-pool round
 * trips when many files land.
 */
export async function placeWithoutReplacing(from: string, to: string): Promise<void> {
  try {
    fs.linkSync(from, to); // atomic: fails rather than replaces
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? error.code : undefined;
    // Filesystems without hard links: check, then rename.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw error;
    if (fs.existsSync(to)) throw Object.assign(new Error(`${to} exists`), { code: 'EEXIST' });
    fs.renameSync(from, to);
    return;
  }
  fs.unlinkSync(from);
}

/** Whether something is at `filePath`. */
export async function exists(filePath: string): Promise<boolean> {
  return (await stat(filePath).catch(() => undefined)) !== undefined;
}

/** An error from a system call (it names the call). */
export function isOsError(error: unknown): boolean {
  return error instanceof Error && 'syscall' in error;
}

/** LOCAL_FILE_ERROR, naming the system's code. */
export function localError(message: string, error: unknown): ClientError {
  const reason = error instanceof Error && 'code' in error ? String(error.code) : String(error);
  return new ClientError('LOCAL_FILE_ERROR', `${message}: ${reason}`, { cause: error });
}
