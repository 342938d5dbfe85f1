/**
 * The typed client library: every protocol exchange of the `bucket` program
 * goes through here. One request at a time per connection (calls queue);
 * bodies stream both ways with backpressure and SHA-256 checks.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { BucketError, type ErrorCode } from '../errors.js';
import { FrameReader } from '../net/frame-reader.js';
import { FrameDecoder } from '../protocol/decoder.js';
import { errorCodeOf, parseItem, parseReply, STATUS, type ReplyHead } from '../protocol/replies.js';
import { encodeRequest, encodeUploadTrailer, parseSize, type Request } from '../protocol/requests.js';
import { DEFAULT_HOST, DEFAULT_PORT } from '../protocol/defaults.js';
import { BodyWriter, writeChunk } from '../util/streams.js';
import { ClientError } from './errors.js';

export interface ConnectOptions {
  host?: string;
  port?: number;
  /** Give up connecting after this long (default 10 s). */
  connectTimeoutMs?: number;
}

export interface ServerHello {
  name: string;
  version: string;
  protocol: number;
}

export interface RemoteBucket {
  name: string;
  createdAt: Date;
}

export interface RemoteFile {
  name: string;
  size: number;
  modifiedAt: Date;
  sha256?: string;
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
  /** Aborting cancels the transfer; the connection is closed with it. */
  signal?: AbortSignal;
}

// Upload bytes handed to the socket but not yet flushed, at most.
const BODY_IN_FLIGHT_BYTES = 4 * 1024 * 1024;

// How long a failed upload waits for the server's reason.
const LATE_REPLY_MS = 1000;

/** Fields of the HELLO reply, as sent by any server of protocol 1. */
const HELLO_FIELDS = 3;

