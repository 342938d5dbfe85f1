/**
 * The bucketd TCP server: accepts connections, serves each on its own,
 * and stops gracefully (finishing transfers in flight within a grace).
 * Server-wide budgets live here: connections in all and per address,
 * download buffers, and bytes read ahead of their handlers.
 */
import net, { type AddressInfo } from 'node:net';
import { DEFAULT_MAX_LINE_BYTES } from '../protocol/decoder.js';
import { DEFAULT_HOST, DEFAULT_PORT } from '../protocol/defaults.js';
import { encodeErrorReply } from '../protocol/replies.js';
import type { Storage } from '../storage/storage.js';
import { BufferPool } from '../util/buffer-pool.js';
import { FlowWindow } from '../util/flow.js';
import { Semaphore } from '../util/semaphore.js';
import { accessLog, combineHooks } from './access-log.js';
import { Authority } from './auth/authority.js';
import { QuotaKeeper } from './auth/quotas.js';
import { DEFAULT_UPLOAD_TTL_MS, UploadRegistry } from './uploads.js';
import { Connection } from './connection.js';
import type { UserStore } from './users/index.js';
import { silentLogger, type Logger } from './logger.js';
import type { ServerHooks, Session } from './session.js';
import { TlsGate, type CertificateSummary, type TlsFiles } from './tls.js';

export { DEFAULT_HOST, DEFAULT_PORT } from '../protocol/defaults.js';

export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_MIN_RATE = 1024;
export const DEFAULT_RATE_WINDOW_MS = 30_000;
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
export const DEFAULT_MAX_CONNECTIONS = 1000;
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 32;
export const DEFAULT_BUFFER_MEMORY = 48 * 1024 * 1024;
export const DEFAULT_MAX_CONCURRENT_LISTINGS = 8;
export const DEFAULT_AUTH_TIMEOUT_MS = 10_000;

// The most a refused connection may linger to read its refusal (a TLS
// handshake included).
const REFUSAL_LINGER_MS = 5000;

// Downloads read in chunks of this size, from the server-wide pool.
const DOWNLOAD_CHUNK_BYTES = 256 * 1024;

export interface ServerOptions {
  storage: Storage;
  host?: string;
  port?: number;
  logger?: Logger;
  /** One log line per request and connection event, at info level (default true). */
  accessLog?: boolean;
  hooks?: ServerHooks;
  /** Close connections silent for this long; 0 disables. */
  idleTimeoutMs?: number;
  /** A request line must be whole this long after its first byte; 0 disables. */
  requestTimeoutMs?: number;
  /** Bodies must move at least this many bytes per second over each window; 0 disables. */
  minRate?: number;
  rateWindowMs?: number;
  /** Largest upload accepted, in bytes. */
  maxFileSize?: number;
  maxConnections?: number;
  maxConnectionsPerIp?: number;
  maxLineBytes?: number;
  shutdownGraceMs?: number;
  /**
   * The most the server holds in transfer buffers, all connections
   * together: a third for download buffers, a third for received bytes
   * waiting for their handlers, and a third left for the storage's queue
   * of uploads on their way to the disk (see storageShareOf).
   */
  bufferMemory?: number;
  /** Listings being taken or sent at once; each holds a snapshot of its bucket's names. */
  maxConcurrentListings?: number;
  /** Serve TLS with this certificate and key (PEM), on the same port; plain-text clients are told so. */
  tls?: TlsFiles;
  /**
   * Users, grants and quotas: `await UserStore.open(path.join(root,
   * '.bucketd'))`, the file `bucketd user ...` manages. Without it, or
   * while it holds no user, the server is open to anyone who can reach it.
   */
  users?: UserStore;
  /** Where a login is required, close connections not logged in this long after opening; 0 = never. */
  authTimeoutMs?: number;
  /** Unfinished uploads are removed this long after their last byte arrived; 0 = never. */
  uploadTtlMs?: number;
  /** The time in ms since the epoch, for upload expiry (tests move it on). */
  clock?: () => number;
}

export class BucketServer {
  readonly #options: Required<Omit<ServerOptions, 'tls' | 'users' | 'accessLog' | 'clock'>>;
  readonly #authority: Authority;
  readonly #quotas: QuotaKeeper;
  readonly #staging: UploadRegistry;
  readonly #gate: TlsGate;
  readonly #server: net.Server;
  readonly #connections = new Set<Connection>();
  readonly #perAddress = new Map<string, number>();
  readonly #served = new Set<Promise<void>>();
  readonly #refused = new Set<net.Socket>();
  readonly #downloadBuffers: BufferPool;
  readonly #readBudget: FlowWindow;
  readonly #listings: Semaphore;
  readonly #uploads = new Set<{ readonly received: number }>();
  /** Sockets being served, and the bytes of those already gone, for the totals. */
  readonly #sockets = new Set<net.Socket>();
  #bytesOfClosed = { in: 0, out: 0 };
  #nextSessionId = 1;
  #closing: Promise<void> | undefined;

