/**
 * One client connection: read a request line, run its handler, repeat,
 * until EXIT, end of input, an untrustworthy stream, a deadline, or
 * shutdown; uploads sent at once may finish storing while the next
 * requests are read (see serve). Every request ends at one point
 * (`#finish`), which knows its command, outcome, status, bytes and
 * duration, and tells the hooks.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { BucketError, ERRORS, type ErrorCode } from '../errors.js';
import { FrameReader, type ReadResult } from '../net/frame-reader.js';
import { FrameDecoder } from '../protocol/decoder.js';
import { encodeTyped, encodeTypedItem, LIST_HEAD } from '../protocol/messages.js';
import { encodeErrorReply } from '../protocol/replies.js';
import { parseRequest, type Request } from '../protocol/requests.js';
import { normalizeFileName } from '../storage/names.js';
import type { Storage } from '../storage/storage.js';
import type { BufferPool } from '../util/buffer-pool.js';
import type { FlowWindow } from '../util/flow.js';
import type { Semaphore } from '../util/semaphore.js';
import { writeChunk } from '../util/streams.js';
import type { Authority } from './auth/authority.js';
import type { QuotaKeeper } from './auth/quotas.js';
import type { UploadRegistry } from './uploads.js';
import { handleRequest } from './commands.js';
import { ConnectionLender } from './lender.js';
import { startRateGuard, type Guard } from './rate-guard.js';
import { ConnectionGone, type Exchange, type Outcome } from './exchange.js';
import type { Logger } from './logger.js';
import type { CloseReason, RequestRecord, ServerHooks, Session } from './session.js';

export interface ConnectionOptions {
  storage: Storage;
  logger: Logger;
  hooks: ServerHooks;
  idleTimeoutMs: number;
  /** A request line must be whole this long after its first byte; 0 = no limit. */
  requestTimeoutMs: number;
  /** Bodies must move at least this many bytes per second over each window; 0 = no minimum. */
  minRate: number;
  rateWindowMs: number;
  maxFileSize: number;
  maxLineBytes: number;
  downloadBuffers: BufferPool;
  readBudget: FlowWindow;
  /** Listings taken and being sent at once, server-wide. */
  listings: Semaphore;
  authority: Authority;
  quotas: QuotaKeeper;
  staging: UploadRegistry;
  uploads: Set<{ readonly received: number }>;
  /** Where a login is required, a connection not logged in this long after it opened is closed; 0 = never. */
  authTimeoutMs: number;
}

// How long a closing connection may take to read our last reply.
const LINGER_MS = 2000;

// Item lines are sent in batches of about this size, not one write each.
const LIST_BATCH_BYTES = 64 * 1024;

// Uploads sent at once whose bodies are in and whose commits (fsyncs and
// renames) may still run while the next requests are read, per connection.
const MAX_COMMITS_IN_FLIGHT = 8;

interface RequestState {
  command: Request['command'] | undefined;
  bucket?: string;
  name?: string;
  outcome: RequestRecord['outcome'];
  status: number;
  /** Where its line began in the connection's input, and where its bytes ended (known once its body is in). */
  bytesIn: number;
  bytesInEnd?: number;
  /** Bytes of its replies and bodies handed to the socket. */
  bytesOut: number;
  started: number;
  /** Earlier requests still committing: nothing of this one is sent before they end, so replies keep their order. */
  after?: Promise<unknown> | undefined;
  /** For an upload sent at once: where its body ends in the input, and what to call once it is all read. */
  bodyEnd?: number;
  onBodyIn?: () => void;
  /** An upload sent at once: its body follows the line, with no trailer. */
  atOnce: boolean;
  /** Bytes of such a body that no handler has taken yet: skipped after the reply, to stay in step. */
  bodyPending: number;
}

/**
 * What an upload writes to, for telling two uploads to one file apart from
 * two to different ones (the storage's own normal form of a name). A name
 * that is not valid is refused before it commits: it is its own target.
 */
