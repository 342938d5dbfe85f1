/**
 * The HTTP side for operators, off unless asked for: /metrics for
 * Prometheus, /healthz (the process answers) and /readyz (the store can be
 * written and the server is not draining) for load balancers, and / a
 * status page for people. GET and HEAD only; nothing here changes state.
 *
 * Its sockets live on a worker thread (http-front.ts), so that serving
 * them never slows the protocol's; what each answer says is worked out
 * here, where the metrics and the server are.
 */
import { isIPv6, type AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { BucketError } from '../../errors.js';
import { PROTOCOL_VERSION, VERSION } from '../../version.js';
import type { Logger } from '../logger.js';
import type { Activity } from './activity.js';
import type { FrontJob, FrontMessage, FrontRequest } from './http-front.js';
import type { ServerMetrics } from './metrics.js';
import { renderStatusPage } from './status-page.js';

/** What the endpoints read from the protocol server. */
export interface OpsSource {
  readonly connectionCount: number;
  readonly draining: boolean;
  readonly storeDescription: string;
  uploadsInFlight(): { count: number; stagedBytes: number };
  bucketUsage(limit: number): Promise<{ buckets: Array<{ name: string; files: number; bytes: number }>; more: boolean }>;
  probeStorage(): Promise<void>;
}

export interface OpsHttpOptions {
  host: string;
  port: number;
  source: OpsSource;
  metrics: ServerMetrics;
  activity: Activity;
  logger: Logger;
  startedAt?: Date;
  /** @internal The worker's script; tests give one that fails on purpose. */
  front?: URL;
}

// A probe's answer stands this long: a busy balancer does not hammer the disk.
const PROBE_TTL_MS = 1000;
const STATUS_BUCKETS = 100;
// A worker that dies (a bug, not a request) is started again on the same
// port after this, and after twice as long each time it cannot, up to the most.
const RESTART_MS = 1000;
const MAX_RESTART_MS = 30_000;
// How long a closing worker may take to let its connections go.
const CLOSE_MS = 2000;

interface Reply {
  status: number;
  contentType: string;
  body: string;
}

const TEXT = 'text/plain; charset=utf-8';

export class OpsHttpServer {
  readonly #options: OpsHttpOptions;
  readonly #startedAt: Date;
  #probe: { at: number; result: Promise<string | undefined> } | undefined;
  /** The worker serving, or starting. */
  #worker: Worker | undefined;
  #bound: AddressInfo | undefined;
  #restart: NodeJS.Timeout | undefined;
  #restartDelay = RESTART_MS;
  #closed: Promise<void> | undefined;

  constructor(options: OpsHttpOptions) {
    this.#options = options;
    this.#startedAt = options.startedAt ?? new Date();
  }

  /** Starts the worker; the address it listens on, or the reason it cannot (with its errno code when the system refused). */
  async listen(): Promise<AddressInfo> {
    if (this.#closed !== undefined) throw new Error('the HTTP side is closed');
    this.#bound = await this.#start(this.#options.port);
    return this.#bound;
  }

  /** Stops the worker (a starting one too) and what would restart it; resolves once its thread has ended. */
  close(): Promise<void> {
    this.#closed ??= this.#shut();
    return this.#closed;
  }

  async #shut(): Promise<void> {
    clearTimeout(this.#restart);
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker === undefined) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ kind: 'close' } satisfies FrontRequest);
    const late = setTimeout(() => void worker.terminate(), CLOSE_MS);
    await exited;
    clearTimeout(late);
  }

  #start(port: number): Promise<AddressInfo> {
    const { host, logger } = this.#options;
    const worker = new Worker(this.#options.front ?? new URL('./http-front.js', import.meta.url), { workerData: { host, port } satisfies FrontJob });
    this.#worker = worker;
    return new Promise((resolve, reject) => {
      let listening = false;
      const failed = (error: Error): void => {
        if (this.#worker === worker) this.#worker = undefined;
        void worker.terminate();
        reject(error);
      };
      worker.on('message', (message: FrontMessage) => {
        switch (message.kind) {
          case 'listening':
            listening = true;
            // Closed meanwhile: the worker is closing its server already.
            if (this.#closed !== undefined) reject(new Error('the HTTP side was closed before it listened'));
            else resolve({ address: message.address, port: message.port, family: isIPv6(message.address) ? 'IPv6' : 'IPv4' });
            return;
          case 'listen-failed':
            failed(Object.assign(new Error(message.message), message.code === undefined ? {} : { code: message.code }));
            return;
          case 'request':
            void this.#answer(worker, message.id, message.path);
            return;
          case 'error':
            logger.error('HTTP server error', { error: message.error });
        }
      });
      worker.on('error', (error) => {
        if (!listening) failed(new Error(`the HTTP side could not start: ${error.message}`));
        else logger.error('HTTP side failed', { error: error.message });
      });
      worker.on('exit', (code) => {
        if (!listening) failed(new Error(`the HTTP side stopped before it listened (exit code ${code})`));
        else if (this.#closed === undefined && this.#worker === worker) this.#restartLater();
      });
    });
  }

  /**
   * The worker ended while serving (its open requests are lost with it):
   * the same port again, after 1 s, then 2, 4 ... up to 30 s between tries
   * while it cannot start, until it does or the server closes.
   */
  #restartLater(): void {
    this.#worker = undefined;
    const delay = this.#restartDelay;
    this.#restartDelay = Math.min(delay * 2, MAX_RESTART_MS);
    const { logger } = this.#options;
    logger.warn('HTTP side stopped; starting it again', { inMs: delay });
    this.#restart = setTimeout(() => {
      const port = this.#bound!.port;
      this.#start(port).then(
        () => {
          this.#restartDelay = RESTART_MS;
          logger.info('HTTP side started again', { port });
        },
        (error: unknown) => {
          if (this.#closed !== undefined) return;
          logger.error('HTTP side cannot start again', { error: error instanceof Error ? error.message : String(error) });
          this.#restartLater();
        },
      );
    }, delay);
  }

  async #answer(worker: Worker, id: number, path: string): Promise<void> {
    let reply: Reply;
    try {
      reply = await this.#reply(path);
    } catch (error) {
      this.#options.logger.error('HTTP request failed', { path, error: error instanceof Error ? error.message : String(error) });
      reply = { status: 500, contentType: TEXT, body: 'internal error\n' };
    }
    worker.postMessage({ kind: 'reply', id, ...reply } satisfies FrontRequest);
  }

  /** The answer to a GET of `path`. */
  async #reply(path: string): Promise<Reply> {
    switch (path) {
      case '/metrics': {
        const { text, contentType } = await this.#options.metrics.scrape();
        return { status: 200, contentType, body: text };
      }
      case '/healthz':
        return { status: 200, contentType: TEXT, body: 'ok\n' };
      case '/readyz': {
        const problem = await this.#readiness();
        return problem === undefined ? { status: 200, contentType: TEXT, body: 'ready\n' } : { status: 503, contentType: TEXT, body: `not ready: ${problem}\n` };
      }
      case '/':
        return { status: 200, contentType: 'text/html; charset=utf-8', body: await this.#statusPage() };
      default:
        return { status: 404, contentType: TEXT, body: 'not found; try /, /metrics, /healthz or /readyz\n' };
    }
  }

  /** Why the server is not ready, or undefined when it is. */
  async #readiness(): Promise<string | undefined> {
    const source = this.#options.source;
    if (source.draining) return 'shutting down';
    const now = Date.now();
    if (!this.#probe || now - this.#probe.at >= PROBE_TTL_MS) {
      this.#probe = {
        at: now,
        result: source.probeStorage().then(
          () => undefined,
          (error: unknown) => {
            this.#options.logger.warn('readiness probe failed', { error: error instanceof Error ? error.message : String(error) });
            return `the store cannot be written (${error instanceof BucketError ? error.code : 'INTERNAL'})`;
          },
        ),
      };
    }
    const problem = await this.#probe.result;
    return source.draining ? 'shutting down' : problem;
  }

  async #statusPage(): Promise<string> {
    const source = this.#options.source;
    const { buckets, more } = await source.bucketUsage(STATUS_BUCKETS);
    return renderStatusPage({
      version: VERSION,
      protocol: PROTOCOL_VERSION,
      startedAt: this.#startedAt,
      now: new Date(),
      store: source.storeDescription,
      draining: source.draining,
      connections: source.connectionCount,
      uploads: source.uploadsInFlight(),
      rate: this.#options.activity.rate(),
      buckets,
      moreBuckets: more,
      errors: this.#options.activity.recentErrors(),
    });
  }
}
