#!/usr/bin/env node
/**
 * bucketd [ROOT] — the server. Keeps buckets as folders under ROOT (asked
 * for if not given, created if absent) and serves them over TCP until
 * SIGINT or SIGTERM.
 */
import readline from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { createLogger, isLogLevel } from '../server/logger.js';
import {
  BucketServer,
  DEFAULT_BUFFER_MEMORY,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  DEFAULT_MIN_RATE,
  DEFAULT_PORT,
  DEFAULT_RATE_WINDOW_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SHUTDOWN_GRACE_MS,
  storageShareOf,
} from '../server/server.js';
import { errnoOf } from '../storage/fs/os-errors.js';
import { FsStorage, UnsafeRootError } from '../storage/fs/fs-storage.js';
import { VERSION } from '../version.js';
import { formatAddress, hostOf, parseByteSize, parseCount, parsePort, parseSeconds, UsageError } from './options.js';

const USAGE = `usage: bucketd [options] [ROOT]

Serves the buckets kept as folders under ROOT (created if absent; asked for
if not given).

options:
  --host HOST              address to listen on (default 127.0.0.1; env BUCKETD_HOST)
  --port PORT              TCP port (default ${DEFAULT_PORT}; 0 takes a free port; env BUCKETD_PORT)
  --idle-timeout SECONDS   close connections idle this long (default ${DEFAULT_IDLE_TIMEOUT_MS / 1000}; 0 = never)
  --request-timeout SECONDS  a request line must arrive whole within this time of its first byte (default ${DEFAULT_REQUEST_TIMEOUT_MS / 1000}; 0 = no limit)
  --min-rate BYTES         slowest body accepted, in bytes per second over each rate window (default ${DEFAULT_MIN_RATE}; 0 = no minimum)
  --rate-window SECONDS    the window of --min-rate (default ${DEFAULT_RATE_WINDOW_MS / 1000})
  --max-file-size SIZE     refuse uploads larger than SIZE, e.g. 10G (default: no limit)
  --max-connections N      clients served at once (default ${DEFAULT_MAX_CONNECTIONS})
  --max-connections-per-address N  clients served at once from one IP address (default ${DEFAULT_MAX_CONNECTIONS_PER_ADDRESS})
  --buffer-memory SIZE     the most held in transfer buffers, all clients together (default ${DEFAULT_BUFFER_MEMORY / 1024 / 1024}M)
  --shutdown-grace SECONDS time transfers get to finish on SIGINT/SIGTERM (default ${DEFAULT_SHUTDOWN_GRACE_MS / 1000})
  --log-level LEVEL        debug, info, warn, error or silent (default info)
  -h, --help               show this help
  -v, --version            show the version`;

function fail(message: string, code: number): never {
  process.stderr.write(`bucketd: ${message}\n`);
  process.exit(code);
}

/** Asks for ROOT: a prompt on a terminal, otherwise one line of stdin. */
async function askForRoot(): Promise<string> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY === true });
  try {
    if (process.stdin.isTTY) return (await rl.question('Folder for the buckets: ')).trim();
    for await (const line of rl) return line.trim();
    return '';
  } finally {
    rl.close();
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'idle-timeout': { type: 'string' },
      'max-file-size': { type: 'string' },
      'max-connections': { type: 'string' },
      'max-connections-per-address': { type: 'string' },
      'request-timeout': { type: 'string' },
      'min-rate': { type: 'string' },
      'rate-window': { type: 'string' },
      'buffer-memory': { type: 'string' },
      'shutdown-grace': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (values.version) {
    process.stdout.write(`bucketd ${VERSION}\n`);
    return;
  }
  if (positionals.length > 1) throw new UsageError('give one ROOT folder at most');
  const logLevel = values['log-level'] ?? 'info';
  if (!isLogLevel(logLevel)) throw new UsageError(`invalid --log-level "${logLevel}"`);
  const host = hostOf(values.host ?? process.env.BUCKETD_HOST);
  const port = parsePort(values.port ?? process.env.BUCKETD_PORT);
  const idleTimeoutMs = values['idle-timeout'] === undefined ? DEFAULT_IDLE_TIMEOUT_MS : parseSeconds(values['idle-timeout'], '--idle-timeout');
  const shutdownGraceMs = values['shutdown-grace'] === undefined ? DEFAULT_SHUTDOWN_GRACE_MS : parseSeconds(values['shutdown-grace'], '--shutdown-grace');
  const maxFileSize = values['max-file-size'] === undefined ? Number.MAX_SAFE_INTEGER : parseByteSize(values['max-file-size'], '--max-file-size');
  const maxConnections = values['max-connections'] === undefined ? DEFAULT_MAX_CONNECTIONS : parseCount(values['max-connections'], '--max-connections');
  const maxConnectionsPerAddress =
    values['max-connections-per-address'] === undefined ? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS : parseCount(values['max-connections-per-address'], '--max-connections-per-address');
  const requestTimeoutMs = values['request-timeout'] === undefined ? DEFAULT_REQUEST_TIMEOUT_MS : parseSeconds(values['request-timeout'], '--request-timeout');
  const minRate = values['min-rate'] === undefined ? DEFAULT_MIN_RATE : parseByteSize(values['min-rate'], '--min-rate');
  const rateWindowMs = values['rate-window'] === undefined ? DEFAULT_RATE_WINDOW_MS : parseSeconds(values['rate-window'], '--rate-window');
  if (rateWindowMs === 0) throw new UsageError('--rate-window must be above 0');
  const bufferMemory = values['buffer-memory'] === undefined ? DEFAULT_BUFFER_MEMORY : parseByteSize(values['buffer-memory'], '--buffer-memory');
  if (bufferMemory < 3 * 1024 * 1024) throw new UsageError('--buffer-memory must be at least 3M');

  const root = positionals[0] ?? (await askForRoot());
  if (root === '') {
    process.stderr.write(`bucketd: no ROOT folder given\n${USAGE.split('\n')[0]}\n`);
    process.exit(2);
  }

  const logger = createLogger(logLevel);
  const storage = await FsStorage.open(root, { writeBufferBytes: storageShareOf(bufferMemory), onRepair: (message) => logger.warn(message) }).catch((error: unknown) => {
    if (error instanceof UnsafeRootError) return fail(`cannot use ${root} as the root folder: ${error.message}`, 1);
    const code = errnoOf(error);
    const reason = code === 'EEXIST' || code === 'ENOTDIR' ? 'it is not a folder' : code === 'EACCES' ? 'permission denied' : (code ?? String(error));
    return fail(`cannot use ${root} as the root folder: ${reason}`, 1);
  });
  const server = new BucketServer({
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
    maxConnectionsPerAddress,
    bufferMemory,
  });
  // Signals are handled before the address is announced, so that whoever
  // reads that line may stop the server at once.
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn('second signal; exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    logger.info('shutting down', { signal, connections: server.connectionCount });
    void server.close().then(() => {
      logger.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  const address = await server.listen().catch((error: unknown) => {
    const reason = errnoOf(error) === 'EADDRINUSE' ? 'address already in use' : errnoOf(error) ?? String(error);
    return fail(`cannot listen on ${formatAddress(host, port)}: ${reason}`, 1);
  });
  process.stdout.write(`bucketd ${VERSION} listening on ${formatAddress(address.address, address.port)} (root ${storage.root})\n`);
}

main().catch((error: unknown) => {
  if (error instanceof UsageError || (error instanceof Error && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
    process.stderr.write(`bucketd: ${error.message}\n${USAGE.split('\n')[0]}\n`);
    process.exit(2);
  }
  fail(error instanceof Error ? error.message : String(error), 1);
});