function targetOf(bucket: string, name: string): string {
  let normal = name;
  try {
    normal = normalizeFileName(name);
  } catch {
    // Refused later, with its own reply.
  }
  return `${bucket}/${normal}`;
}

export class Connection {
  readonly session: Session;
  readonly #socket: Socket;
  readonly #options: ConnectionOptions;
  readonly #reader: FrameReader;
  readonly #abort = new AbortController();
  #busy = false;
  #closing = false;
  #closeReason: CloseReason = 'peer-closed';
  #shuttingDown = false;
  /** Uploads sent at once that are committing while later requests are read (see serve). */
  readonly #committing = new Set<Promise<unknown>>();
  /** Their targets (bucket and name): a later upload to one of them waits, so the later stays. */
  readonly #committingTargets = new Set<string>();
  #lineTimer: NodeJS.Timeout | undefined;
  #lineDeadlineArmed = false;
  #awaitingLine = false;
  #authTimer: NodeJS.Timeout | undefined;
  /** The auth deadline passed during a request: the connection closes when it ends, unless it logged in. */
  #authExpired = false;
  /** A download body is on its way out: no line may be sent until it ends. */
  #bodyOut = false;
  /** Replies of this turn are being gathered (see #gather). */
  #corked = false;
  readonly #lender: ConnectionLender;

  constructor(socket: Socket, session: Session, options: ConnectionOptions) {
    this.#socket = socket;
    this.#options = options;
    this.session = session;
    this.#reader = new FrameReader(socket, new FrameDecoder({ maxLineBytes: options.maxLineBytes }), { budget: options.readBudget });
    this.#lender = new ConnectionLender(options.downloadBuffers, this.#abort.signal);
    // Whatever a handler waits for (a pool buffer) stops waiting when the peer goes.
    socket.once('close', () => this.#abort.abort(new ConnectionGone('connection closed')));
    socket.setNoDelay(true);
    if (options.idleTimeoutMs > 0) {
      socket.setTimeout(options.idleTimeoutMs, () => {
        this.#options.logger.info('closing idle connection', { peer: this.session.peer });
        this.#closeWith('idle-timeout', encodeErrorReply('IDLE_TIMEOUT', `no activity for ${Math.round(options.idleTimeoutMs / 1000)} s; closing`));
      });
    }
    // The first byte of a request line starts its deadline; a line that
    // drips in a byte at a time cannot hold the connection for ever.
    if (options.requestTimeoutMs > 0) socket.on('data', () => this.#armLineDeadline());
    // Where a login is required, a connection that never logs in goes.
    this.#armAuthDeadline();
    // Errors surface through the reader and writes; this keeps them from
    // being thrown as unhandled 'error' events.
    socket.on('error', () => undefined);
  }

  /**
   * A fixed deadline for logging in, from the connection's start (or from
   * the moment it was logged out again). Requests in flight do not push it
   * back: one that is running when it passes ends, then the connection
   * closes unless that request logged it in.
   */
  #armAuthDeadline(): void {
    const { authTimeoutMs, authority } = this.#options;
    if (authTimeoutMs <= 0 || this.#authTimer !== undefined || this.session.user !== undefined) return;
    if (authority.loginPolicy() !== 'required') return;
    this.#authTimer = setTimeout(() => {
      this.#authTimer = undefined;
      if (this.session.user !== undefined) return;
      if (this.#busy) this.#authExpired = true;
      else this.#closeForAuthTimeout();
    }, authTimeoutMs);
    this.#authTimer.unref();
  }

  /** After each request: logged in, the deadline goes; logged out again, it starts afresh. */
  #checkAuthDeadline(): void {
    if (this.session.user !== undefined) {
      clearTimeout(this.#authTimer);
      this.#authTimer = undefined;
      this.#authExpired = false;
    } else if (this.#authExpired) {
      this.#closeForAuthTimeout();
    } else {
      this.#armAuthDeadline();
    }
  }

  #closeForAuthTimeout(): void {
    this.#options.logger.info('no login in time; closing', { peer: this.session.peer });
    this.#closeWith('auth-timeout', encodeErrorReply('AUTH_TIMEOUT', `no login within ${this.#options.authTimeoutMs / 1000} s; closing`));
  }

