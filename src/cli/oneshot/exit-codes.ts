/**
 * The exit codes of the one-shot verbs, so a script can tell outcomes
 * apart without reading messages. Each stable error code (the server's,
 * the client library's, the program's own) falls in one class.
 */
export const EXIT = {
  DONE: 0,
  FAILED: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  REFUSED: 4,
  CONFLICT: 5,
  CONNECTION: 6,
  INTEGRITY: 7,
} as const;

const CLASSES: ReadonlyArray<readonly [number, readonly string[]]> = [
  [EXIT.USAGE, ['USAGE', 'INVALID_BUCKET_NAME', 'INVALID_FILE_NAME', 'BAD_FIELD']],
  [EXIT.NOT_FOUND, ['NO_SUCH_BUCKET', 'NO_SUCH_FILE', 'NO_SUCH_USER', 'NO_SUCH_LOCAL_FILE', 'NO_SUCH_UPLOAD']],
  [EXIT.REFUSED, ['AUTH_REQUIRED', 'AUTH_FAILED', 'AUTH_TIMEOUT', 'FORBIDDEN', 'BAD_CREDENTIALS', 'SERVER_NOT_TRUSTED']],
  [EXIT.CONFLICT, ['BUCKET_EXISTS', 'BUCKET_NOT_EMPTY', 'PATH_CONFLICT', 'DESTINATION_EXISTS', 'LOCAL_PATH_CONFLICT', 'UPLOAD_BUSY']],
  [
    EXIT.CONNECTION,
    ['CONNECTION_REFUSED', 'CONNECT_TIMEOUT', 'CONNECTION_LOST', 'PROTOCOL_ERROR', 'TLS_UNTRUSTED', 'TLS_NOT_AVAILABLE', 'TLS_REQUIRED', 'SHUTTING_DOWN', 'IDLE_TIMEOUT', 'TOO_MANY_CONNECTIONS', 'REQUEST_TIMEOUT', 'TOO_SLOW'],
  ],
  [EXIT.INTEGRITY, ['CHECKSUM_MISMATCH', 'DOWNLOAD_CHECKSUM_MISMATCH', 'CORRUPT_FILE', 'SOURCE_CHANGED']],
];

const BY_CODE = new Map<string, number>(CLASSES.flatMap(([exit, codes]) => codes.map((code) => [code, exit] as const)));

/** The exit code for a failure with this stable code; 1 for any other. */
export function exitCodeOf(code: string): number {
  return BY_CODE.get(code) ?? EXIT.FAILED;
}

/** The exit code after several failures: theirs if they agree, else 1. */
export function exitCodeOfAll(codes: readonly string[]): number {
  const exits = new Set(codes.map(exitCodeOf));
  return exits.size === 1 ? [...exits][0]! : EXIT.FAILED;
}
