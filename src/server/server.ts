/**
 * The bucketd TCP server: accepts connections, serves each on its own,
 * and stops gracefully (finishing transfers in flight within a grace).
 */
import net, { type AddressInfo } from 'node:net';
import { DEFAULT_MAX_LINE_BYTES } from '../protocol/decoder.js';
import { DEFAULT_HOST, DEFAULT_PORT } from '../protocol/defaults.js';
import { encodeErrorReply } from '../protocol/replies.js';
import type { Storage } from '../storage/storage.js';
export { DEFAULT_HOST, DEFAULT_PORT } from '../protocol/defaults.js';
import { Connection } from './connection.js';
import { silentLogger, type Logger } from './logger.js';

export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
export const DEFAULT_MAX_CONNECTIONS = 1000;

export interface ServerOptions {
  storage: Storage;
  host?: string;
  port?: number;
  logger?: Logger;
  /** Close connections silent for this long; 0 disables. */
  idleTimeoutMs?: number;
  /** Largest upload accepted, in bytes. */
  maxFileSize?: number;
  maxConnections?: number;
  maxLineBytes?: number;
  shutdownGraceMs?: number;
}

export class BucketServer {
  readonly #options: Required<ServerOptions>;
  readonly #server: net.Server;
  readonly #connections = new Set<Connection>();
  readonly #served = new Set<Promise<void>>();
  #closing: Promise<void> | undefined;

  constructor(options: ServerOptions) {
    this.#options = {
      host: DEFAULT_HOST,
      port: DEFAULT_PORT,
      logger: silentLogger,
      idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
      maxFileSize: Number.MAX_SAFE_INTEGER,
      maxConnections: DEFAULT_MAX_CONNECTIONS,
      maxLineBytes: DEFAULT_MAX_LINE_BYTES,
      shutdownGraceMs: DEFAULT_SHUTDOWN_GRACE_MS,
      ...options,
    };
    // allowHalfOpen: a client that sends its last request and then shuts
    // its side still gets every reply.
    this.#server = net.createServer({ allowHalfOpen: true, highWaterMark: 1024 * 1024 }, (socket) => this.#accept(socket));
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Starts listening; resolves with the bound address. */
  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.#server.once('error', onError);
      this.#server.listen(this.#options.port, this.#options.host, () => {
        this.#server.off('error', onError);
        this.#server.on('error', (error) => this.#options.logger.error('server error', { error: error.message }));
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  /**
   * Stops accepting, lets commands in flight finish within the grace
   * period, then closes whatever is left. Safe to call more than once.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const connection of this.#connections) connection.shutdown();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#options.shutdownGraceMs);
    });
    const result = await Promise.race([Promise.allSettled([...this.#served]), grace]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.#options.logger.warn('grace period over; closing remaining connections', { connections: this.#connections.size });
      for (const connection of this.#connections) connection.destroy();
      await Promise.allSettled([...this.#served]);
    }
    await stopped;
    await this.#options.storage.close();
  }

  #accept(socket: net.Socket): void {
    if (this.#closing) {
      socket.on('error', () => undefined);
      socket.end(encodeErrorReply('SHUTTING_DOWN'));
      return;
    }
    if (this.#connections.size >= this.#options.maxConnections) {
      socket.on('error', () => undefined);
      socket.end(encodeErrorReply('TOO_MANY_CONNECTIONS'));
      socket.setTimeout(2000, () => socket.destroy());
      socket.resume();
      return;
    }
    const connection = new Connection(socket, this.#options);
    this.#connections.add(connection);
    const served = connection.serve().finally(() => {
      this.#connections.delete(connection);
      this.#served.delete(served);
    });
    this.#served.add(served);
  }
}