export class BucketClient {
  readonly host: string;
  readonly port: number;
  readonly #socket: net.Socket;
  readonly #reader: FrameReader;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(socket: net.Socket, host: string, port: number) {
    this.#socket = socket;
    this.host = host;
    this.port = port;
    this.#reader = new FrameReader(socket, new FrameDecoder());
    socket.setNoDelay(true);
    socket.on('error', () => undefined); // surfaced through reads and writes
    socket.once('close', () => {
      this.#closed = true;
    });
  }

  static connect(options: ConnectOptions = {}): Promise<BucketClient> {
    const host = options.host ?? DEFAULT_HOST;
    const port = options.port ?? DEFAULT_PORT;
    const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ClientError('CONNECT_TIMEOUT', `cannot connect to ${where}: no answer`));
      }, options.connectTimeoutMs ?? 10_000);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new BucketClient(socket, host, port));
      });
      socket.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const reason = error.code === 'ECONNREFUSED' ? 'connection refused (is bucketd running?)' : (error.code ?? error.message);
        reject(new ClientError('CONNECTION_REFUSED', `cannot connect to ${where}: ${reason}`, { cause: error }));
      });
    });
  }

  /** True once the connection is gone (EXIT, the server leaving, a cancel). */
  get closed(): boolean {
    return this.#closed || this.#socket.destroyed;
  }

  hello(): Promise<ServerHello> {
    return this.#exclusive(async () => {
      const reply = await this.#request({ command: 'HELLO' }, STATUS.OK);
      const [name = '', version = '', protocol = ''] = reply.fields;
      if (reply.fields.length < HELLO_FIELDS || parseSize(protocol) === undefined) throw protocolError('HELLO reply');
      return { name, version, protocol: Number(protocol) };
    });
  }

  createBucket(bucket: string): Promise<RemoteBucket> {
    return this.#exclusive(async () => {
      const reply = await this.#request({ command: 'NEW_BUCKET', bucket }, STATUS.CREATED);
      return { name: reply.fields[0] ?? bucket, createdAt: parseDate(reply.fields[1]) };
    });
  }

  listBuckets(): Promise<RemoteBucket[]> {
    return this.#exclusive(async () => {
      const items = await this.#requestList({ command: 'LIST_BUCKET' });
      return items.map(([name = '', created]) => ({ name, createdAt: parseDate(created) }));
    });
  }

  /** Deletes a bucket; a non-empty one only with `force`. */
  deleteBucket(bucket: string, options: { force?: boolean } = {}): Promise<{ deletedFiles: number }> {
    return this.#exclusive(async () => {
      const reply = await this.#request({ command: 'DELETE_BUCKET', bucket, force: options.force === true }, STATUS.OK);
      return { deletedFiles: parseSize(reply.fields[1] ?? '') ?? 0 };
    });
  }

  listFiles(bucket: string): Promise<RemoteFile[]> {
    return this.#exclusive(async () => {
      const items = await this.#requestList({ command: 'LIST_FILE', bucket });
      return items.map(([name = '', size = '', modified, sha256 = '']) => {
        const file: RemoteFile = { name, size: parseSize(size) ?? 0, modifiedAt: parseDate(modified) };
        if (sha256 !== '') file.sha256 = sha256;
        return file;
      });
    });
  }

  deleteFile(bucket: string, name: string): Promise<void> {
    return this.#exclusive(async () => {
      await this.#request({ command: 'DELETE_FILE', bucket, name }, STATUS.OK);
    });
  }

  /**
   * Streams exactly `size` bytes from `source` into `bucket` as `name`. The
   * server checks the SHA-256 computed here as the bytes go; it stores
   * nothing unless every byte arrived intact.
   */
  upload(bucket: string, name: string, source: Readable | AsyncIterable<Uint8Array>, size: number, options: TransferOptions = {}): Promise<TransferResult> {
    return this.#exclusive(() => this.#cancellable(options.signal, () => this.#upload(bucket, name, source, size, options)));
  }

  /**
   * Streams a file to `destination` (not ended). Resolves only when every
   * byte matched the server's SHA-256; on a mismatch it rejects, and what
   * was written must be thrown away (downloadFile does that for files).
   */
  download(bucket: string, name: string, destination: Writable, options: TransferOptions = {}): Promise<TransferResult> {
    return this.#exclusive(() => this.#cancellable(options.signal, () => this.#download(bucket, name, destination, options)));
  }

  /** Says goodbye and closes the connection. */
  async exit(): Promise<void> {
    if (this.closed) return;
    await this.#exclusive(async () => {
      await this.#request({ command: 'EXIT' }, STATUS.BYE);
    }).catch(() => undefined);
    this.close();
  }

  /** Closes the connection at once. */
  close(): void {
    this.#closed = true;
    this.#socket.destroy();
  }

  async #upload(bucket: string, name: string, source: Readable | AsyncIterable<Uint8Array>, size: number, options: TransferOptions): Promise<TransferResult> {
    const goAhead = await this.#request({ command: 'UPLOAD_FILE', bucket, name, size }, STATUS.GO_AHEAD);
    const storedName = goAhead.fields[0] ?? name;
    // The server may answer before the body is done (a disk that filled
    // up); watch for that while sending.
    const reply = this.#readReply();
    let early: ReplyHead | Error | undefined;
    reply.then(
      (head) => (early = head),
      (error: Error) => (early = error),
    );
    const hash = createHash('sha256');
    const body = new BodyWriter(this.#socket, BODY_IN_FLIGHT_BYTES);
    let sent = 0;
    try {
      for await (const chunk of source) {
        if (early !== undefined) break;
        const bytes = chunk as Uint8Array;
        sent += bytes.length;
        if (sent > size) throw new ClientError('SOURCE_CHANGED');
        hash.update(bytes);
        await body.write(bytes);
        options.onProgress?.(sent, size);
      }
      if (early === undefined) {
        if (sent !== size) throw new ClientError('SOURCE_CHANGED', `the source gave ${sent} bytes, not the ${size} declared`);
        await writeChunk(this.#socket, encodeUploadTrailer(hash.digest('hex')));
      }
    } catch (error) {
      // A send that failed because the server answered and closed (a full
      // disk, say): its answer, arriving a moment later, says why.
      if (early === undefined && !(error instanceof ClientError)) {
        await Promise.race([reply.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, LATE_REPLY_MS))]);
      }
      if (early === undefined || early instanceof Error) {
        // The stream can no longer be kept in step: drop the connection,
        // and the server drops the upload.
        this.close();
        throw error instanceof ClientError ? error : new ClientError('CONNECTION_LOST', describe(error), { cause: error });
      }
    }
    const head = await reply;
    // An answer before the end of the body is an error after which the
    // server closes the connection.
    if (sent < size) this.#closed = true;
    const result = expectStatus(head, STATUS.CREATED);
    const [, , storedSize = '', sha256 = ''] = result.fields;
    return { bucket, name: result.fields[1] ?? storedName, size: parseSize(storedSize) ?? size, sha256 };
  }

  async #download(bucket: string, name: string, destination: Writable, options: TransferOptions): Promise<TransferResult> {
    const head = await this.#request({ command: 'DOWNLOAD_FILE', bucket, name }, STATUS.GO_AHEAD);
    const size = parseSize(head.fields[1] ?? '');
    if (size === undefined) throw protocolError('DOWNLOAD_FILE reply');
    const storedName = head.fields[0] ?? name;
    this.#reader.decoder.expectBody(size);
    const hash = createHash('sha256');
    let received = 0;
    options.onProgress?.(0, size);
    for (;;) {
      const frame = await this.#reader.next();
      if (frame.kind === 'body') {
        hash.update(frame.chunk);
        received += frame.chunk.length;
        try {
          await writeChunk(destination, frame.chunk);
        } catch (error) {
          this.close();
          throw new ClientError('LOCAL_FILE_ERROR', `cannot write the download: ${describe(error)}`, { cause: error });
        }
        options.onProgress?.(received, size);
        continue;
      }
      if (frame.kind === 'end') throw this.#lost();
      if (frame.kind !== 'trailer') throw protocolError('download trailer');
      const trailer = expectStatus(this.#parseHead(frame.line), STATUS.OK);
      const sha256 = hash.digest('hex');
      if (trailer.fields[0] !== sha256) throw new ClientError('DOWNLOAD_CHECKSUM_MISMATCH');
      return { bucket, name: storedName, size, sha256 };
    }
  }

  /** Runs `work` so that aborting `signal` cancels it by closing the connection. */
  async #cancellable<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
    if (!signal) return work();
    if (signal.aborted) throw new ClientError('CANCELLED');
    const onAbort = (): void => this.close();
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
  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      if (this.closed) throw new ClientError('CONNECTION_LOST', 'the connection is closed');
      return work();
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #request(request: Request, expected: number): Promise<ReplyHead> {
    try {
      await writeChunk(this.#socket, encodeRequest(request));
    } catch (error) {
      throw this.#lost(error);
    }
    return expectStatus(await this.#readReply(), expected);
  }

  async #requestList(request: Request): Promise<string[][]> {
    const head = await this.#request(request, STATUS.OK);
    const count = parseSize(head.fields[0] ?? '');
    if (count === undefined) throw protocolError('list count');
    const items: string[][] = [];
    for (let i = 0; i < count; i++) {
      const frame = await this.#nextFrame();
      if (frame.kind !== 'line') throw protocolError('list item');
      const item = parseItem(frame.line);
      if (!item.ok) throw protocolError('list item');
      items.push(item.value);
    }
    return items;
  }

  async #readReply(): Promise<ReplyHead> {
    const frame = await this.#nextFrame();
    if (frame.kind !== 'line') throw protocolError('reply line');
    const head = this.#parseHead(frame.line);
    // The server closes after these; later calls should fail at once.
    if (head.status === 221 || head.status === 408 || head.status === 503) this.#closed = true;
    return head;
  }

  async #nextFrame(): Promise<Exclude<Awaited<ReturnType<FrameReader['next']>>, { kind: 'end' }>> {
    let frame;
    try {
      frame = await this.#reader.next();
    } catch (error) {
      throw this.#lost(error);
    }
    if (frame.kind === 'end') throw this.#lost();
    if (frame.kind === 'line-too-long') throw protocolError('over-long line');
    return frame;
  }

  #parseHead(line: Buffer): ReplyHead {
    const parsed = parseReply(line);
    if (!parsed.ok) throw protocolError('reply line');
    return parsed.value;
  }

  #lost(cause?: unknown): ClientError {
    this.close();
    return new ClientError('CONNECTION_LOST', 'the server closed the connection', { cause });
  }
}

function expectStatus(head: ReplyHead, expected: number): ReplyHead {
  if (head.status === expected) return head;
  if (head.status >= 400) throw replyError(head);
  throw protocolError(`status ${head.status}`);
}

function replyError(head: ReplyHead): BucketError {
  const code: ErrorCode = errorCodeOf(head) ?? (head.status >= 500 ? 'INTERNAL' : 'BAD_FIELD');
  return new BucketError(code, head.message || undefined, head.fields.slice(1));
}

function protocolError(what: string): ClientError {
  return new ClientError('PROTOCOL_ERROR', `the server sent an unexpected ${what}`);
}

function parseDate(text: string | undefined): Date {
  const date = new Date(text ?? '');
  return Number.isNaN(date.getTime()) ? new Date(0) : date;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
