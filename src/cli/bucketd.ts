#!/usr/bin/env node
/**
 * bucketd [ROOT] — the server. Keeps buckets as folders under ROOT (asked
 * for if not given, created if absent) and serves them over TCP until
 * SIGINT or SIGTERM.
 */
import { createLogger, isLogLevel } from '../server/logger.js';
import { BucketServer, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS, DEFAULT_PORT, DEFAULT_SHUTDOWN_GRACE_MS } from '../server/server.js';
import { errnoOf } from '../storage/fs/os-errors.js';
import { FsStorage } from '../storage/fs/fs-storage.js';
import { VERSION } from '../version.js';
import { runMain } from './main.js';
import { formatAddress, hostOf, parseByteSize, parseCount, parsePort, parseSeconds, UsageError } from './options.js';
import { askForRoot } from './root-prompt.js';

const USAGE = `usage: bucketd [options] [ROOT]

Serves the buckets kept as folders under ROOT (created if absent; asked for
if not given).

options:
  --host HOST              address to listen on (default 127.0.0.1; env BUCKETD_HOST)
  --port PORT              TCP port (default ${DEFAULT_PORT}; 0 takes a free port; env BUCKETD_PORT)
  --idle-timeout SECONDS   close connections idle this long (default ${DEFAULT_IDLE_TIMEOUT_MS / 1000}; 0 = never)
  --max-file-size SIZE     refuse uploads larger than SIZE, e.g. 10G (default: no limit)
  --max-connections N      clients served at once (default ${DEFAULT_MAX_CONNECTIONS})
  --shutdown-grace SECONDS time transfers get to finish on SIGINT/SIGTERM (default ${DEFAULT_SHUTDOWN_GRACE_MS / 1000})
  --log-level LEVEL        debug, info, warn, error or silent (default info)
  -h, --help               show this help
  -V, --version            show the version`;

runMain({
  name: 'bucketd',
  usage: USAGE,
  allowPositionals: true,
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    'idle-timeout': { type: 'string' },
    'max-file-size': { type: 'string' },
    'max-connections': { type: 'string' },
    'shutdown-grace': { type: 'string' },
    'log-level': { type: 'string' },
  },
  async main({ values, positionals }) {
    if (positionals.length > 1) throw new UsageError('give one ROOT folder at most');
    const logLevel = values['log-level'] ?? 'info';
    if (!isLogLevel(logLevel)) throw new UsageError(`invalid --log-level "${logLevel}"`);
    const host = hostOf(values.host ?? process.env.BUCKETD_HOST);
    const port = parsePort(values.port ?? process.env.BUCKETD_PORT);
    const idleTimeoutMs = values['idle-timeout'] === undefined ? DEFAULT_IDLE_TIMEOUT_MS : parseSeconds(values['idle-timeout'], '--idle-timeout');
    const shutdownGraceMs = values['shutdown-grace'] === undefined ? DEFAULT_SHUTDOWN_GRACE_MS : parseSeconds(values['shutdown-grace'], '--shutdown-grace');
    const maxFileSize = values['max-file-size'] === undefined ? Number.MAX_SAFE_INTEGER : parseByteSize(values['max-file-size'], '--max-file-size');
    const maxConnections = values['max-connections'] === undefined ? DEFAULT_MAX_CONNECTIONS : parseCount(values['max-connections'], '--max-connections');

    const root = positionals[0] ?? (await askForRoot(process.stdin, process.stderr, process.stdin.isTTY === true));
    if (root === undefined || root === '') throw new UsageError('no ROOT folder given');

    const logger = createLogger(logLevel);
    const storage = await FsStorage.open(root).catch((error: unknown) => {
      const code = errnoOf(error);
      const reason = code === 'EEXIST' || code === 'ENOTDIR' ? 'it is not a folder' : code === 'EACCES' ? 'permission denied' : (code ?? String(error));
      throw new Error(`cannot use ${root} as the root folder: ${reason}`);
    });
    const server = new BucketServer({ storage, host, port, logger, idleTimeoutMs, shutdownGraceMs, maxFileSize, maxConnections });
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
      const reason = errnoOf(error) === 'EADDRINUSE' ? 'address already in use' : (errnoOf(error) ?? String(error));
      throw new Error(`cannot listen on ${formatAddress(host, port)}: ${reason}`);
    });
    process.stdout.write(`bucketd ${VERSION} listening on ${formatAddress(address.address, address.port)} (root ${storage.root})\n`);
    return undefined; // serves until a signal stops it
  },
});
