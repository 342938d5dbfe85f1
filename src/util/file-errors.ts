/**
 * Operating-system errors from file calls, in words a person can act on:
 * `cannot read --ca FILE: no such file`, not `ENOENT` or a stack trace.
 * Pure: it reads the error's code and nothing else.
 */

/** The error's system code (ENOENT, EACCES, ...), if it has one. */
export function errnoOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a folder',
  ENOTDIR: 'a parent is not a folder',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'the file is larger than the system allows',
  EIO: 'input/output error on the device',
  EROFS: 'the filesystem is read-only',
};

/**
 * Why a file call failed, in a few words. `meaning` says what a code means
 * where it failed, where that differs from the usual (EEXIST from making a
 * folder whose name a file holds: "it is not a folder"). A code without
 * words is shown as it is; an error without a code, by its message.
 */
export function fileErrorReason(error: unknown, meaning: Readonly<Record<string, string>> = {}): string {
  const code = errnoOf(error);
  if (code === undefined) return error instanceof Error ? error.message : String(error);
  return meaning[code] ?? REASONS[code] ?? code;
}
