/** What a command handler may do with its connection. */
import type { ReadResult } from '../net/frame-reader.js';
import type { ItemCodec, ReplyCodec } from '../protocol/messages.js';
import type { BufferLender, Listing, Storage } from '../storage/storage.js';
import type { Authority } from './auth/authority.js';
import type { QuotaKeeper } from './auth/quotas.js';
import type { Logger } from './logger.js';
import type { Guard } from './rate-guard.js';
import type { Session } from './session.js';
import type { UploadRegistry } from './uploads.js';

export interface Exchange {
  readonly storage: Storage;
  /** Who may do what; the session's login. */
  readonly authority: Authority;
  readonly quotas: QuotaKeeper;
  readonly session: Session;
  readonly logger: Logger;
  readonly maxFileSize: number;
  /** Unfinished uploads, server-wide: which are being fed, which wait, when they expire. */
  readonly staging: UploadRegistry;
  /** Uploads in flight, server-wide: what they received so far is staged, not yet stored. */
  readonly uploads: Set<{ readonly received: number }>;
  /** Download buffers from the server-wide budget, bound to this connection. */
  readonly buffers: BufferLender & { readonly available: boolean };
  /** Marks a download body going out: until it ends, failing means closing without a line. */
  bodyOut(on: boolean): void;
  /** Sends a typed reply. */
  reply<T>(codec: ReplyCodec<T>, value: T, message?: string): Promise<void>;
  /**
   * Takes a listing and sends it: its head with the count, then every item,
   * with backpressure. Listings taken at once are limited server-wide (each
   * holds a snapshot), and a reader that stops reading is held to the
   * minimum rate like a body.
   */
  list<T>(codec: ItemCodec<T>, take: () => Promise<Listing<T>>, message: (count: number) => string): Promise<void>;
  /** Sends the error reply for a failure: its code, or INTERNAL. */
  fail(error: unknown): Promise<void>;
  /**
   * Hands body bytes to the socket without waiting; resolves once they are
   * flushed, after which the caller may reuse the buffer.
   */
  sendBody(data: Buffer): Promise<void>;
  next(): Promise<ReadResult>;
  expectBody(size: number): void;
  /** Reads and drops the next `left` bytes of the body under way; 'close' if the peer stops sending first. */
  dropBody(left: number): Promise<Outcome>;
  /** Holds a body to the server's minimum rate until the guard is stopped; the server's own waits go in `guard.paused()`. */
  guardRate(): Guard;
  /** What the request is about, for its record. */
  describe(target: { bucket?: string; name?: string }): void;
}

/** After a command: keep serving, or close (after the reply was sent). */
export type Outcome = 'continue' | 'close';

/** Errors of the connection itself, which end it rather than get a reply. */
export class ConnectionGone extends Error {}
