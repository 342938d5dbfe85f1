/**
 * The one table of stable error codes. Each code has a fixed reply status
 * (4xx: the request's fault, 5xx: the server's), whether the server closes
 * the connection after sending it, and a default message. Codes never
 * change meaning; messages may be reworded. Tests assert codes.
 *
 * Any error reply sent before an upload's body has fully arrived also
 * closes the connection (the rest of the body can no longer be framed);
 * that is a rule of the upload exchange, not of a code.
 */
interface ErrorSpec {
  status: number;
  closes: boolean;
  message: string;
}

export const ERRORS = {
  UNKNOWN_COMMAND: { status: 400, closes: false, message: 'unknown command; commands are HELLO, EXIT, NEW_BUCKET, LIST_BUCKET, DELETE_BUCKET, UPLOAD_FILE, LIST_FILE, DOWNLOAD_FILE, DELETE_FILE, LOGIN, LOGIN_PROOF, BUCKET_INFO, GRANT, RESUME_UPLOAD, LIST_UPLOADS, ABORT_UPLOAD' },
  SPACES_NOT_ALLOWED: { status: 400, closes: false, message: 'a request has no spaces; encode a space in a field as %20' },
  WRONG_FIELD_COUNT: { status: 400, closes: false, message: 'wrong number of fields for this command' },
  BAD_ENCODING: { status: 400, closes: false, message: 'a field is not valid percent-encoded UTF-8' },
  BAD_FIELD: { status: 400, closes: false, message: 'a field has an invalid value' },
  LINE_TOO_LONG: { status: 400, closes: true, message: 'line too long' },
  INVALID_BUCKET_NAME: { status: 400, closes: false, message: 'bucket names have 3-63 characters: lowercase letters, digits, "." and "-", starting and ending with a letter or digit, with no ".." and not shaped like an IP address' },
  INVALID_FILE_NAME: { status: 400, closes: false, message: 'file names are up to 1024 bytes of UTF-8 without NUL or control characters; "/" separates folders, and each part is 1-255 bytes, not empty, "." or ".."' },
  INVALID_USER_NAME: { status: 400, closes: false, message: 'user names are 1-64 characters: letters, digits, ".", "_", "@" and "-", and not "anonymous"' },
  BAD_TRAILER: { status: 400, closes: true, message: 'expected the SHA-256 trailer line after the upload body' },
  INCOMPLETE_BODY: { status: 400, closes: true, message: 'the connection ended before the declared bytes arrived' },
  UNSUPPORTED_MECHANISM: { status: 400, closes: false, message: 'unsupported login mechanism; this server offers SCRAM-SHA-256' },
  LOGIN_NOT_STARTED: { status: 400, closes: false, message: 'LOGIN_PROOF comes after LOGIN' },
  AUTH_REQUIRED: { status: 401, closes: false, message: 'log in first' },
  AUTH_FAILED: { status: 401, closes: false, message: 'login failed' },
  AUTH_TIMEOUT: { status: 401, closes: true, message: 'no login in time; closing' },
  FORBIDDEN: { status: 403, closes: false, message: 'not allowed' },
  NO_SUCH_BUCKET: { status: 404, closes: false, message: 'no such bucket' },
  NO_SUCH_FILE: { status: 404, closes: false, message: 'no such file' },
  NO_SUCH_USER: { status: 404, closes: false, message: 'no such user' },
  NO_SUCH_UPLOAD: { status: 404, closes: false, message: 'no unfinished upload has that id (it may have been committed, aborted or expired)' },
  REQUEST_TIMEOUT: { status: 408, closes: true, message: 'the request line did not arrive in time; closing' },
  TOO_SLOW: { status: 408, closes: true, message: 'the transfer is slower than this server accepts; closing' },
  IDLE_TIMEOUT: { status: 408, closes: true, message: 'connection idle for too long; closing' },
  BUCKET_EXISTS: { status: 409, closes: false, message: 'bucket already exists' },
  BUCKET_NOT_EMPTY: { status: 409, closes: false, message: 'bucket is not empty' },
  PATH_CONFLICT: { status: 409, closes: false, message: 'a file stands where the name needs a folder, or a folder where it needs a file' },
  USER_EXISTS: { status: 409, closes: false, message: 'user already exists' },
  UPLOAD_BUSY: { status: 409, closes: false, message: 'another connection is sending this upload now' },
  QUOTA_EXCEEDED: { status: 413, closes: false, message: "the upload would exceed the bucket's quota" },
  TOO_LARGE: { status: 413, closes: false, message: 'file is larger than this server accepts' },
  BAD_OFFSET: { status: 416, closes: false, message: 'the offset is past what the server holds' },
  CHECKSUM_MISMATCH: { status: 422, closes: false, message: 'the SHA-256 of the received bytes does not match; nothing was stored' },
  INTERNAL: { status: 500, closes: false, message: 'internal server error' },
  CORRUPT_FILE: { status: 500, closes: false, message: 'the stored file no longer matches its recorded SHA-256' },
  STORAGE_FAILED: { status: 500, closes: false, message: 'the server could not complete the storage operation' },
  TOO_MANY_CONNECTIONS: { status: 503, closes: true, message: 'too many connections; try again later' },
  SHUTTING_DOWN: { status: 503, closes: true, message: 'server is shutting down' },
  NO_SPACE: { status: 507, closes: false, message: 'the server is out of disk space' },
  // TLS on the wire (docs/PROTOCOL.md, "TLS"): the client and server disagree about it.
  TLS_REQUIRED: { status: 400, closes: true, message: 'this server speaks TLS only; connect with TLS (bucket --tls)' },
  TLS_NOT_AVAILABLE: { status: 400, closes: true, message: 'this server does not speak TLS; connect without it' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * A code as read from the wire: one of ours, or one a newer server knows
 * and this build does not (carried as it came, never turned into another).
 */
export type AnyErrorCode = ErrorCode | (string & {});

export function isErrorCode(value: string): value is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERRORS, value);
}

/** Whether the server closes the connection after this code; false for codes this build does not know. */
export function closesConnection(code: AnyErrorCode): boolean {
  return isErrorCode(code) && ERRORS[code].closes;
}

/**
 * An error that carries a stable code, raised by storage and handlers and
 * sent to the client as one reply line, and raised again by the client
 * library from that line. `details` are extra reply fields (e.g. the file
 * count of a non-empty bucket).
 */
export class BucketError extends Error {
  readonly code: AnyErrorCode;
  readonly status: number;
  readonly details: readonly string[];

  constructor(code: ErrorCode, message?: string, details?: readonly string[]);
  /** An error as a reply carried it: any code, with the reply's status. */
  constructor(code: AnyErrorCode, message: string, details: readonly string[], status: number);
  constructor(code: AnyErrorCode, message?: string, details: readonly string[] = [], status?: number) {
    const known = isErrorCode(code) ? ERRORS[code] : undefined;
    super(message || known?.message || `${code} (status ${status ?? 500})`);
    this.name = 'BucketError';
    this.code = code;
    this.status = status ?? known?.status ?? 500;
    this.details = details;
  }

  /**
   * True when the server closes the connection after this code, as this
   * build knows the codes; false for a code it does not know (the next
   * call then finds out from the connection itself).
   */
  get closesConnection(): boolean {
    return closesConnection(this.code);
  }
}
