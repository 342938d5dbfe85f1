/**
 * One client connection: read a request line, run its handler, repeat,
 * until EXIT, end of input, an untrustworthy stream, idleness or shutdown.
 */
import type { Socket } from 'node:net';
import { FrameReader, type ReadResult } from '../net/frame-reader.js';
import { FrameDecoder } from '../protocol/decoder.js';
import { encodeErrorReply } from '../protocol/replies.js';
import { parseRequest } from '../protocol/requests.js';
import type { Storage } from '../storage/storage.js';
import { writeChunk } from '../util/streams.js';
import { ConnectionGone, handleRequest, sendError, type Exchange } from './commands.js';
import type { Logger } from './logger.js';

export interface ConnectionOptions {
  storage: Storage;
  logger: Logger;
  idleTimeoutMs: number;
  maxFileSize: number;
  maxLineBytes: number;
}

// How long a closing connection may take to read our last reply.
const LINGER_MS = 2000;

export class Connection {
  readonly peer: string;
  readonly #socket: Socket;
  readonly #options: ConnectionOptions;
  readonly #reader: FrameReader;
  #busy = false;
  #closing = false;
  #shuttingDown = false;

  constructor(socket: Socket, options: ConnectionOptions) {
    this.#socket = socket;
    this.#options = options;
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.#reader = new FrameReader(socket, new FrameDecoder({ maxLineBytes: options.maxLineBytes }));
    socket.setNoDelay(true);
    if (options.idleTimeoutMs > 0) {
      socket.setTimeout(options.idleTimeoutMs, () => {
        this.#options.logger.info('closing idle connection', { peer: this.peer });
        this.#closeWith(encodeErrorReply('IDLE_TIMEOUT', `no activity for ${Math.round(options.idleTimeoutMs / 1000)} s; closing`));
      });
    }
    // Errors surface through the reader and writes; this keeps them from
    // being thrown as unhandled 'error' events.
    socket.on('error', () => undefined);
  }

  /** Serves requests until the connection ends. Never throws. */
  async serve(): Promise<void> {
    const exchange: Exchange = {
      storage: this.#options.storage,
      logger: this.#options.logger,
      maxFileSize: this.#options.maxFileSize,
      peer: this.peer,
      send: (data) => this.#send(data),
      sendBody: (data) => this.#sendBody(data),
      next: () => this.#reader.next(),
      expectBody: (size) => this.#reader.decoder.expectBody(size),
    };
    try {
      while (!this.#closing) {
        this.#busy = false;
        const frame = await this.#nextRequestFrame();
        this.#busy = true;
        // Closed while waiting (idle timeout, shutdown): run nothing more.
        if (frame.kind === 'end' || this.#closing) break;
        if (frame.kind === 'line-too-long') {
          this.#closeWith(encodeErrorReply('LINE_TOO_LONG', `line longer than ${frame.limit} bytes; closing`));
          break;
        }
        if (frame.kind !== 'line') continue; // Only lines come between requests.
        const parsed = parseRequest(frame.line);
        if (!parsed.ok) {
          await this.#send(encodeErrorReply(parsed.code, parsed.message));
          continue;
        }
        this.#options.logger.debug('request', { peer: this.peer, command: parsed.value.command });
        let outcome: 'continue' | 'close';
        try {
          outcome = await handleRequest(parsed.value, exchange);
        } catch (error) {
          if (error instanceof ConnectionGone) throw error;
          await sendError(exchange, error);
          outcome = 'continue';
        }
        if (outcome === 'close') break;
      }
    } catch (error) {
      this.#options.logger.debug('connection lost', { peer: this.peer, error: String(error) });
    } finally {
      this.#closeWith();
      await this.#reader.discardRest();
    }
  }

  /** Graceful stop: idle connections close now, busy ones after their command. */
  shutdown(): void {
    this.#shuttingDown = true;
    if (!this.#busy) this.#closeWith(encodeErrorReply('SHUTTING_DOWN'));
  }

  destroy(): void {
    this.#socket.destroy();
  }

  async #nextRequestFrame(): Promise<ReadResult> {
    if (this.#shuttingDown) {
      this.#closeWith(encodeErrorReply('SHUTTING_DOWN'));
      return { kind: 'end' };
    }
    return this.#reader.next();
  }

  #sendBody(data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#socket.destroyed || this.#socket.writableEnded) {
        reject(new ConnectionGone('connection closed'));
        return;
      }
      this.#socket.write(data, (error?: Error | null) => (error ? reject(new ConnectionGone(String(error))) : resolve()));
    });
  }

  async #send(data: Buffer): Promise<void> {
    if (this.#socket.destroyed || this.#socket.writableEnded) throw new ConnectionGone('connection closed');
    try {
      await writeChunk(this.#socket, data);
    } catch (error) {
      throw new ConnectionGone(String(error));
    }
  }

  /**
   * Ends our side, optionally after a last line, and reads and discards what
   * the peer still sends for a moment, so that our last reply is not lost
   * to a reset; then the socket is destroyed.
   */
  #closeWith(lastLine?: Buffer): void {
    if (this.#closing && lastLine === undefined) return;
    const firstClose = !this.#closing;
    this.#closing = true;
    const socket = this.#socket;
    if (socket.destroyed) return;
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
