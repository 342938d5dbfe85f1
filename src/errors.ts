/**
 * The one table of stable error codes. Each code has a fixed reply status
 * (4xx: the request's fault, 5xx: the server's) and a default message.
 * Codes never change meaning; messages may be reworded. Tests assert codes.
 */
export const ERRORS = {
  UNKNOWN_COMMAND: { status: 400, message: 'unknown command; commands are HELLO, EXIT, NEW_BUCKET, LIST_BUCKET, DELETE_BUCKET, UPLOAD_FILE, LIST_FILE, DOWNLOAD_FILE, DELETE_FILE' },
  SPACES_NOT_ALLOWED: { status: 400, message: 'a request has no spaces; encode a space in a field as %20' },
  WRONG_FIELD_COUNT: { status: 400, message: 'wrong number of fields for this command' },
  BAD_ENCODING: { status: 400, message: 'a field is not valid percent-encoded UTF-8' },
  BAD_FIELD: { status: 400, message: 'a field has an invalid value' },
  LINE_TOO_LONG: { status: 400, message: 'line too long' },
  INVALID_BUCKET_NAME: { status: 400, message: 'bucket names have 3-63 characters: lowercase letters, digits, "." and "-", starting and ending with a letter or digit, with no ".." and not shaped like an IP address' },
  INVALID_FILE_NAME: { status: 400, message: 'file names are 1-255 bytes of UTF-8 without "/", NUL or control characters, and not "." or ".."' },
  BAD_TRAILER: { status: 400, message: 'expected the SHA-256 trailer line after the upload body' },
  INCOMPLETE_BODY: { status: 400, message: 'the connection ended before the declared bytes arrived' },
  NO_SUCH_BUCKET: { status: 404, message: 'no such bucket' },
  NO_SUCH_FILE: { status: 404, message: 'no such file' },
  IDLE_TIMEOUT: { status: 408, message: 'connection idle for too long; closing' },
  BUCKET_EXISTS: { status: 409, message: 'bucket already exists' },
  BUCKET_NOT_EMPTY: { status: 409, message: 'bucket is not empty' },
  TOO_LARGE: { status: 413, message: 'file is larger than this server accepts' },
  CHECKSUM_MISMATCH: { status: 422, message: 'the SHA-256 of the received bytes does not match; nothing was stored' },
  INTERNAL: { status: 500, message: 'internal server error' },
  CORRUPT_FILE: { status: 500, message: 'the stored file no longer matches its recorded SHA-256' },
  STORAGE_FAILED: { status: 500, message: 'the server could not complete the storage operation' },
  TOO_MANY_CONNECTIONS: { status: 503, message: 'too many connections; try again later' },
  SHUTTING_DOWN: { status: 503, message: 'server is shutting down' },
  NO_SPACE: { status: 507, message: 'the server is out of disk space' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(value: string): value is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERRORS, value);
}

/**
 * An error that carries a stable code, raised by storage and handlers and
 * sent to the client as one reply line. `details` are extra reply fields
 * (e.g. the file count of a non-empty bucket).
 */
export class BucketError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: readonly string[];

  constructor(code: ErrorCode, message?: string, details: readonly string[] = []) {
    super(message ?? ERRORS[code].message);
    this.name = 'BucketError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = details;
  }
}
