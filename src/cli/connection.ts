/**
 * The connection a front end works through: opened when first needed,
 * opened again after it was closed (a cancelled transfer closes it), and
 * replaced once, transparently, when the server closed it for being idle.
 */
import { BucketClient, type ConnectOptions } from '../client/client.js';
import { BucketError } from '../errors.js';
import { formatAddress } from './options.js';

export class ServerConnection {
  readonly host: string;
  readonly port: number;
  /** HOST:PORT, as people write it. */
  readonly address: string;
  #connectOptions: Omit<ConnectOptions, 'host' | 'port'>;
  #client: BucketClient | undefined;
  #connecting: Promise<BucketClient> | undefined;
  #noticeListeners = new Set<(notice: BucketError) => void>();
  /** The server said it is shutting down: no point connecting again. */
  #shutDown: BucketError | undefined;

  constructor(host: string, port: number, connectOptions: Omit<ConnectOptions, 'host' | 'port'> = {}) {
    this.host = host;
    this.port = port;
    this.#connectOptions = connectOptions;
    this.address = formatAddress(host, port);
  }

  /** Logs in with these from the next connection on (a connection open now is closed). */
  setCredentials(credentials: NonNullable<ConnectOptions['credentials']>): void {
    this.#connectOptions = { ...this.#connectOptions, credentials };
    this.close();
  }

  /** Runs `work` with a connected client. */
  async use<T>(work: (client: BucketClient) => Promise<T>): Promise<T> {
    const client = await this.#connected();
    try {
      return await work(client);
    } catch (error) {
      if (!(error instanceof BucketError && error.code === 'IDLE_TIMEOUT')) throw error;
      // The server closed a connection left idle; a fresh one will do.
      client.close();
      return work(await this.#connected());
    }
  }

  /**
   * Calls `listener` when the server says, unasked, that it is shutting
   * down or has closed an idle connection. Returns what undoes it.
   */
  onNotice(listener: (notice: BucketError) => void): () => void {
    this.#noticeListeners.add(listener);
    return () => this.#noticeListeners.delete(listener);
  }

  /** Connects now, if not connected (to fail early, before any question). */
  async open(): Promise<void> {
    await this.#connected();
  }

  /** Says goodbye to the server, if connected, and closes. */
  async exit(): Promise<void> {
    await this.#client?.exit();
    this.close();
  }

  close(): void {
    this.#client?.close();
    this.#client = undefined;
  }

  async #connected(): Promise<BucketClient> {
    if (this.#shutDown) throw this.#shutDown;
    if (this.#client !== undefined && !this.#client.closed) return this.#client;
    // Callers that share this connection (pipelined uploads) wait for one connect.
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connect(): Promise<BucketClient> {
    const client = await BucketClient.connect({ ...this.#connectOptions, host: this.host, port: this.port });
    client.onNotice((notice) => {
      if (notice.code === 'SHUTTING_DOWN') this.#shutDown = notice;
      for (const listener of this.#noticeListeners) listener(notice);
    });
    this.#client = client;
    return client;
  }
}
