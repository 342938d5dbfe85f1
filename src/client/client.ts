/**
 * The typed client library: every protocol exchange of the `bucket` program
 * goes through here. One request at a time per connection (calls queue),
 * except small uploads sent at once (`put`), which are pipelined: each is
 * written as soon as the connection is free to write, and their replies
 * are read in order; bodies stream both ways with backpressure and
 * SHA-256 checks; listings
 * stream item by item. Replies are read through the protocol's typed
 * codecs, so the client and the server agree on every field.
 */
import { createHash, type Hash } from 'node:crypto';
import net from 'node:net';
import { Readable, type Writable } from 'node:stream';
import { BucketError } from '../errors.js';
import { FrameReader, type ReadResult } from '../net/frame-reader.js';
import { FrameDecoder, type Frame } from '../protocol/decoder.js';
import { DEFAULT_HOST, DEFAULT_PORT } from '../protocol/defaults.js';
import {
  BUCKET_CREATED,
  BUCKET_DELETED,
  BUCKET_INFO,
  GRANTED,
  BUCKET_ITEM,
  BYE,
  DOWNLOAD_DONE,
  DOWNLOAD_GO_AHEAD,
  errorOf,
  FILE_DELETED,
  FILE_ITEM,
  HELLO,
  LIST_ITEM,
  LIST_HEAD,
  LOGGED_IN,
  LOGIN_CONTINUE,
  RANGED_DOWNLOAD_GO_AHEAD,
  readTyped,
  readTypedItem,
  RESUME_GO_AHEAD,
  UnexpectedReply,
  UPLOAD_ABORTED,
  UPLOAD_GO_AHEAD,
  UPLOAD_ITEM,
  UPLOAD_STORED,
  type BucketEntry,
  type BucketInfo,
  type FileEntry,
  type FolderEntry,
  type HelloReply,
  type ListEntry,
  type ItemCodec,
  type RangedGoAhead,
  type ReplyCodec,
  type UploadAborted,
  type UploadEntry,
  type UploadStored,
} from '../protocol/messages.js';
import { parseItem, parseReply, type ReplyHead } from '../protocol/replies.js';
import { encodeRequest, encodeUploadTrailer, type GrantedPermission, type Request } from '../protocol/requests.js';
import { SCRAM_MECHANISM, ScramClient, ScramError } from '../protocol/scram.js';
import { FlowWindow } from '../util/flow.js';
import { writeChunk, writeWindowed } from '../util/streams.js';
import { ClientError } from './errors.js';
import type { HashMarks } from './hash-marks.js';
import { filterListing } from './list-fallback.js';
import { openSocket, tlsMismatchOf, type TlsOption } from './transport.js';

export interface ConnectOptions {
  host?: string;
  port?: number;
  /** Give up connecting after this long (default 10 s). */
  connectTimeoutMs?: number;
  /** Speak TLS: `true` verifies the server against the system CAs; see TlsOption. */
  tls?: TlsOption;
  /** Log in right after connecting (and again on every reconnect). */
  credentials?: Credentials;
}

export interface Credentials {
  user: string;
  password: string;
}

export type ServerHello = HelloReply;
export type RemoteBucket = BucketEntry;
export type RemoteFile = FileEntry;
/** In a listing with a delimiter: a folder, its name ending in "/". */
export type RemoteFolder = FolderEntry;
export type RemoteEntry = ListEntry;

/**
 * Which files a listing holds. Protocol 3 servers filter; from an older
 * server the client lists the whole bucket and filters it itself.
 */
export interface ListFilesOptions {
  /** Only names that start with this, e.g. `2026/` or `2026/tr`. */
  prefix?: string;
  /** "/": one level below the prefix; deeper names come once, as their folder. */
  delimiter?: '/';
}

export interface TransferResult {
  bucket: string;
  name: string;
  size: number;
  sha256: string;
}

export interface TransferOptions {
  /** Called as bytes move: (bytes so far, total). */
  onProgress?: (done: number, total: number) => void;
  /**
   * Aborting cancels the transfer. The connection it ran on is closed with
   * it; the client opens a fresh one for its next call.
   */
  signal?: AbortSignal;
  /** An upload's hash is marked here now and then, for a cheap resume (uploadFile does this). */
  hashMarks?: HashMarks;
  /**
   * An upload's whole-file SHA-256, computed apart from the bytes sent
   * (uploadFile hashes a large file on a worker thread): the upload then
   * hashes nothing itself and sends this in its trailer. Bytes sent that
   * differ from those hashed fail the server's check, and nothing is stored.
   */
  wholeSha256?: () => Promise<string>;
}

export interface UploadOptions extends TransferOptions {
  /**
   * Called with the server's id for this upload (protocol 4), before any
   * body byte is sent: with it, RESUME_UPLOAD can go on after a broken
   * connection. An error raised after this carries the id as `uploadId`.
   */
  onUploadId?: (uploadId: string) => void | Promise<void>;
}

/** An unfinished upload the server holds (LIST_UPLOADS). */
export type RemoteUpload = UploadEntry;
export type AbortedUpload = UploadAborted;

/** Where a resumed upload goes on: the server holds `offset` of `size` bytes. */
export interface ResumePoint {
  uploadId: string;
  name: string;
  offset: number;
  size: number;
}