  constructor(options: ServerOptions) {
    this.#options = {
      host: DEFAULT_HOST,
      port: DEFAULT_PORT,
      logger: silentLogger,
      hooks: {},
      idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
      requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
      minRate: DEFAULT_MIN_RATE,
      rateWindowMs: DEFAULT_RATE_WINDOW_MS,
      maxFileSize: Number.MAX_SAFE_INTEGER,
      maxConnections: DEFAULT_MAX_CONNECTIONS,
      maxConnectionsPerIp: DEFAULT_MAX_CONNECTIONS_PER_IP,
      maxLineBytes: DEFAULT_MAX_LINE_BYTES,
      shutdownGraceMs: DEFAULT_SHUTDOWN_GRACE_MS,
      bufferMemory: DEFAULT_BUFFER_MEMORY,
      maxConcurrentListings: DEFAULT_MAX_CONCURRENT_LISTINGS,
      authTimeoutMs: DEFAULT_AUTH_TIMEOUT_MS,
      uploadTtlMs: DEFAULT_UPLOAD_TTL_MS,
      ...definedOnly(options),
    };
    if (options.accessLog !== false && this.#options.logger !== silentLogger) this.#options.hooks = combineHooks(accessLog(this.#options.logger), this.#options.hooks);
    this.#authority = new Authority(options.users, this.#options.logger);
    this.#staging = new UploadRegistry(this.#options.storage, this.#options.logger, this.#options.uploadTtlMs, options.clock);
    const staging = this.#staging;
    this.#quotas = new QuotaKeeper(this.#options.storage, { quota: (bucket) => options.users?.quota(bucket), staged: (bucket) => staging.heldBytes(bucket) });
    const share = storageShareOf(this.#options.bufferMemory);
    this.#downloadBuffers = new BufferPool(share, DOWNLOAD_CHUNK_BYTES);
    this.#readBudget = new FlowWindow(share);
    this.#listings = new Semaphore(this.#options.maxConcurrentListings);
    const { idleTimeoutMs, requestTimeoutMs, logger } = this.#options;
    this.#gate = new TlsGate(options.tls, { logger, idleTimeoutMs, handshakeTimeoutMs: requestTimeoutMs || idleTimeoutMs });
    // allowHalfOpen: a client that sends its last request and then shuts
    // its side still gets every reply.
    this.#server = net.createServer({ allowHalfOpen: true }, (socket) => this.#accept(socket));
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Whether the server is stopping: it takes no new connections. */
  get draining(): boolean {
    return this.#closing !== undefined;
  }

  /** What the store is, for people: a folder, a URL. */
  get storeDescription(): string {
    return this.#options.storage.description;
  }

  /** Uploads receiving their bodies now, and the bytes they hold that are not stored yet. */
  uploadsInFlight(): { count: number; stagedBytes: number } {
    let stagedBytes = 0;
    for (const upload of this.#uploads) stagedBytes += upload.received;
    return { count: this.#uploads.size, stagedBytes };
  }

  /** Bytes read and written on every connection since the server started. */
  bytesTransferred(): { in: number; out: number } {
    const total = { ...this.#bytesOfClosed };
    for (const socket of this.#sockets) {
      total.in += socket.bytesRead;
      total.out += socket.bytesWritten;
    }
    return total;
  }

  /** Up to `limit` buckets, by name, with what each holds (counted once, then kept up to date). */
  async bucketUsage(limit: number): Promise<{ buckets: Array<{ name: string; files: number; bytes: number }>; more: boolean }> {
    const listing = await this.#options.storage.listBuckets();
    const names: string[] = [];
    for await (const page of listing.pages) {
      for (const bucket of page) if (names.length < limit) names.push(bucket.name);
    }
    const buckets = [];
    for (const name of names) {
      const usage = await this.#quotas.usage(name).catch(() => undefined); // deleted meanwhile
      if (usage) buckets.push({ name, files: usage.files, bytes: usage.bytes });
    }
    return { buckets, more: listing.count > limit };
  }

  /** Resolves when the store can be reached and written; throws why not. */
  probeStorage(): Promise<void> {
    return this.#options.storage.probe();
  }

  /**
   * Serves new connections with this certificate and key; connections in
   * flight keep theirs. A pair that cannot be used throws (TlsSetupError)
   * and the old one stays in use.
   */
  reloadTls(files: TlsFiles): CertificateSummary {
    return this.#gate.reload(files);
  }

  /** Unfinished uploads that wait for a resume (none is being fed), and the bytes they hold. */
  uploadsWaiting(): { count: number; bytes: number } {
    return this.#staging.waitingTotals();
  }

  /** Removes expired unfinished uploads now (the server also does it every minute or so). */
  sweepUploads(): Promise<void> {
    return this.#staging.sweep();
  }

  /**
   * Starts listening (after tidying the unfinished uploads of an earlier
   * run); resolves with the bound address. Rejects if close() was called
   * before it could (a stop asked for during start-up): a closed server
   * never takes its port again.
   */
  async listen(): Promise<AddressInfo> {
    await this.#staging.start();
    if (this.#closing !== undefined) throw new Error('the server was closed before it listened');
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.#server.once('error', onError);
      this.#server.listen(this.#options.port, this.#options.host, () => {
        this.#server.off('error', onError);
        if (this.#closing !== undefined) {
          // Closed while the port was being taken: it is let go again.
          this.#server.close();
          reject(new Error('the server was closed before it listened'));
          return;
        }
        this.#server.on('error', (error) => this.#options.logger.error('server error', { error: error.message }));
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  /**
   * Drains: turns new connections away with SHUTTING_DOWN, lets commands
   * in flight finish within the grace period, then closes whatever is left
   * and the port. Safe to call more than once.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#staging.stop();
    // The port stays open while draining, so that a client that comes now
    // hears why it is turned away (503 SHUTTING_DOWN) rather than a bare refusal.
    for (const connection of this.#connections) connection.shutdown();
    this.#gate.shutdown();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#options.shutdownGraceMs);
    });
    const result = await Promise.race([Promise.allSettled([...this.#served]), grace]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.#options.logger.warn('grace period over; closing remaining connections', { connections: this.#connections.size });
      for (const connection of this.#connections) connection.destroy();
      this.#gate.destroy();
      await Promise.allSettled([...this.#served]);
    }
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#refused) socket.destroy();
    await stopped;
    await this.#options.storage.close();
  }

  /**
   * Sends a refusal and closes (through the gate: inside TLS to a client
   * that starts a handshake). The peer gets a moment to read it, on a hard
   * deadline (a peer that keeps sending cannot hold the socket), and a stop
   * destroys refused sockets still lingering.
   */
  #refuse(socket: net.Socket, line: Buffer): void {
    this.#refused.add(socket);
    const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      this.#refused.delete(socket);
    });
    this.#gate.refuse(socket, line);
  }

  #accept(socket: net.Socket): void {
    const address = socket.remoteAddress ?? '?';
    const refusal = this.#closing
      ? encodeErrorReply('SHUTTING_DOWN')
      : this.#served.size >= this.#options.maxConnections
        ? encodeErrorReply('TOO_MANY_CONNECTIONS')
        : (this.#perAddress.get(address) ?? 0) >= this.#options.maxConnectionsPerIp
          ? encodeErrorReply('TOO_MANY_CONNECTIONS', `too many connections from ${address}; try again later`)
          : undefined;
    if (refusal) {
      this.#options.hooks.onConnectionRefused?.(address, this.#closing ? 'SHUTTING_DOWN' : 'TOO_MANY_CONNECTIONS');
      this.#refuse(socket, refusal);
      return;
    }
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.#bytesOfClosed.in += socket.bytesRead;
      this.#bytesOfClosed.out += socket.bytesWritten;
    });
    const session: Session = {
      id: this.#nextSessionId++,
      remoteAddress: address,
      remotePort: socket.remotePort ?? 0,
      peer: address.includes(':') ? `[${address}]:${socket.remotePort ?? '?'}` : `${address}:${socket.remotePort ?? '?'}`,
      connectedAt: new Date(),
      requests: 0,
    };
    this.#perAddress.set(address, (this.#perAddress.get(address) ?? 0) + 1);
    const served = this.#serve(socket, session).finally(() => {
      const left = (this.#perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(address, left);
      else this.#perAddress.delete(address);
      this.#served.delete(served);
    });
    this.#served.add(served);
  }

  /** Serves one connection, in plain text or inside TLS, once the gate lets it through. */
  async #serve(socket: net.Socket, session: Session): Promise<void> {
    const stream = await this.#gate.open(socket, session.peer);
    if (!stream) return;
    const connection = new Connection(stream, session, {
      ...this.#options,
      downloadBuffers: this.#downloadBuffers,
      readBudget: this.#readBudget,
      listings: this.#listings,
      authority: this.#authority,
      quotas: this.#quotas,
      staging: this.#staging,
      uploads: this.#uploads,
    });
    this.#connections.add(connection);
    if (this.#closing) connection.shutdown();
    try {
      await connection.serve();
    } finally {
      this.#connections.delete(connection);
    }
  }
}

/** The part of a buffer-memory budget each of its three uses gets. */
export function storageShareOf(bufferMemory: number): number {
  return Math.floor(bufferMemory / 3);
}

/** Options given as undefined take their defaults. */
function definedOnly<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as T;
}