  /**
   * Serves requests until the connection ends. Never throws.
   *
   * Requests run one after the other, but for uploads sent at once: once
   * such an upload's body is all read, the next request is read while it
   * commits (its fsyncs and renames), so that pipelined small files share
   * the folder's fsync (group commit) instead of waiting for each other's.
   * Only another upload sent at once may start meanwhile (up to
   * MAX_COMMITS_IN_FLIGHT); anything else waits until they are stored, so
   * it sees them. Replies keep the order of the requests.
   */
  async serve(): Promise<void> {
    this.#options.hooks.onConnectionOpen?.(this.session);
    try {
      while (!this.#closing) {
        this.#busy = false;
        const lineStart = this.#reader.decoder.consumedBytes;
        const frame = await this.#nextRequestFrame();
        this.#busy = true;
        // Closed while waiting (idle timeout, shutdown): run nothing more.
        if (frame.kind === 'end' || this.#closing) break;
        if (frame.kind === 'line-too-long') {
          await this.#committed();
          this.#closeWith('line-too-long', encodeErrorReply('LINE_TOO_LONG', `line longer than ${frame.limit} bytes; closing`));
          break;
        }
        if (frame.kind !== 'line') continue; // Only lines come between requests.
        const parsed = parseRequest(frame.line);
        const target = parsed.ok && parsed.value.command === 'UPLOAD_FILE' && parsed.value.sha256 !== undefined ? targetOf(parsed.value.bucket, parsed.value.name) : undefined;
        const sentAtOnce = target !== undefined;
        if (!sentAtOnce || this.#committing.size >= MAX_COMMITS_IN_FLIGHT || this.#committingTargets.has(target)) await this.#committed();
        if (this.#closing) break;
        const state = this.#newState(lineStart);
        const served = this.#serveRequest(parsed, state);
        let outcome: Outcome;
        if (sentAtOnce) {
          const bodyIn = new Promise<'body-in'>((resolve) => (state.onBodyIn = () => resolve('body-in')));
          const first = await Promise.race([served, bodyIn]);
          if (first === 'body-in') {
            this.#commitInBackground(served, target);
            continue;
          }
          outcome = first;
        } else {
          outcome = await served;
        }
        if (outcome !== 'close') this.#checkAuthDeadline();
        if (outcome === 'close') {
          if (!this.#closing && this.#closeReason !== 'exit') this.#closeReason = 'after-error';
          break;
        }
      }
    } catch (error) {
      if (!this.#closing) this.#closeReason = 'error';
      this.#options.logger.debug('connection lost', { peer: this.session.peer, error: String(error) });
    } finally {
      clearTimeout(this.#lineTimer);
      clearTimeout(this.#authTimer);
      // Uploads still committing end first: their replies go before the connection's last line.
      await this.#committed();
      this.#abort.abort(new ConnectionGone('connection closed'));
      this.#closeWith(this.#closeReason);
      await this.#reader.discardRest();
      this.#options.hooks.onConnectionClose?.(this.session, this.#closeReason);
    }
  }

  /** Until every upload committing in the background has ended (replied or failed). */
  async #committed(): Promise<void> {
    while (this.#committing.size > 0) await Promise.allSettled([...this.#committing]);
  }

  /**
   * Lets an upload whose body is in finish (commit, reply, record) while
   * the next request is read. One that ends by closing the connection
   * closes it; the requests after it then fail as the connection went.
   */
  #commitInBackground(served: Promise<Outcome>, target: string): void {
    this.#committingTargets.add(target);
    const tracked: Promise<unknown> = served.then(
      (outcome) => {
        this.#committing.delete(tracked);
        this.#committingTargets.delete(target);
        if (outcome === 'close') {
          if (!this.#closing) this.#closeReason = 'after-error';
          this.#closeWith(this.#closeReason);
        } else {
          this.#checkAuthDeadline();
        }
        this.#closeIfDrained();
      },
      (error: unknown) => {
        this.#committing.delete(tracked);
        this.#committingTargets.delete(target);
        this.#options.logger.debug('connection lost', { peer: this.session.peer, error: String(error) });
        if (!this.#closing) this.#closeReason = 'error';
        this.#closeWith(this.#closeReason);
      },
    );
    this.#committing.add(tracked);
    this.#options.logger.debug('reading on while uploads commit', { peer: this.session.peer, committing: this.#committing.size });
  }

  /** Graceful stop: idle connections close now, busy ones after their command. */
  shutdown(): void {
    this.#shuttingDown = true;
    this.#closeIfDrained();
  }

  /** Shutting down, with nothing running: the connection closes with SHUTTING_DOWN. */
  #closeIfDrained(): void {
    if (this.#shuttingDown && !this.#busy && this.#committing.size === 0) this.#closeWith('shutdown', encodeErrorReply('SHUTTING_DOWN'));
  }

  destroy(): void {
    this.#socket.destroy();
  }

  /** A request's record, begun when its line is read; `after`: the uploads still committing before it. */
  #newState(lineStart: number): RequestState {
    return {
      command: undefined,
      outcome: 'OK',
      status: 0,
      bytesIn: lineStart,
      bytesOut: 0,
      started: performance.now(),
      atOnce: false,
      bodyPending: 0,
      after: this.#committing.size > 0 ? Promise.allSettled([...this.#committing]) : undefined,
    };
  }

  /** One request, from its line to its end; the one place where requests end. */
  async #serveRequest(parsed: ReturnType<typeof parseRequest>, state: RequestState): Promise<Outcome> {
    const exchange = this.#exchangeFor(state);
    this.session.requests++;
    let outcome: Outcome = 'continue';
    try {
      if (!parsed.ok) {
        this.#noteError(state, parsed.code);
        if (parsed.unframed === true) {
          // A body follows whose size cannot be read: the stream is lost.
          await this.#send(state, encodeErrorReply(parsed.code, `${parsed.message ?? ERRORS[parsed.code].message}; the body's size cannot be read, so the connection closes`));
          return 'close';
        }
        await this.#send(state, encodeErrorReply(parsed.code, parsed.message));
        return parsed.body === undefined ? 'continue' : await this.#skipBody(state, parsed.body);
      }
      const request = parsed.value;
      state.command = request.command;
      if (request.command === 'UPLOAD_FILE' && request.sha256 !== undefined) {
        state.atOnce = true;
        state.bodyPending = request.size;
      }
      try {
        this.#options.authority.check(this.session, request);
        await this.#options.hooks.beforeRequest?.(this.session, request);
        outcome = await handleRequest(request, exchange);
      } catch (error) {
        if (error instanceof ConnectionGone) {
          // The connection went before the request's end: no final reply.
          if (state.outcome === 'OK') state.outcome = 'CONNECTION_LOST';
          state.status = 0;
          throw error;
        }
        await exchange.fail(error);
        outcome = error instanceof BucketError && error.closesConnection ? 'close' : 'continue';
      }
      // Refused before its body was taken (a permission, a quota, a bad
      // name): the body is read and dropped, and the next request follows.
      if (outcome === 'continue' && state.bodyPending > 0) outcome = await this.#skipBody(state, state.bodyPending);
      if (request.command === 'EXIT') this.#closeReason = 'exit';
      return outcome;
    } finally {
      this.#finish(state);
    }
  }

  /** Once a body sent at once is all read, the connection may read the next request (see serve). */
  #checkBodyIn(state: RequestState): void {
    if (state.bodyEnd === undefined || this.#reader.decoder.consumedBytes < state.bodyEnd) return;
    state.bodyEnd = undefined;
    state.bytesInEnd = this.#reader.decoder.consumedBytes;
    state.onBodyIn?.();
  }

  #finish(state: RequestState): void {
    const record: RequestRecord = {
      command: state.command,
      outcome: state.outcome,
      status: state.status,
      bytesIn: Math.max(0, (state.bytesInEnd ?? this.#reader.decoder.consumedBytes) - state.bytesIn),
      bytesOut: state.bytesOut,
      durationMs: performance.now() - state.started,
    };
    if (state.bucket !== undefined) record.bucket = state.bucket;
    if (state.name !== undefined) record.name = state.name;
    try {
      this.#options.hooks.onRequestEnd?.(this.session, record);
    } catch (error) {
      this.#options.logger.error('request hook failed', { error: String(error) });
    }
  }

  #noteError(state: RequestState, code: ErrorCode): void {
    state.outcome = code;
    state.status = ERRORS[code].status;
  }

  /** What a handler may do, for one request: its replies and records go to `state`. */
  #exchangeFor(state: RequestState): Exchange {
    return {
      storage: this.#options.storage,
      authority: this.#options.authority,
      quotas: this.#options.quotas,
      staging: this.#options.staging,
      session: this.session,
      logger: this.#options.logger,
      maxFileSize: this.#options.maxFileSize,
      uploads: this.#options.uploads,
      buffers: this.#lender,
      reply: async (codec, value, message) => {
        state.status = codec.status;
        await this.#send(state, encodeTyped(codec, value, message));
      },
      list: (codec, take, message) =>
        this.#options.listings.run(async () => {
          const listing = await take();
          await this.#sendList(state, listing, message(listing.count), (item) => encodeTypedItem(codec, item));
        }, this.#abort.signal),
      fail: (error) => this.#sendError(state, error),
      sendBody: (data) => this.#sendBody(state, data),
      next: () => this.#read(state),
      expectBody: (size) => {
        // An upload sent at once has no trailer; the handler takes its body.
        const trailer = !state.atOnce;
        state.bodyPending = 0;
        if (state.atOnce) state.bodyEnd = this.#reader.decoder.consumedBytes + size;
        this.#reader.decoder.expectBody(size, trailer);
        this.#checkBodyIn(state);
      },
      dropBody: (left) => this.#dropBody(state, left),
      guardRate: () => this.#guardRate(state),
      bodyOut: (on) => {
        this.#bodyOut = on;
      },
      describe: (target) => {
        if (target.bucket !== undefined) state.bucket = target.bucket;
        if (target.name !== undefined) state.name = target.name;
      },
    };
  }

  /**
   * The next frame of a request's body. A read that fails is the connection
   * going (a reset, a timeout that closed it): never an error of the
   * command's own.
   */
  async #read(state: RequestState): Promise<ReadResult> {
    let frame: ReadResult;
    try {
      frame = await this.#reader.next();
    } catch (error) {
      throw new ConnectionGone(String(error));
    }
    this.#checkBodyIn(state);
    return frame;
  }

  async #sendList<T>(state: RequestState, listing: { count: number; pages: AsyncIterable<readonly T[]> }, message: string, encode: (item: T) => Buffer): Promise<void> {
    state.status = 200;
    // Items are lines the client counts: failing among them means closing
    // without a line, as inside a body.
    const guard = this.#guardRate(state);
    this.#bodyOut = true;
    try {
      await this.#sendItems(state, listing, message, encode, guard);
    } finally {
      this.#bodyOut = false;
      guard.stop();
    }
  }

  async #sendItems<T>(state: RequestState, listing: { count: number; pages: AsyncIterable<readonly T[]> }, message: string, encode: (item: T) => Buffer, guard: Guard): Promise<void> {
    const head = encodeTyped(LIST_HEAD, { count: listing.count }, message);
    const pages = listing.pages[Symbol.asyncIterator]();
    try {
      await this.#sendPages(state, pages, listing.count, head, encode, guard);
    } finally {
      await pages.return?.();
    }
  }

  async #sendPages<T>(state: RequestState, pages: AsyncIterator<readonly T[]>, count: number, head: Buffer, encode: (item: T) => Buffer, guard: Guard): Promise<void> {
    let batch = [head];
    let batchBytes = 0;
    let sent = 0;
    // Building a page is the server's own time, not the reader's.
    for (let step = await guard.paused(pages.next()); !step.done; step = await guard.paused(pages.next())) {
      const page = step.value;
      for (const item of page) {
        if (sent === count) break; // never more lines than announced
        const line = encode(item);
        batch.push(line);
        batchBytes += line.length;
        sent++;
        if (batchBytes >= LIST_BATCH_BYTES) {
          await this.#send(state, Buffer.concat(batch));
          batch = [];
          batchBytes = 0;
        }
      }
    }
    if (sent !== count) {
      // The backend broke its promise; the client is waiting for lines that
      // will never come, so the stream cannot be kept in step.
      this.#options.logger.error('listing shorter than announced', { announced: count, sent });
      throw new ConnectionGone('listing shorter than announced');
    }
    if (batch.length > 0) await this.#send(state, Buffer.concat(batch));
  }

