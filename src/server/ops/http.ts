/**
 * The HTTP side for operators, off unless asked for: /metrics for
 * Prometheus, /healthz (the process answers) and /readyz (the store can be
 * written and the server is not draining) for load balancers, and / a
 * status page for people. GET and HEAD only; nothing here changes state.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BucketError } from '../../errors.js';
import { PROTOCOL_VERSION, VERSION } from '../../version.js';
import type { Logger } from '../logger.js';
import type { Activity } from './activity.js';
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
}

// A probe's answer stands this long: a busy balancer does not hammer the disk.
const PROBE_TTL_MS = 1000;
const STATUS_BUCKETS = 100;

export class OpsHttpServer {
  readonly #options: OpsHttpOptions;
  readonly #server: http.Server;
  readonly #startedAt: Date;
  #probe: { at: number; result: Promise<string | undefined> } | undefined;

  constructor(options: OpsHttpOptions) {
    this.#options = options;
    this.#startedAt = options.startedAt ?? new Date();
    this.#server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        options.logger.error('HTTP request failed', { path: request.url, error: error instanceof Error ? error.message : String(error) });
        if (!response.headersSent) send(response, 500, 'text/plain; charset=utf-8', 'internal error\n');
        else response.destroy();
      });
    });
    this.#server.keepAliveTimeout = 5_000;
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.host, () => {
        this.#server.off('error', reject);
        this.#server.on('error', (error) => this.#options.logger.error('HTTP server error', { error: error.message }));
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  async #handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      send(response, 405, 'text/plain; charset=utf-8', 'only GET and HEAD\n');
      return;
    }
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    switch (path) {
      case '/metrics': {
        const { text, contentType } = await this.#options.metrics.scrape();
        send(response, 200, contentType, text);
        return;
      }
      case '/healthz':
        send(response, 200, 'text/plain; charset=utf-8', 'ok\n');
        return;
      case '/readyz': {
        const problem = await this.#readiness();
        if (problem === undefined) send(response, 200, 'text/plain; charset=utf-8', 'ready\n');
        else send(response, 503, 'text/plain; charset=utf-8', `not ready: ${problem}\n`);
        return;
      }
      case '/':
        send(response, 200, 'text/html; charset=utf-8', await this.#statusPage());
        return;
      default:
        send(response, 404, 'text/plain; charset=utf-8', 'not found; try /, /metrics, /healthz or /readyz\n');
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

function send(response: http.ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}
