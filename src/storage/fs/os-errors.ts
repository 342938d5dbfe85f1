/** The one place where operating-system errors become store error codes. */
import { BucketError, type ErrorCode } from '../../errors.js';
import { errnoOf } from '../../util/file-errors.js';

export { errnoOf };

/**
 * Maps an fs error to a BucketError. `missing` says what ENOENT means at
 * the call site (a bucket or a file that is not there).
 */
export function fromOsError(error: unknown, missing: ErrorCode = 'STORAGE_FAILED', missingMessage?: string): BucketError {
  if (error instanceof BucketError) return error;
  switch (errnoOf(error)) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'ELOOP': // O_NOFOLLOW met a symlink: not a file of ours
      return new BucketError(missing, missingMessage);
    case 'ENOSPC':
    case 'EDQUOT':
      return new BucketError('NO_SPACE');
    case 'EEXIST':
      return new BucketError('BUCKET_EXISTS');
    case 'ENOTEMPTY':
      return new BucketError('BUCKET_NOT_EMPTY');
    case 'ENAMETOOLONG':
      return new BucketError('INVALID_FILE_NAME');
    default:
      return new BucketError('STORAGE_FAILED', `${ERROR_PREFIX}${errnoOf(error) ?? 'unknown error'}`);
  }
}

const ERROR_PREFIX = 'the server could not complete the storage operation: ';
