/**
 * Errors raised on the client's side. Errors the server reports arrive as
 * BucketError (with the server's stable code); these are the local ones.
 */
export const CLIENT_ERRORS = {
  CONNECTION_REFUSED: 'cannot connect to the server',
  CONNECT_TIMEOUT: 'the server did not answer in time',
  CONNECTION_LOST: 'the connection to the server was lost',
  PROTOCOL_ERROR: 'the server sent something this client does not understand',
  DOWNLOAD_CHECKSUM_MISMATCH: 'the downloaded bytes do not match the SHA-256 the server sent; nothing was kept',
  CANCELLED: 'cancelled',
  DESTINATION_EXISTS: 'the destination file already exists',
  LOCAL_FILE_ERROR: 'a local file could not be read or written',
  SOURCE_CHANGED: 'the local file changed size while it was being sent',
  TOO_LARGE_TO_HOLD: 'the file is larger than a download into memory may hold',
  TLS_UNTRUSTED: "the server's TLS certificate is not trusted, or not for this host",
  TLS_NOT_AVAILABLE: 'the server does not speak TLS',
  TLS_REQUIRED: 'the server speaks TLS only',
  BAD_CREDENTIALS: 'the user name or password cannot be used (empty, or characters SASLprep forbids)',
  SERVER_NOT_TRUSTED: "the server could not prove it knows this user's password: it may not be the server meant; the connection was closed",
} as const;

export type ClientErrorCode = keyof typeof CLIENT_ERRORS;

export class ClientError extends Error {
  readonly code: ClientErrorCode;
  /**
   * For a failed upload (protocol 4): the server's id of what it kept, for
   * RESUME_UPLOAD. Not on a CANCELLED upload: cancelling drops what the
   * server kept.
   */
  uploadId?: string;

  constructor(code: ClientErrorCode, message: string = CLIENT_ERRORS[code], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClientError';
    this.code = code;
  }
}
