#!/usr/bin/env -S node --max-semi-space-size=2
// The first line gives the server a small young generation: moving bytes
// through many sockets, it would otherwise hold tens of MiB of dead buffers
// between collections. Wherever bucketd is started by path (npm run server,
// the tests, the benchmarks) the same flag is passed.
/**
 * bucketd [ROOT] — the server. Keeps buckets as folders under ROOT (asked
 * for if not given, created if absent) and serves them over TCP until
 * SIGINT or SIGTERM. `bucketd user ...` and `bucketd bucket ...` manage its
 * users and quotas instead (server-users.ts).
 */
import { isLogFormat, isLogLevel } from '../server/logger.js';
import type { OpsHttpServer } from '../server/ops/http.js';
import { DEFAULT_UPLOAD_TTL_MS } from '../server/uploads.js';
import {
  BucketServer,
  DEFAULT_AUTH_TIMEOUT_MS,
  DEFAULT_BUFFER_MEMORY,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_IP,
  DEFAULT_MIN_RATE,
  DEFAULT_PORT,
  DEFAULT_RATE_WINDOW_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SHUTDOWN_GRACE_MS,
  storageShareOf,
} from '../server/server.js';
import { errnoOf, fileErrorReason } from '../util/file-errors.js';
import { UnsafeRootError } from '../storage/fs/fs-storage.js';
import { openStorage, UnsupportedStoreError } from '../storage/open.js';
import { VERSION } from '../version.js';
import { combineHooks } from '../server/access-log.js';
import { runMain } from './main.js';
import { formatAddress, hostOf, parseByteSize, parseCount, parseDuration, parsePort, parseSeconds, UsageError } from './options.js';
import { holdRoot, RootHeldError, type RootHold } from './root-hold.js';
import { askForRoot } from './root-prompt.js';
import { openAccess } from './server-access.js';
import { openLogging } from './server-logging.js';
import { loadTlsFiles, tlsPathsOf, tlsReloader } from './server-tls.js';

const USAGE = `usage: bucketd [options] [ROOT]

Serves the buckets kept as folders under ROOT (created if absent; asked for
if not given).

options:
  --host HOST              address to listen on (default 127.0.0.1; env BUCKETD_HOST)
  --port PORT              TCP port (default ${DEFAULT_PORT}; 0 takes a free port; env BUCKETD_PORT)
  --idle-timeout SECONDS   close connections idle this long (default ${DEFAULT_IDLE_TIMEOUT_MS / 1000}; 0 = never)
  --request-timeout SECONDS  a request line must arrive whole this long after its
                           first byte (default ${DEFAULT_REQUEST_TIMEOUT_MS / 1000}; 0 = no limit)
  --min-rate BYTES         slowest body accepted, in bytes per second over each
                           rate window (default ${DEFAULT_MIN_RATE}; 0 = no minimum)
  --rate-window SECONDS    the window of --min-rate (default ${DEFAULT_RATE_WINDOW_MS / 1000})
  --max-file-size SIZE     refuse uploads larger than SIZE, e.g. 10G (default: no limit)
  --max-connections N      clients served at once (default ${DEFAULT_MAX_CONNECTIONS})
  --max-connections-per-ip N  clients served at once from one IP address (default ${DEFAULT_MAX_CONNECTIONS_PER_IP})
  --buffer-memory SIZE     the most held in transfer buffers, all clients together
                           (default ${DEFAULT_BUFFER_MEMORY / 1024 / 1024}M)
  --shutdown-grace SECONDS time transfers get to finish on SIGINT/SIGTERM (default ${DEFAULT_SHUTDOWN_GRACE_MS / 1000})
  --auth-timeout SECONDS   where a login is required, close connections not
                           logged in this long after opening (default ${DEFAULT_AUTH_TIMEOUT_MS / 1000}; 0 = never)
  --upload-ttl DURATION    remove unfinished uploads this long after their last
                           byte, e.g. 30m, 24h, 7d (default 24h; 0 = never)
  --allow-anonymous        serve with no users on an address other than loopback
                           (anyone who reaches it may do anything)
  --log-level LEVEL        debug, info, warn, error or silent (default info)
  --log-format FORMAT      json (one object per line) or pretty (default: pretty
                           on a terminal, json otherwise)
  --log-file FILE          log to FILE instead of standard error; SIGHUP reopens it
  --http-port PORT         serve /metrics, /healthz, /readyz and a status page
                           at / over HTTP on PORT (default: off)
  --http-host HOST         address for --http-port (default: the same as --host)
  --metrics-gc             add nodejs_gc_duration_seconds to /metrics (it costs
                           1-2% of the rate on 4 KiB files; docs/OPERATIONS.md)
  --tls-cert FILE          serve TLS on the same port, with this certificate (PEM)
  --tls-key FILE           and this private key (PEM); give both or neither;
                           SIGHUP reads them again (and reopens --log-file)
  -h, --help               show this help
  -V, --version            show the version

bucketd user ... and bucketd bucket ... manage users, grants and quotas
(bucketd user --help). A ROOT folder named user or bucket is written ./user.`;