  /**
   * Reads and drops the `size` body bytes of a refused upload sent at once,
   * held to the minimum rate like any body; 'close' if the peer stops
   * sending first.
   */
  async #skipBody(state: RequestState, size: number): Promise<Outcome> {
    if (state.atOnce) state.bodyEnd = this.#reader.decoder.consumedBytes + size;
    this.#reader.decoder.expectBody(size, false);
    this.#checkBodyIn(state);
    const guard = this.#guardRate(state);
    try {
      return await this.#dropBody(state, size);
    } finally {
      guard.stop();
    }
  }

  /**
   * Reads and drops the next `left` body bytes; 'close' if the peer stops
   * sending first, or if its login deadline passes meanwhile (a body
   * declared before a login does not buy time past it).
   */
  async #dropBody(state: RequestState, left: number): Promise<Outcome> {
    while (left > 0) {
      if (this.#authExpired) {
        this.#closeForAuthTimeout();
        return 'close';
      }
      const frame = await this.#read(state);
      if (frame.kind !== 'body') return 'close';
      left -= frame.chunk.length;
    }
    return 'continue';
  }

  /** Sends the reply for a handler's failure: its code, or INTERNAL. */
  async #sendError(state: RequestState, error: unknown): Promise<void> {
    if (error instanceof BucketError) {
      state.outcome = error.code;
      state.status = error.status;
      await this.#send(state, encodeErrorReply(error.code as ErrorCode, error.message, error.details));
      return;
    }
    this.#options.logger.error('unexpected error', { peer: this.session.peer, error: error instanceof Error ? error.message : String(error) });
    if (error instanceof Error && error.stack) this.#options.logger.debug('stack', { stack: error.stack });
    this.#noteError(state, 'INTERNAL');
    await this.#send(state, encodeErrorReply('INTERNAL'));
  }

  /** Holds this connection's transfer to the minimum rate (see rate-guard.ts); closes it if too slow. */
  #guardRate(state: RequestState): Guard {
    const { minRate, rateWindowMs } = this.#options;
    return startRateGuard(
      minRate,
      rateWindowMs,
      () => this.#socket.bytesRead + this.#socket.bytesWritten,
      (bytes, ms) => {
        this.#options.logger.info('transfer too slow; closing', { peer: this.session.peer, bytes, ms: Math.round(ms) });
        state.outcome = 'TOO_SLOW';
        state.status = ERRORS.TOO_SLOW.status;
        // A reader that stopped reading would never get a last line queued
        // behind the body: then the connection just goes.
        const stalledReader = this.#socket.writableLength > 0;
        this.#closeWith('too-slow', encodeErrorReply('TOO_SLOW', `fewer than ${minRate} bytes per second over ${rateWindowMs / 1000} s; closing`), stalledReader);
      },
    );
  }

  /**
   * Starts the request line's deadline. One timer serves every request of
   * the connection, restarted rather than made anew (pipelined requests
   * arm it once each); disarmed, it fires to no effect.
   */
  #armLineDeadline(): void {
    if (!this.#awaitingLine || this.#lineDeadlineArmed) return;
    this.#lineDeadlineArmed = true;
    if (this.#lineTimer !== undefined) {
      this.#lineTimer.refresh();
      return;
    }
    const timeoutMs = this.#options.requestTimeoutMs;
    this.#lineTimer = setTimeout(() => {
      if (!this.#lineDeadlineArmed) return;
      this.#options.logger.info('request line too slow; closing', { peer: this.session.peer });
      this.#closeWith('request-timeout', encodeErrorReply('REQUEST_TIMEOUT', `the request line was not complete within ${timeoutMs / 1000} s; closing`));
    }, timeoutMs);
    this.#lineTimer.unref();
  }

  async #nextRequestFrame(): Promise<ReadResult> {
    if (this.#shuttingDown) {
      // Uploads whose bodies are in are stored and answered first.
      await this.#committed();
      this.#closeWith('shutdown', encodeErrorReply('SHUTTING_DOWN'));
      return { kind: 'end' };
    }
    // Bytes already waiting count as the line's start.
    this.#awaitingLine = true;
    if (this.#options.requestTimeoutMs > 0 && this.#reader.decoder.bufferedBytes > 0) this.#armLineDeadline();
    try {
      return await this.#reader.next();
    } finally {
      this.#awaitingLine = false;
      this.#lineDeadlineArmed = false;
    }
  }

  #sendBody(state: RequestState, data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#socket.destroyed || this.#socket.writableEnded) {
        reject(new ConnectionGone('connection closed'));
        return;
      }
      state.bytesOut += data.length;
      this.#socket.write(data, (error?: Error | null) => (error ? reject(new ConnectionGone(String(error))) : resolve()));
    });
  }

  async #send(state: RequestState, data: Buffer): Promise<void> {
    // Not before the replies of the uploads still committing ahead of it.
    if (state.after !== undefined) {
      await state.after;
      state.after = undefined;
    }
    if (this.#socket.destroyed || this.#socket.writableEnded) throw new ConnectionGone('connection closed');
    this.#gather();
    state.bytesOut += data.length;
    try {
      await writeChunk(this.#socket, data);
    } catch (error) {
      throw new ConnectionGone(String(error));
    }
  }

  /**
   * Replies written in one turn of the event loop go out together: the
   * socket is corked at the first and uncorked once the turn's callbacks
   * and promises have run, so that pipelined requests answered meanwhile
   * share one write (one system call, and one packet when they fit).
   */
  #gather(): void {
    if (this.#corked) return;
    this.#corked = true;
    this.#socket.cork();
    process.nextTick(() => {
      this.#corked = false;
      this.#socket.uncork();
    });
  }

  /**
   * Ends our side, optionally after a last line, and reads and discards what
   * the peer still sends for a moment, so that our last reply is not lost
   * to a reset; then the socket is destroyed. `now` drops what is queued
   * for the peer first (a reader too slow to take it).
   */
  #closeWith(reason: CloseReason, lastLine?: Buffer, now = false): void {
    if (lastLine !== undefined && !now && this.#committing.size > 0 && !this.#socket.destroyed) {
      // A last line (a timeout, TOO_SLOW) goes after the replies of the
      // uploads committing now, not in their place.
      void Promise.allSettled([...this.#committing]).then(() => this.#closeWith(reason, lastLine, now));
      return;
    }
    if (this.#closing && lastLine === undefined) return;
    const firstClose = !this.#closing;
    if (firstClose) this.#closeReason = reason;
    this.#closing = true;
    const socket = this.#socket;
    if (socket.destroyed) return;
    // Inside a download body a line would be taken for the file's bytes:
    // the documented way to fail there is to close without one.
    if (this.#bodyOut) now = true;
    if (now) {
      // A stalled reader would never get the last line behind the queued
      // body; free what is queued and go.
      this.#abort.abort(new ConnectionGone(reason));
      socket.destroy();
      return;
    }
    if (!socket.writableEnded) {
      if (lastLine) socket.end(lastLine);
      else socket.end();
    }
    if (firstClose) {
      const timer = setTimeout(() => socket.destroy(), LINGER_MS);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
      socket.once('end', () => socket.destroy());
    }
  }
}
