/**
 * Prometheus metrics for one server, in a registry of their own (so two
 * servers in one process never mix). Counters move in the request and
 * connection hooks; gauges are read from the server when scraped.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { COMMANDS } from '../../protocol/requests.js';
import { VERSION } from '../../version.js';
import type { ServerHooks } from '../session.js';
import { collectNodeMetrics } from './node-metrics.js';
import { FastCounter, FastHistogram } from './request-series.js';

/** What the gauges read at scrape time. */
export interface MetricsSource {
  readonly connectionCount: number;
  readonly draining: boolean;
  uploadsInFlight(): { count: number; stagedBytes: number };
  uploadsWaiting(): { count: number; bytes: number };
}

const EVENT_LOOP_SAMPLE_MS = 100;

// Codes that mean the store failed, not the request.
const STORAGE_FAILURES = new Set(['STORAGE_FAILED', 'NO_SPACE', 'CORRUPT_FILE', 'INTERNAL']);
// Why a connection can be turned away before it is served (server.ts).
const REFUSALS: ReadonlyArray<Parameters<NonNullable<ServerHooks['onConnectionRefused']>>[1]> = ['TOO_MANY_CONNECTIONS', 'SHUTTING_DOWN'];

// Seconds: from a small file on loopback to a large one over a slow link.
const TRANSFER_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800];
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

export interface ServerMetricsOptions {
  /** Also nodejs_gc_duration_seconds, at a price on small requests (node-metrics.ts). */
  gc?: boolean;
}

export class ServerMetrics {
  readonly registry = new Registry();
  readonly hooks: ServerHooks;
  readonly #stopNodeMetrics: () => void;

  constructor(source: () => MetricsSource | undefined, options: ServerMetricsOptions = {}) {
    const registers = [this.registry];
    // Node's own metrics. The event loop's delay is sampled every 100 ms, not
    // prom-client's 10: a timer that wakes the loop 100 times a second cost
    // about 2% of the server's time on small files, for no better a picture.
    this.#stopNodeMetrics = collectNodeMetrics(this.registry, { eventLoopSampleMs: EVENT_LOOP_SAMPLE_MS, gc: options.gc === true });
    new Gauge({ name: 'bucketd_info', help: 'Always 1; the version as a label', labelNames: ['version'], registers }).set({ version: VERSION }, 1);
    new Gauge({
      name: 'bucketd_connections_open',
      help: 'Connections being served now',
      registers,
      collect() {
        this.set(source()?.connectionCount ?? 0);
      },
    });
    new Gauge({
      name: 'bucketd_draining',
      help: '1 while the server is shutting down (it takes no new connections)',
      registers,
      collect() {
        this.set(source()?.draining ? 1 : 0);
      },
    });
    new Gauge({
      name: 'bucketd_uploads_in_flight',
      help: 'Uploads receiving their bodies now',
      registers,
      collect() {
        this.set(source()?.uploadsInFlight().count ?? 0);
      },
    });
    new Gauge({
      name: 'bucketd_upload_staged_bytes',
      help: 'Bytes received by uploads in flight, not stored yet',
      registers,
      collect() {
        this.set(source()?.uploadsInFlight().stagedBytes ?? 0);
      },
    });
    new Gauge({
      name: 'bucketd_uploads_waiting',
      help: 'Unfinished uploads waiting for a resume (their connection broke)',
      registers,
      collect() {
        this.set(source()?.uploadsWaiting().count ?? 0);
      },
    });
    new Gauge({
      name: 'bucketd_uploads_waiting_bytes',
      help: 'Bytes held by unfinished uploads waiting for a resume',
      registers,
      collect() {
        this.set(source()?.uploadsWaiting().bytes ?? 0);
      },
    });
    const connections = new Counter({ name: 'bucketd_connections_total', help: 'Connections served since start', registers });
    const closed = new Counter({ name: 'bucketd_connections_closed_total', help: 'Connections ended, by why', labelNames: ['reason'], registers });
    const refused = new Counter({ name: 'bucketd_connections_refused_total', help: 'Connections turned away before being served, by code', labelNames: ['code'], registers });
    // What moves on every request is kept as plain numbers (request-series.ts).
    const requests = new FastCounter({ name: 'bucketd_requests_total', help: 'Requests, by command, reply status and outcome code', labelNames: ['command', 'status', 'code'], registers });
    const received = new FastCounter({ name: 'bucketd_received_bytes_total', help: 'Bytes received in requests (lines and bodies), by command', labelNames: ['command'], registers });
    const sent = new FastCounter({ name: 'bucketd_sent_bytes_total', help: 'Bytes sent in replies (lines and bodies), by command', labelNames: ['command'], registers });
    const requestSeconds = new FastHistogram({ name: 'bucketd_request_duration_seconds', help: 'Time from a request line to its last reply, by command (transfers included)', labelNames: ['command'], buckets: REQUEST_BUCKETS, registers });
    const transferSeconds = new FastHistogram({ name: 'bucketd_transfer_duration_seconds', help: 'Time of uploads and downloads, from request to last reply, by direction and outcome', labelNames: ['direction', 'outcome'], buckets: TRANSFER_BUCKETS, registers });
    const storageErrors = new FastCounter({ name: 'bucketd_storage_errors_total', help: 'Requests that failed in the store, by command and code', labelNames: ['command', 'code'], registers });
    const loginFailures = new Counter({ name: 'bucketd_login_failures_total', help: 'Failed logins (wrong password, unknown user or malformed exchange)', registers });
    // Series an alert watches exist from the start, at 0: a series that
    // first appears at 1 shows no increase, and the first failure would
    // raise no alert.
    for (const command of COMMANDS) for (const code of STORAGE_FAILURES) storageErrors.add([command, code], 0);
    for (const code of REFUSALS) refused.inc({ code }, 0);

    this.hooks = {
      onConnectionOpen: () => connections.inc(),
      onConnectionClose: (_session, reason) => closed.inc({ reason }),
      onConnectionRefused: (_address, code) => refused.inc({ code }),
      onRequestEnd: (_session, record) => {
        const command = record.command ?? 'invalid';
        const byCommand = [command];
        requests.add([command, String(record.status), record.outcome]);
        if (record.bytesIn > 0) received.add(byCommand, record.bytesIn);
        if (record.bytesOut > 0) sent.add(byCommand, record.bytesOut);
        const seconds = record.durationMs / 1000;
        requestSeconds.observe(byCommand, seconds);
        if (command === 'UPLOAD_FILE' || command === 'DOWNLOAD_FILE') {
          transferSeconds.observe([command === 'UPLOAD_FILE' ? 'upload' : 'download', record.outcome === 'OK' ? 'ok' : 'failed'], seconds);
        }
        if (STORAGE_FAILURES.has(record.outcome)) storageErrors.add([command, record.outcome]);
        if (command === 'LOGIN_PROOF' && record.outcome === 'AUTH_FAILED') loginFailures.inc();
      },
    };
  }

  /** Stops observing garbage collections, where --metrics-gc asked for it. */
  close(): void {
    this.#stopNodeMetrics();
  }

  /** The text a Prometheus scrape gets, and its content type. */
  async scrape(): Promise<{ text: string; contentType: string }> {
    return { text: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
