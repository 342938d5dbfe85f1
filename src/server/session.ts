/**
 * What the server knows of one connection (a logged-in user will live here)
 * and of each request it served, and the hooks that see them: an access
 * log or metrics observe the end of every request; a permission check runs
 * before each is dispatched.
 */
import type { AnyErrorCode } from '../errors.js';
import type { Command, Request } from '../protocol/requests.js';

export interface Session {
  /** Unique within this server's run. */
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** `address:port`, IPv6 in brackets. */
  readonly peer: string;
  readonly connectedAt: Date;
  /** Requests served on this connection so far. */
  requests: number;
  /** The user logged in on this connection; undefined before a login (the anonymous user). */
  user?: string | undefined;
  /** What identified the user's password at login: a change or removal since logs the session out. */
  loginStamp?: string | undefined;
}

/** One request, as it ended. */
export interface RequestRecord {
  /** The command, or undefined when the line was not a valid request. */
  command: Command | undefined;
  bucket?: string;
  name?: string;
  /**
   * 'OK'; the error code the reply carried; or 'CONNECTION_LOST' when the
   * connection failed before the request's final reply (status then 0).
   */
  outcome: 'OK' | 'CONNECTION_LOST' | AnyErrorCode;
  /** Status of the final reply; 0 when the connection failed before one was sent. */
  status: number;
  /** Bytes read and written on the connection for this request, body included. */
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
}

/** Why a connection ended: the first cause wins. 'after-error': the server closed after an error reply that ends the exchange. */
export type CloseReason = 'exit' | 'peer-closed' | 'error' | 'idle-timeout' | 'request-timeout' | 'auth-timeout' | 'too-slow' | 'line-too-long' | 'after-error' | 'shutdown';

export interface ServerHooks {
  /**
   * Runs before a request is dispatched; throwing a BucketError refuses it
   * with that error (the request never reaches storage).
   */
  beforeRequest?(session: Session, request: Request): void | Promise<void>;
  onRequestEnd?(session: Session, record: RequestRecord): void;
  onConnectionOpen?(session: Session): void;
  onConnectionClose?(session: Session, reason: CloseReason): void;
  /** A connection turned away before it was served (too many, or shutting down). */
  onConnectionRefused?(address: string, code: 'TOO_MANY_CONNECTIONS' | 'SHUTTING_DOWN'): void;
}