/** What a resumed upload sends: the bytes from the offset on, and the hash of those before it. */
export interface ResumeSource {
  source: Readable | AsyncIterable<Uint8Array>;
  /** A SHA-256 already fed the file's first `offset` bytes; the client feeds it the rest. */
  prefixHash: Hash;
}

export interface ResumeOptions extends TransferOptions {
  /** Resume from here rather than from all the server holds (at most that much). */
  offset?: number;
}

/** What a ranged download's go-ahead says, before any byte arrives. */
export type DownloadStart = RangedGoAhead;

export interface DownloadOptions extends TransferOptions {
  /**
   * Download from this byte on (protocol 4). The result then carries the
   * whole file's SHA-256 as recorded (`sha256`, empty if unknown) and the
   * range's own (`rangeSha256`, checked here); the caller checks the whole.
   */
  offset?: number;
}

export interface RangedTransferResult extends TransferResult {
  offset: number;
  /** The SHA-256 of the bytes from `offset` on, as sent and checked. */
  rangeSha256: string;
}

/** A download's destination, or a function that opens one once the go-ahead is in (and may refuse by throwing). */
export type DownloadDestination = Writable | ((start: DownloadStart) => Writable | Promise<Writable>);

// What get() holds in memory at most, unless told otherwise.
const GET_MAX_BYTES = 16 * 1024 * 1024;

// Upload bytes handed to the socket but not yet flushed, at most.
const BODY_IN_FLIGHT_BYTES = 4 * 1024 * 1024;

// How long a failed upload waits for the server's reason.
const LATE_REPLY_MS = 1000;
// A cancelled upload's abort is tried this many times, this far apart, while the server still counts it busy.
const ABANDON_ATTEMPTS = 10;
const ABANDON_PAUSE_MS = 100;

/** The socket and reader of one connection; a client may open several in turn. */
interface Link {
  socket: net.Socket;
  reader: FrameReader;
  closed: boolean;
  /** A read started while idle, to catch a notice the server sends unasked. */
  lookout?: Promise<ReadResult>;
}

export class BucketClient {
  readonly host: string;
  readonly port: number;
  readonly #connectTimeoutMs: number;
  readonly #tls: TlsOption | undefined;
  #link: Link;
  #queue: Promise<unknown> = Promise.resolve();
  #busy = false;
  /** Set when a cancelled transfer closed the connection: the next call reconnects. */
  #reconnect = false;
  /** Set once the server said it closes (EXIT, a notice) or the connection died. */
  #endedBy: BucketError | ClientError | undefined;
  #noticeListeners = new Set<(notice: BucketError) => void>();
  #credentials: Credentials | undefined;
  #user: string | undefined;
  /** The protocol version the server's HELLO gave, once asked. */
  #protocol: number | undefined;
  /** Replies still to come for uploads sent at once (put), read in order along this chain. */
  #pendingReplies = 0;
  #asking: Promise<number> | undefined;
  #replies: Promise<unknown> = Promise.resolve();

  private constructor(socket: net.Socket, host: string, port: number, connectTimeoutMs: number, tls: TlsOption | undefined) {
    this.host = host;
    this.port = port;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#tls = tls;
    this.#link = this.#attach(socket);
  }

  static async connect(options: ConnectOptions = {}): Promise<BucketClient> {
    const host = options.host ?? DEFAULT_HOST;
    const port = options.port ?? DEFAULT_PORT;
    const timeout = options.connectTimeoutMs ?? 10_000;
    const client = new BucketClient(await openSocket({ host, port, timeoutMs: timeout, tls: options.tls }), host, port, timeout, options.tls);
    if (options.credentials) {
      try {
        await client.login(options.credentials.user, options.credentials.password);
      } catch (error) {
        client.close();
        throw error;
      }
    }
    return client;
  }

  /** The user logged in on this connection, if any. */
  get user(): string | undefined {
    return this.#user;
  }