/** `bucketd user ...` or `bucketd bucket ...`: the word must come first. */
function adminProgramOf(args: readonly string[]): 'user' | 'bucket' | undefined {
  return args[0] === 'user' || args[0] === 'bucket' ? args[0] : undefined;
}

// The management commands are loaded only when asked for: a serving
// process does not carry them.
const adminProgram = adminProgramOf(process.argv.slice(2));
// Set once the log is open: log lines still in a batch go out before a failure's line.
let flushLog = (): void => undefined;
if (adminProgram !== undefined) void import('./server-users.js').then(({ runAdminProgram }) => runAdminProgram(adminProgram));
else runMain({
  name: 'bucketd',
  usage: USAGE,
  allowPositionals: true,
  beforeFailure: () => flushLog(),
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    'idle-timeout': { type: 'string' },
    'request-timeout': { type: 'string' },
    'min-rate': { type: 'string' },
    'rate-window': { type: 'string' },
    'max-file-size': { type: 'string' },
    'max-connections': { type: 'string' },
    'max-connections-per-ip': { type: 'string' },
    'buffer-memory': { type: 'string' },
    'shutdown-grace': { type: 'string' },
    'log-level': { type: 'string' },
    'log-format': { type: 'string' },
    'log-file': { type: 'string' },
    'http-port': { type: 'string' },
    'http-host': { type: 'string' },
    'metrics-gc': { type: 'boolean' },
    'auth-timeout': { type: 'string' },
    'upload-ttl': { type: 'string' },
    'allow-anonymous': { type: 'boolean' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
  },
  async main({ values, positionals }) {
    if (positionals.length > 1) throw new UsageError('give one ROOT folder at most');
    const word = positionals[0];
    if (word !== undefined && adminProgramOf([word]) !== undefined) {
      throw new UsageError(`the ${word} commands come first (bucketd ${word} ...); a ROOT folder named ${word} is written ./${word}`);
    }
    const logLevel = values['log-level'] ?? 'info';
    if (!isLogLevel(logLevel)) throw new UsageError(`invalid --log-level "${logLevel}"`);
    const logFormat = values['log-format'];
    if (logFormat !== undefined && !isLogFormat(logFormat)) throw new UsageError(`invalid --log-format "${logFormat}"; use json or pretty`);
    if (values['log-file'] === '') throw new UsageError('--log-file needs a file name');
    if (values['http-host'] !== undefined && values['http-port'] === undefined) throw new UsageError('--http-host goes with --http-port');
    if (values['http-port'] === '') throw new UsageError('--http-port needs a port number');
    if (values['metrics-gc'] === true && values['http-port'] === undefined) throw new UsageError('--metrics-gc goes with --http-port');
    const httpPort = values['http-port'] === undefined ? undefined : parsePort(values['http-port']);
    const host = hostOf(values.host ?? process.env.BUCKETD_HOST);
    const port = parsePort(values.port ?? process.env.BUCKETD_PORT);
    const given = values as Record<string, string | undefined>;
    const seconds = (option: string, fallbackMs: number): number => {
      const text = given[option];
      return text === undefined ? fallbackMs : parseSeconds(text, `--${option}`);
    };
    const count = (option: string, fallback: number): number => {
      const text = given[option];
      return text === undefined ? fallback : parseCount(text, `--${option}`);
    };
    const bytes = (option: string, fallback: number): number => {
      const text = given[option];
      return text === undefined ? fallback : parseByteSize(text, `--${option}`);
    };
    const idleTimeoutMs = seconds('idle-timeout', DEFAULT_IDLE_TIMEOUT_MS);
    const requestTimeoutMs = seconds('request-timeout', DEFAULT_REQUEST_TIMEOUT_MS);
    const rateWindowMs = seconds('rate-window', DEFAULT_RATE_WINDOW_MS);
    if (rateWindowMs === 0) throw new UsageError('--rate-window must be above 0');
    const shutdownGraceMs = seconds('shutdown-grace', DEFAULT_SHUTDOWN_GRACE_MS);
    const minRate = bytes('min-rate', DEFAULT_MIN_RATE);
    const maxFileSize = bytes('max-file-size', Number.MAX_SAFE_INTEGER);
    const bufferMemory = bytes('buffer-memory', DEFAULT_BUFFER_MEMORY);
    if (bufferMemory < 3 * 1024 * 1024) throw new UsageError('--buffer-memory must be at least 3M');
    const maxConnections = count('max-connections', DEFAULT_MAX_CONNECTIONS);
    const maxConnectionsPerIp = count('max-connections-per-ip', DEFAULT_MAX_CONNECTIONS_PER_IP);
    const tlsPaths = tlsPathsOf(values['tls-cert'], values['tls-key']);

    const root = positionals[0] ?? (await askForRoot(process.stdin, process.stderr, process.stdin.isTTY === true));
    if (root === undefined || root === '') throw new UsageError('no ROOT folder given');

    const logging = openLogging({ level: logLevel, format: logFormat, file: values['log-file'] });
    const logger = logging.logger;
    flushLog = () => logging.flush();
    process.on('exit', () => logging.flush());
    const tls = tlsPaths && (await loadTlsFiles(tlsPaths, logger));
    let rootHold: RootHold | undefined;
    const storage = await openStorage(root, {
      writeBufferBytes: storageShareOf(bufferMemory),
      onRepair: (message) => logger.warn(message),
      hold: async (bookkeepingDir) => {
        rootHold = await holdRoot(bookkeepingDir, (message) => logger.warn(message));
      },
    }).catch((error: unknown) => {
      if (error instanceof UnsafeRootError || error instanceof UnsupportedStoreError || error instanceof RootHeldError) throw new Error(`cannot use ${root} as the root folder: ${error.message}`);
      const reason = fileErrorReason(error, { EEXIST: 'it is not a folder', ENOTDIR: 'it is not a folder' });
      throw new Error(`cannot use ${root} as the root folder: ${reason}`);
    });
    const users = await openAccess(root, host, values['allow-anonymous'] === true, logger);
    // Metrics and the status page see the server through hooks; they exist
    // only when the HTTP side is on.
    let server: BucketServer | undefined;
    // Loaded only then: prom-client and the HTTP server are memory a server without them does not pay for.
    const ops = httpPort === undefined ? undefined : await Promise.all([import('../server/ops/metrics.js'), import('../server/ops/activity.js'), import('../server/ops/http.js')]);
    const metrics = ops === undefined ? undefined : new ops[0].ServerMetrics(() => server, { gc: values['metrics-gc'] === true });
    const activity = ops === undefined ? undefined : new ops[1].Activity(() => server?.bytesTransferred() ?? { in: 0, out: 0 });
    server = new BucketServer({
      hooks: combineHooks(metrics?.hooks, activity?.hooks),
      users,
      authTimeoutMs: seconds('auth-timeout', DEFAULT_AUTH_TIMEOUT_MS),
      uploadTtlMs: given['upload-ttl'] === undefined ? DEFAULT_UPLOAD_TTL_MS : parseDuration(given['upload-ttl'], '--upload-ttl'),
      storage,
      host,
      port,
      logger,
      idleTimeoutMs,
      requestTimeoutMs,
      minRate,
      rateWindowMs,
      shutdownGraceMs,
      maxFileSize,
      maxConnections,
      maxConnectionsPerIp,
      bufferMemory,
      tls,
    });
    const running = server;
    // Signals are handled before the address is announced, so that whoever
    // reads that line may stop the server at once.
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        logger.warn('second signal; exiting now', { signal });
        process.exit(1);
      }
      stopping = true;
      logger.info('shutting down', { signal, connections: running.connectionCount });
      void running.close().then(async () => {
        activity?.stop();
        metrics?.close();
        await opsServer?.close();
        users.close();
        // ROOT is let go here, before the last line, rather than by the exit.
        rootHold?.release();
        logger.info('stopped');
        process.exit(0);
      });
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    // SIGHUP: the log file first (so what follows lands in the new one), then TLS.
    const reloadTls = tlsPaths && tlsReloader(running, tlsPaths, logger);
    let hangups = Promise.resolve();
    process.on('SIGHUP', () => {
      hangups = hangups.then(async () => {
        logging.reopen();
        logger.info('SIGHUP', { logFile: values['log-file'], tls: reloadTls !== undefined });
        await reloadTls?.();
      });
    });
    const cannotListen = (where: string) => (error: unknown) => {
      const errno = errnoOf(error);
      // Without an errno the system did not refuse: the reason is the message (the HTTP side's thread could not start).
      const reason = errno === 'EADDRINUSE' ? 'address already in use' : (errno ?? (error instanceof Error ? error.message : String(error)));
      throw new Error(`cannot listen on ${where}: ${reason}`);
    };
    let opsServer: OpsHttpServer | undefined;
    let httpLine = '';
    if (httpPort !== undefined && ops && metrics && activity) {
      const httpHost = hostOf(values['http-host'] ?? host);
      opsServer = new ops[2].OpsHttpServer({ host: httpHost, port: httpPort, source: running, metrics, activity, logger });
      const bound = await opsServer.listen().catch(cannotListen(formatAddress(httpHost, httpPort)));
      httpLine = `bucketd http on http://${formatAddress(bound.address, bound.port)}/ (/metrics, /healthz, /readyz)\n`;
    }
    const address = await running.listen().catch((error: unknown) => {
      // A signal during start-up: the stop under way ends the process (exit 0).
      if (stopping) return new Promise<never>(() => undefined);
      return cannotListen(formatAddress(host, port))(error);
    });
    // What start-up logged (a warning about the address, a repair) is out before the address is announced.
    logging.flush();
    process.stdout.write(`bucketd ${VERSION} listening on ${formatAddress(address.address, address.port)}${tls ? ' with TLS' : ''} (root ${storage.description})\n${httpLine}`);
    return undefined; // serves until a signal stops it
  },
});