  /**
   * Logs in with SCRAM-SHA-256: the password never leaves this process, and
   * the server must prove it knows the user's verifier, or the connection
   * is closed (SERVER_NOT_TRUSTED). A wrong password or unknown user is
   * BucketError AUTH_FAILED. The client logs in again by itself whenever it
   * opens a fresh connection (after a cancelled transfer).
   */
  login(user: string, password: string): Promise<{ user: string }> {
    return this.#exclusive(async () => {
      const result = await this.#loginNow({ user, password });
      this.#credentials = { user, password };
      return result;
    });
  }

  async #loginNow(credentials: Credentials): Promise<{ user: string }> {
    let scram: ScramClient;
    try {
      scram = new ScramClient(credentials.user, credentials.password);
    } catch (error) {
      throw new ClientError('BAD_CREDENTIALS', error instanceof ScramError ? `cannot log in: ${error.message}` : undefined, { cause: error });
    }
    this.#user = undefined;
    const challenge = await this.#request({ command: 'LOGIN', mechanism: SCRAM_MECHANISM, message: scram.firstMessage() }, LOGIN_CONTINUE);
    let proof: string;
    try {
      proof = scram.finalMessage(challenge.message);
    } catch (error) {
      this.#dropLink();
      throw new ClientError('SERVER_NOT_TRUSTED', `the server's login challenge cannot be trusted: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const done = await this.#request({ command: 'LOGIN_PROOF', message: proof }, LOGGED_IN);
    try {
      scram.verifyServer(done.message);
    } catch (error) {
      this.#dropLink();
      throw new ClientError('SERVER_NOT_TRUSTED', undefined, { cause: error });
    }
    this.#user = done.user;
    return { user: done.user };
  }

  /** True once the connection is gone (EXIT, the server leaving) and a call would fail. */
  get closed(): boolean {
    return !this.#reconnect && (this.#link.closed || this.#link.socket.destroyed);
  }

  /**
   * Calls `listener` when the server sends a notice unasked while this
   * client is idle — it is shutting down, or closed an idle connection.
   * The connection is closed after a notice. Returns a function that stops it.
   */
  onNotice(listener: (notice: BucketError) => void): () => void {
    this.#noticeListeners.add(listener);
    return () => this.#noticeListeners.delete(listener);
  }

  async hello(): Promise<ServerHello> {
    const hello = await this.#exclusive(() => this.#request({ command: 'HELLO' }, HELLO));
    this.#protocol = hello.protocol;
    return hello;
  }

  /** The server's protocol version, from one HELLO per connection, shared by calls that ask at once. */
  async #serverProtocol(): Promise<number> {
    if (this.#protocol !== undefined) return this.#protocol;
    this.#asking ??= this.hello()
      .then((hello) => hello.protocol)
      .finally(() => {
        this.#asking = undefined;
      });
    return this.#asking;
  }

  createBucket(bucket: string): Promise<RemoteBucket> {
    return this.#exclusive(() => this.#request({ command: 'NEW_BUCKET', bucket }, BUCKET_CREATED));
  }

  /** Every bucket, in name order. For very many, iterateBuckets() streams them. */
  async listBuckets(): Promise<RemoteBucket[]> {
    return collect(this.iterateBuckets());
  }

  /** Streams the bucket list; the connection is busy until the iteration ends. */
  iterateBuckets(): AsyncIterable<RemoteBucket> {
    return this.#iterateList({ command: 'LIST_BUCKET' }, BUCKET_ITEM);
  }

  /** Deletes a bucket; a non-empty one only with `force`. */
  async deleteBucket(bucket: string, options: { force?: boolean } = {}): Promise<{ deletedFiles: number }> {
    const { deletedFiles } = await this.#exclusive(() => this.#request({ command: 'DELETE_BUCKET', bucket, force: options.force === true }, BUCKET_DELETED));
    return { deletedFiles };
  }

  /**
   * Every file of a bucket (or those under `prefix`), in name order; with
   * the delimiter "/", one level: files and folders. For very many,
   * iterateFiles() streams them.
   */
  async listFiles(bucket: string, options?: ListFilesOptions & { delimiter?: undefined }): Promise<RemoteFile[]>;
  async listFiles(bucket: string, options: ListFilesOptions): Promise<RemoteEntry[]>;
  async listFiles(bucket: string, options: ListFilesOptions = {}): Promise<RemoteEntry[]> {
    return collect(this.iterateFiles(bucket, options));
  }

  /**
   * Streams a bucket's files in bounded memory. The connection is busy
   * until the iteration ends; stopping early reads and drops the rest.
   */
  iterateFiles(bucket: string, options?: ListFilesOptions & { delimiter?: undefined }): AsyncIterable<RemoteFile>;
  iterateFiles(bucket: string, options: ListFilesOptions): AsyncIterable<RemoteEntry>;
  iterateFiles(bucket: string, options: ListFilesOptions = {}): AsyncIterable<RemoteEntry> {
    const whole: Request = { command: 'LIST_FILE', bucket };
    // The whole bucket is the request every protocol version knows.
    if ((options.prefix ?? '') === '' && options.delimiter === undefined) return this.#iterateList(whole, FILE_ITEM);
    const client = this;
    return {
      async *[Symbol.asyncIterator]() {
        // Until protocol 3, a prefix or delimiter is WRONG_FIELD_COUNT: filter here instead.
        if ((await client.#serverProtocol()) < 3) {
          yield* filterListing(client.#iterateList(whole, FILE_ITEM), options.prefix ?? '', options.delimiter);
          return;
        }
        const request: Request = { ...whole, prefix: options.prefix ?? '' };
        if (options.delimiter !== undefined) request.delimiter = options.delimiter;
        yield* options.delimiter === undefined ? client.#iterateList(request, FILE_ITEM) : client.#iterateList(request, LIST_ITEM);
      },
    };
  }

  /** What a bucket holds (files, bytes) and its quota, if it has one. */
  bucketInfo(bucket: string): Promise<BucketInfo> {
    return this.#exclusive(() => this.#request({ command: 'BUCKET_INFO', bucket }, BUCKET_INFO));
  }

  /**
   * Gives `user` (a user name, or `anonymous` for connections that have not
   * logged in) a permission on a bucket this user is admin of; `none` takes
   * the user's grant back. Protocol 2 servers with users only.
   */
  async grant(bucket: string, user: string, permission: GrantedPermission): Promise<void> {
    await this.#exclusive(() => this.#request({ command: 'GRANT', bucket, user, permission }, GRANTED));
  }

  /** Deletes a file; resolves with the name as stored. */
  async deleteFile(bucket: string, name: string): Promise<{ name: string }> {
    const deleted = await this.#exclusive(() => this.#request({ command: 'DELETE_FILE', bucket, name }, FILE_DELETED));
    return { name: deleted.name };
  }

  /**
   * Stores `data` in `bucket` as `name`, sent at once: from protocol 5 the
   * body goes right after the request, with its SHA-256, and the server
   * answers once (to an older server it goes the ask-first way, as
   * upload() does). Calls made without waiting for each other are
   * pipelined on the connection, their replies read in order; any other
   * call waits until they are answered. For small files: the whole body
   * is in memory, and nothing is kept for a resume if the connection
   * breaks, since sending it again costs as little.
   */
  async put(bucket: string, name: string, data: Uint8Array, options: { sha256?: string } = {}): Promise<TransferResult> {
    if ((await this.#serverProtocol()) < 5) return this.upload(bucket, name, Readable.from([data]), data.length);
    const sha256 = options.sha256 ?? createHash('sha256').update(data).digest('hex');
    const wire = Buffer.concat([encodeOrRefuse({ command: 'UPLOAD_FILE', bucket, name, size: data.length, sha256 }), data]);
    const release = await this.#acquire(true);
    const link = this.#link;
    let reply: Promise<ReplyHead>;
    try {
      this.#pendingReplies++;
      // In line behind the replies of the puts written before this one.
      reply = this.#replies.then(() => this.#readReply(link));
      this.#replies = reply.catch(() => undefined);
      try {
        await writeChunk(link.socket, wire);
      } catch (error) {
        throw this.#lost(error, link);
      }
    } finally {
      release();
    }
    try {
      const stored = this.#typed(UPLOAD_STORED, await reply, link);
      return { bucket: stored.bucket, name: stored.name, size: stored.size, sha256: stored.sha256 };
    } finally {
      this.#pendingReplies--;
      if (this.#pendingReplies === 0) this.#watchWhileIdle();
    }
  }

  /**
   * A file's bytes, whole, in memory, checked against the server's
   * SHA-256: for small files. Calls made without waiting for each other
   * are pipelined as put's are, their replies read in order. A file
   * larger than `maxBytes` (default 16 MiB) is TOO_LARGE_TO_HOLD, and the
   * connection is dropped rather than read to its end (the next call
   * opens another).
   */
  async get(bucket: string, name: string, options: { maxBytes?: number } = {}): Promise<TransferResult & { data: Buffer }> {
    const maxBytes = options.maxBytes ?? GET_MAX_BYTES;
    const release = await this.#acquire(true);
    const link = this.#link;
    let reply: Promise<TransferResult & { data: Buffer }>;
    try {
      this.#pendingReplies++;
      reply = this.#replies.then(() => this.#readWhole(link, bucket, maxBytes));
      this.#replies = reply.catch(() => undefined);
      try {
        await writeChunk(link.socket, encodeRequest({ command: 'DOWNLOAD_FILE', bucket, name }));
      } catch (error) {
        throw this.#lost(error, link);
      }
    } finally {
      release();
    }
    try {
      return await reply;
    } finally {
      this.#pendingReplies--;
      if (this.#pendingReplies === 0) this.#watchWhileIdle();
    }
  }

  /** The go-ahead, body and status line of a download on `link`, the body gathered. */
  async #readWhole(link: Link, bucket: string, maxBytes: number): Promise<TransferResult & { data: Buffer }> {
    const goAhead = this.#typed(DOWNLOAD_GO_AHEAD, await this.#readReply(link), link);
    if (goAhead.size > maxBytes) {
      link.closed = true;
      link.socket.destroy();
      if (link === this.#link) this.#reconnect = true;
      throw new ClientError('TOO_LARGE_TO_HOLD', `"${goAhead.name}" has ${goAhead.size} bytes; a download into memory holds at most ${maxBytes}`);
    }
    link.reader.decoder.expectBody(goAhead.size);
    const data = Buffer.allocUnsafe(goAhead.size);
    const hash = createHash('sha256');
    for (let filled = 0; ; ) {
      const frame = await this.#nextFrame(link);
      if (frame.kind === 'body') {
        frame.chunk.copy(data, filled);
        filled += frame.chunk.length;
        hash.update(frame.chunk);
        continue;
      }
      if (frame.kind !== 'trailer') throw this.#protocolError('the download status line', link);
      const done = this.#typed(DOWNLOAD_DONE, this.#parseHead(frame.line, link), link);
      const sha256 = hash.digest('hex');
      if (done.sha256 !== sha256) throw new ClientError('DOWNLOAD_CHECKSUM_MISMATCH');
      return { bucket, name: goAhead.name, size: goAhead.size, sha256, data };
    }
  }

  /**
   * After the connection was lost (CONNECTION_LOST), lets the next call
   * open a fresh one, as reconnect() does, but never closes a connection
   * that is alive: several calls that failed together may each ask.
   */
  revive(): void {
    if (this.#link.closed || this.#link.socket.destroyed) this.#reconnect = true;
  }

  /**
   * Streams exactly `size` bytes from `source` into `bucket` as `name`. The
   * server checks the SHA-256 computed here as the bytes go; it stores
   * nothing unless every byte arrived intact.
   */
  async upload(bucket: string, name: string, source: Readable | AsyncIterable<Uint8Array>, size: number, options: UploadOptions = {}): Promise<TransferResult> {
    const started: { uploadId?: string } = {};
    try {
      return await this.#exclusive(() => this.#cancellable(options.signal, () => this.#upload(bucket, name, source, size, options, started)));
    } catch (error) {
      // Cancelled on purpose: what the server staged for a resume is not
      // wanted, and the error names no id, as there is nothing to resume.
      if (error instanceof ClientError && error.code === 'CANCELLED' && started.uploadId !== undefined) {
        await this.#abandon(started.uploadId);
        throw error;
      }
      throw withUploadId(error, started.uploadId);
    }
  }

  /**
   * Aborts a staged upload on a fresh connection, as best it can: the
   * server may take a moment to notice that the old connection, which fed
   * it, is gone (UPLOAD_BUSY meanwhile).
   */
  async #abandon(uploadId: string): Promise<void> {
    for (let attempt = 0; attempt < ABANDON_ATTEMPTS; attempt++) {
      try {
        await this.#exclusive(() => this.#request({ command: 'ABORT_UPLOAD', id: uploadId }, UPLOAD_ABORTED));
        return;
      } catch (error) {
        if (!(error instanceof BucketError && error.code === 'UPLOAD_BUSY')) return; // gone already, or out of reach: it expires
        await new Promise((resolve) => setTimeout(resolve, ABANDON_PAUSE_MS));
      }
    }
  }

  /**
   * Goes on with an unfinished upload (protocol 4) from what the server
   * holds (or `options.offset`, if less). `open` is given that point and
   * returns the bytes from it on and a SHA-256 already fed the bytes
   * before it: the server stores the file only if the whole file's hash
   * matches. NO_SUCH_UPLOAD: it was committed, aborted or expired;
   * UPLOAD_BUSY: another connection is sending it.
   */
  async resumeUpload(uploadId: string, open: (point: ResumePoint) => Promise<ResumeSource>, options: ResumeOptions = {}): Promise<TransferResult> {
    try {
      return await this.#exclusive(() => this.#cancellable(options.signal, () => this.#resume(uploadId, open, options)));
    } catch (error) {
      // Cancelled on purpose, as for upload(): the rest is not wanted either.
      if (error instanceof ClientError && error.code === 'CANCELLED') {
        await this.#abandon(uploadId);
        throw error;
      }
      throw withUploadId(error, uploadId);
    }
  }

  /** The unfinished uploads this user may resume or abort (of one bucket, if given), oldest first. Protocol 4. */
  async listUploads(bucket?: string): Promise<RemoteUpload[]> {
    // Before protocol 4 nothing unfinished is kept.
    if ((await this.#serverProtocol()) < 4) return [];
    return collect(this.#iterateList(bucket === undefined ? { command: 'LIST_UPLOADS' } : { command: 'LIST_UPLOADS', bucket }, UPLOAD_ITEM));
  }

  /** Drops an unfinished upload; resolves with the staged bytes released. Protocol 4. */
  abortUpload(uploadId: string): Promise<AbortedUpload> {
    return this.#exclusive(() => this.#request({ command: 'ABORT_UPLOAD', id: uploadId }, UPLOAD_ABORTED));
  }

  /**
   * Streams a file to `destination` (not ended). Resolves only when every
   * byte matched the server's SHA-256; on a mismatch it rejects, and what
   * was written must be thrown away (downloadFile does that for files).
   * With `offset` (protocol 4), only the bytes from there on come, and the
   * caller checks the whole file against the result's `sha256`.
   * `destination` may be a function, called with the go-ahead (the file's
   * size and recorded SHA-256) before any byte arrives.
   */
  download(bucket: string, name: string, destination: DownloadDestination, options: DownloadOptions = {}): Promise<RangedTransferResult> {
    return this.#exclusive(() => this.#cancellable(options.signal, () => this.#download(bucket, name, destination, options)));
  }

  /** The server's protocol version (one HELLO per connection). */
  protocol(): Promise<number> {
    return this.#serverProtocol();
  }

  /**
   * Drops the current connection and opens a new one to the same server,
   * logging in again as before. Transfers that broke can then go on
   * (resumeUpload, download with an offset).
   */
  async reconnect(): Promise<void> {
    this.#dropLink();
    await this.#exclusive(() => Promise.resolve());
  }

  /**
   * Closes the current connection at once, as a network failure would: a
   * call in flight fails with CONNECTION_LOST, and the next call opens a
   * fresh connection (for a transfer that stopped moving, say).
   */
  dropConnection(): void {
    this.#dropLink();
  }

  /** Says goodbye and closes the connection. */
  async exit(): Promise<void> {
    if (this.closed || this.#reconnect) {
      this.close();
      return;
    }
    await this.#exclusive(() => this.#request({ command: 'EXIT' }, BYE)).catch(() => undefined);
    this.close();
  }

  /** Closes the connection at once. */
  close(): void {
    this.#reconnect = false;
    this.#link.closed = true;
    this.#link.socket.destroy();
  }

  async #upload(bucket: string, name: string, source: Readable | AsyncIterable<Uint8Array>, size: number, options: UploadOptions, started: { uploadId?: string }): Promise<TransferResult> {
    const goAhead = await this.#request({ command: 'UPLOAD_FILE', bucket, name, size }, UPLOAD_GO_AHEAD);
    const uploadId = goAhead.uploadId;
    if (uploadId !== undefined) started.uploadId = uploadId;
    if (uploadId !== undefined && options.onUploadId) {
      try {
        await options.onUploadId(uploadId);
      } catch (error) {
        // The server waits for a body that will not come: the stream is out of step.
        this.#dropLink();
        throw withUploadId(error, uploadId);
      }
    }
    const stored = await this.#sendBody(source, { size, offset: 0, hash: createHash('sha256'), uploadId }, options);
    return { bucket: stored.bucket, name: stored.name || goAhead.name, size: stored.size, sha256: stored.sha256 };
  }

  async #resume(uploadId: string, open: (point: ResumePoint) => Promise<ResumeSource>, options: ResumeOptions): Promise<TransferResult> {
    const request: Request = options.offset === undefined ? { command: 'RESUME_UPLOAD', id: uploadId } : { command: 'RESUME_UPLOAD', id: uploadId, offset: options.offset };
    const goAhead = await this.#request(request, RESUME_GO_AHEAD);
    let opened: ResumeSource;
    try {
      opened = await open({ uploadId, name: goAhead.name, offset: goAhead.offset, size: goAhead.size });
    } catch (error) {
      this.#dropLink();
      throw withUploadId(error, uploadId);
    }
    const stored = await this.#sendBody(opened.source, { size: goAhead.size, offset: goAhead.offset, hash: opened.prefixHash, uploadId }, options);
    return { bucket: stored.bucket, name: stored.name || goAhead.name, size: stored.size, sha256: stored.sha256 };
  }

  /**
   * Sends the body from `offset` to `size` after a go-ahead, then the
   * trailer with the whole file's SHA-256 (`hash` holds the bytes before
   * `offset` already), and reads the server's answer.
   */
  async #sendBody(
    source: Readable | AsyncIterable<Uint8Array>,
    body: { size: number; offset: number; hash: Hash; uploadId: string | undefined },
    options: TransferOptions,
  ): Promise<UploadStored> {
    const { size, offset, hash, uploadId } = body;
    const bodySize = size - offset;
    const link = this.#link;
    // The server may answer before the body is done (a disk that filled
    // up); watch for that while sending.
    const reply = this.#readReply();
    let early: ReplyHead | Error | undefined;
    reply.then(
      (head) => (early = head),
      (error: Error) => (early = error),
    );
    const window = new FlowWindow(BODY_IN_FLIGHT_BYTES);
    // A source that lends its buffers (a large file's reader) gets each back once the socket is done with it.
    const lender = lenderOf(source);
    let sent = 0;
    if (offset > 0) options.onProgress?.(offset, size);
    try {
      for await (const chunk of readSource(source, options.signal)) {
        if (early !== undefined) break;
        const bytes = chunk;
        sent += bytes.length;
        if (sent > bodySize) throw new ClientError('SOURCE_CHANGED');
        if (options.wholeSha256 === undefined) {
          hash.update(bytes);
          options.hashMarks?.offer(offset + sent, hash);
        }
        await writeWindowed(link.socket, bytes, window, lender && (() => lender.giveBack(bytes)));
        options.onProgress?.(offset + sent, size);
      }
      if (early === undefined) {
        if (sent !== bodySize) throw new ClientError('SOURCE_CHANGED', `the source gave ${offset + sent} bytes, not the ${size} declared`);
        const sha256 = options.wholeSha256 === undefined ? hash.digest('hex') : await options.wholeSha256();
        await writeChunk(link.socket, encodeUploadTrailer(sha256));
      }
    } catch (error) {
      // A send that failed because the server answered and closed (a full
      // disk, say): its answer, arriving a moment later, says why.
      if (early === undefined && !(error instanceof ClientError)) {
        await Promise.race([reply.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, LATE_REPLY_MS))]);
      }
      if (early === undefined || early instanceof Error) {
        // The stream can no longer be kept in step: drop the connection;
        // the server keeps what it received, for a resume.
        this.#dropLink();
        throw withUploadId(error instanceof ClientError ? error : new ClientError('CONNECTION_LOST', describe(error), { cause: error }), uploadId);
      }
    }
    let head: ReplyHead;
    try {
      head = await reply;
    } catch (error) {
      throw withUploadId(error, uploadId);
    }
    // Any answer before the end of the body is an error after which the
    // server closes the connection.
    if (sent < bodySize) {
      link.closed = true;
    }
    try {
      return this.#typed(UPLOAD_STORED, head);
    } catch (error) {
      throw withUploadId(error, uploadId);
    }
  }

  async #download(bucket: string, name: string, destination: DownloadDestination, options: DownloadOptions): Promise<RangedTransferResult> {
    const ranged = options.offset !== undefined;
    let start: DownloadStart;
    if (ranged) {
      start = await this.#request({ command: 'DOWNLOAD_FILE', bucket, name, offset: options.offset }, RANGED_DOWNLOAD_GO_AHEAD);
    } else {
      const goAhead = await this.#request({ command: 'DOWNLOAD_FILE', bucket, name }, DOWNLOAD_GO_AHEAD);
      start = { name: goAhead.name, count: goAhead.size, offset: 0, size: goAhead.size };
    }
    let out: Writable;
    try {
      out = typeof destination === 'function' ? await destination(start) : destination;
    } catch (error) {
      // The bytes are on their way and nowhere to go: drop the connection.
      this.#dropLink();
      throw error;
    }
    const { size, offset } = start;
    this.#link.reader.decoder.expectBody(start.count);
    const hash = createHash('sha256');
    let received = 0;
    options.onProgress?.(offset, size);
    for (;;) {
      const frame = await this.#nextFrame();
      if (frame.kind === 'body') {
        hash.update(frame.chunk);
        received += frame.chunk.length;
        try {
          await writeChunk(out, frame.chunk);
        } catch (error) {
          this.#dropLink();
          throw new ClientError('LOCAL_FILE_ERROR', `cannot write the download: ${describe(error)}`, { cause: error });
        }
        options.onProgress?.(offset + received, size);
        continue;
      }
      if (frame.kind !== 'trailer') throw this.#protocolError('the download status line');
      const done = this.#typed(DOWNLOAD_DONE, this.#parseHead(frame.line));
      const sha256 = hash.digest('hex');
      if (done.sha256 !== sha256) throw new ClientError('DOWNLOAD_CHECKSUM_MISMATCH');
      // Without an offset the bytes are the whole file; with one, the whole file's hash is as recorded.
      return { bucket, name: start.name, size, sha256: ranged ? (start.sha256 ?? '') : sha256, offset, rangeSha256: sha256 };
    }
  }

  /** A list reply, item by item, holding the connection until it is read to its end. */
  #iterateList<T>(request: Request, codec: ItemCodec<T>): AsyncIterable<T> {
    const client = this;
    return {
      async *[Symbol.asyncIterator]() {
        const release = await client.#acquire();
        let remaining = 0;
        try {
          remaining = (await client.#request(request, LIST_HEAD)).count;
          while (remaining > 0) {
            const item = await client.#readItem(codec);
            remaining--;
            yield item;
          }
        } finally {
          // Stopped early: read the rest, so the connection stays in step.
          try {
            while (remaining > 0 && !client.#link.closed) {
              await client.#nextFrame();
              remaining--;
            }
          } finally {
            release();
          }
        }
      },
    };
  }

  async #readItem<T>(codec: ItemCodec<T>): Promise<T> {
    const frame = await this.#nextFrame();
    if (frame.kind !== 'line') throw this.#protocolError(codec.name);
    const fields = parseItem(frame.line);
    if (!fields.ok) throw this.#protocolError(codec.name);
    try {
      return readTypedItem(codec, fields.value);
    } catch {
      throw this.#protocolError(codec.name);
    }
  }

  /** Runs `work` so that aborting `signal` cancels it by closing the connection. */
  async #cancellable<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
    if (!signal) return work();
    if (signal.aborted) throw new ClientError('CANCELLED');
    const onAbort = (): void => this.#dropLink();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await work();
    } catch (error) {
      throw signal.aborted ? new ClientError('CANCELLED') : error;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Runs one exchange at a time on this connection. */
  async #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const release = await this.#acquire();
    try {
      return await work();
    } finally {
      release();
    }
  }

  /**
   * Waits for the connection to be free and usable; returns the function
   * that frees it. Only a `pipelined` call (put) may go while replies to
   * earlier puts are still to come; any other waits for them.
   */
  async #acquire(pipelined = false): Promise<() => void> {
    let release!: () => void;
    const turn = new Promise<void>((resolve) => (release = resolve));
    const previous = this.#queue;
    this.#queue = previous.then(() => turn);
    await previous;
    if (!pipelined) await this.#replies;
    try {
      if (this.#reconnect) {
        this.#link = this.#attach(await openSocket({ host: this.host, port: this.port, timeoutMs: this.#connectTimeoutMs, tls: this.#tls }));
        this.#reconnect = false;
        this.#endedBy = undefined;
        this.#user = undefined;
        this.#protocol = undefined;
        if (this.#credentials) {
          try {
            await this.#loginNow(this.#credentials);
          } catch (error) {
            // Never go on unauthenticated as if logged in: the next call tries afresh.
            this.#dropLink();
            throw error;
          }
        }
      }
      if (this.#link.closed || this.#link.socket.destroyed) {
        throw this.#endedBy ?? new ClientError('CONNECTION_LOST', 'the connection is closed');
      }
    } catch (error) {
      release();
      throw error;
    }
    this.#busy = true;
    return () => {
      this.#busy = false;
      release();
      this.#watchWhileIdle();
    };
  }

  async #request<T>(request: Request, codec: ReplyCodec<T>): Promise<T> {
    const wire = encodeOrRefuse(request);
    try {
      await writeChunk(this.#link.socket, wire);
    } catch (error) {
      throw this.#lost(error);
    }
    return this.#typed(codec, await this.#readReply());
  }

  /** The reply as `codec` reads it; a server error as BucketError, noting whether it closed. */
  #typed<T>(codec: ReplyCodec<T>, head: ReplyHead, link: Link = this.#link): T {
    try {
      return readTyped(codec, head);
    } catch (error) {
      if (error instanceof BucketError) {
        const failure = tlsMismatchOf(error, this.host, this.port) ?? error;
        if (error.closesConnection) {
          link.closed = true;
          if (link === this.#link) this.#endedBy = failure;
        }
        throw failure;
      }
      if (error instanceof UnexpectedReply) throw this.#protocolError(codec.name, link);
      throw error;
    }
  }

  async #readReply(link: Link = this.#link): Promise<ReplyHead> {
    const frame = await this.#nextFrame(link);
    if (frame.kind !== 'line') throw this.#protocolError('reply line', link);
    const head = this.#parseHead(frame.line, link);
    if (head.status === BYE.status) link.closed = true;
    return head;
  }

  async #nextFrame(link: Link = this.#link): Promise<Exclude<Frame, { kind: 'line-too-long' }>> {
    let frame: ReadResult;
    try {
      const pending = link.lookout;
      link.lookout = undefined;
      frame = await (pending ?? link.reader.next());
    } catch (error) {
      throw this.#lost(error, link);
    }
    if (frame.kind === 'end') throw this.#lost(undefined, link);
    if (frame.kind === 'line-too-long') throw this.#protocolError('over-long line', link);
    return frame;
  }

  #parseHead(line: Buffer, link: Link = this.#link): ReplyHead {
    const parsed = parseReply(line);
    if (!parsed.ok) throw this.#protocolError('reply line', link);
    return parsed.value;
  }

  /**
   * While idle, keeps one read open: the server speaks unasked only to say
   * it is closing (a shutdown, an idle timeout), and this hears it at once.
   */
  #watchWhileIdle(): void {
    const link = this.#link;
    // Replies still to come are no notices: the puts read them.
    if (this.#busy || this.#pendingReplies > 0 || link.closed || link.lookout || link.socket.destroyed) return;
    const lookout = link.reader.next();
    link.lookout = lookout;
    lookout.then(
      (frame) => {
        // A request took this read over: the frame is its reply.
        if (link.lookout !== lookout || this.#busy) return;
        link.lookout = undefined;
        link.closed = true;
        const head = frame.kind === 'line' ? parseReply(frame.line) : undefined;
        if (head?.ok && head.value.status >= 400) {
          const notice = errorOf(head.value);
          this.#endedBy = notice;
          for (const listener of this.#noticeListeners) listener(notice);
        } else {
          this.#endedBy = new ClientError('CONNECTION_LOST', 'the server closed the connection');
        }
        link.socket.destroy();
      },
      () => {
        if (link.lookout !== lookout || this.#busy) return;
        link.lookout = undefined;
        link.closed = true;
      },
    );
  }

  #attach(socket: net.Socket): Link {
    const link: Link = { socket, reader: new FrameReader(socket, new FrameDecoder()), closed: false };
    socket.setNoDelay(true);
    socket.on('error', () => undefined); // surfaced through reads and writes
    socket.once('close', () => {
      link.closed = true;
    });
    return link;
  }

  /** Gives up the current connection after a cancel or a broken stream; the next call opens another. */
  #dropLink(): void {
    this.#link.closed = true;
    this.#link.socket.destroy();
    this.#reconnect = true;
  }

  /**
   * The connection `link` is gone. A read may fail late, after a cancel
   * replaced the connection: only the link it belongs to is dropped.
   */
  #lost(cause: unknown, link: Link = this.#link): ClientError {
    link.closed = true;
    link.socket.destroy();
    const error = new ClientError('CONNECTION_LOST', 'the server closed the connection', { cause });
    if (link === this.#link) this.#endedBy ??= error;
    return error;
  }

  #protocolError(what: string, link: Link = this.#link): ClientError {
    link.closed = true;
    link.socket.destroy();
    return new ClientError('PROTOCOL_ERROR', `the server sent an unexpected ${what}`);
  }
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/**
 * The chunks of an upload's source. A failure to read is the local side's
 * (LOCAL_FILE_ERROR); an abort ends the wait even for a source gone quiet;
 * and the source is stopped however the upload ends.
 */
async function* readSource(source: Readable | AsyncIterable<Uint8Array>, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  const iterator = (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(new ClientError('CANCELLED'));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  try {
    for (;;) {
      let step: IteratorResult<Uint8Array>;
      try {
        step = await (signal ? Promise.race([iterator.next(), aborted]) : iterator.next());
      } catch (error) {
        if (error instanceof ClientError) throw error;
        throw new ClientError('LOCAL_FILE_ERROR', `cannot read what is being uploaded: ${describe(error)}`, { cause: error });
      }
      if (step.done) return;
      yield step.value;
    }
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    if (typeof (source as Readable).destroy === 'function') (source as Readable).destroy();
    else void Promise.resolve(iterator.return?.()).catch(() => undefined);
  }
}

/** The source, if it lends its chunks' memory and wants each chunk given back. */
function lenderOf(source: object): { giveBack(chunk: Uint8Array): void } | undefined {
  return typeof (source as { giveBack?: unknown }).giveBack === 'function' ? (source as { giveBack(chunk: Uint8Array): void }) : undefined;
}

/** Marks an error raised during an upload with the upload's id, so a caller can resume it. */
function withUploadId(error: unknown, uploadId: string | undefined): unknown {
  if (uploadId !== undefined && error instanceof Error && (error instanceof ClientError || error instanceof BucketError)) {
    (error as { uploadId?: string }).uploadId ??= uploadId;
  }
  return error;
}

/** The id of the unfinished upload an upload's error came from (protocol 4), if any. */
export function uploadIdOf(error: unknown): string | undefined {
  const id = (error as { uploadId?: unknown } | undefined)?.uploadId;
  return typeof id === 'string' ? id : undefined;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A request's line. A field it cannot carry (an upload id that is not one,
 * a negative offset) is the caller's mistake: refused here as the server
 * would refuse it, BAD_FIELD, with nothing sent and the connection kept.
 */
function encodeOrRefuse(request: Request): Buffer {
  try {
    return encodeRequest(request);
  } catch (error) {
    if (error instanceof RangeError) throw new BucketError('BAD_FIELD', error.message);
    throw error;
  }
}
