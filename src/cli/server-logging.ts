/**
 * Where bucketd's log goes: standard error, or a file (--log-file) that
 * SIGHUP reopens, so logrotate can move it away. JSON lines unless a person
 * is watching (standard error on a terminal) or --log-format says so.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { destination } from 'pino';
import { createLogger, type LogFormat, type Logger, type LogLevel } from '../server/logger.js';
import { errnoOf } from '../storage/fs/os-errors.js';

// A log line reaches the file within this long, or sooner on a busy server.
const FLUSH_EVERY_MS = 200;
const BATCH_BYTES = 8 * 1024;

export interface Logging {
  logger: Logger;
  /** Opens the log file again (after logrotate moved it); nothing for standard error. */
  reopen(): Promise<void>;
  /** Writes out what is still buffered (at exit). */
  flush(): void;
}

export function openLogging(options: { level: LogLevel; format?: LogFormat | undefined; file?: string | undefined }): Logging {
  const format = options.format ?? (options.file === undefined && process.stderr.isTTY ? 'pretty' : 'json');
  if (options.file === undefined) {
    // Written at once, in order with everything else on standard error.
    return { logger: createLogger(options.level, destination({ dest: 2, sync: true }), format), reopen: () => Promise.resolve(), flush: () => undefined };
  }
  const file = options.file;
  try {
    // Opened once here so that a file that cannot be written is one line at
    // start, not an error event later.
    mkdirSync(path.dirname(file), { recursive: true });
    closeSync(openSync(file, 'a', 0o640));
  } catch (error) {
    throw new Error(`cannot write the log file ${file}: ${reasonOf(error)}`);
  }
  // Written in the background and in batches: lines gather until there are
  // BATCH_BYTES of them or FLUSH_EVERY_MS has passed, so a busy server pays
  // one write for many requests (one per request cost it about 5% of its
  // small-file rate) and a request never waits for the log's disk. Flushed
  // at exit, so nothing logged is lost by a clean stop. The batch is kept
  // here, not in sonic-boom (its minLength): that measures the byte length
  // of all it holds on every line, copying the batch each time, which cost
  // the server as much again as the rest of the log.
  const sink = destination({ dest: file, sync: false, append: true, mkdir: true, mode: 0o640 });
  sink.on('error', (error: unknown) => process.stderr.write(`bucketd: cannot write the log file ${file}: ${reasonOf(error)}\n`));
  let batch = '';
  const release = (): void => {
    if (batch === '') return;
    const text = batch;
    batch = '';
    sink.write(text);
  };
  const logger = createLogger(
    options.level,
    {
      write(text: string) {
        batch += text;
        if (batch.length >= BATCH_BYTES) release(); // characters: bytes, for the ASCII most lines are
        return true;
      },
    },
    format,
  );
  setInterval(release, FLUSH_EVERY_MS).unref();
  return {
    logger,
    flush() {
      release();
      try {
        sink.flushSync();
      } catch {
        // Nothing more can be done at exit; the lines are lost with the process.
      }
    },
    async reopen() {
      // What was logged before the rotation belongs in the rotated file.
      release();
      await new Promise<void>((resolve) => {
        sink.flush(() => resolve());
      });
      try {
        sink.reopen();
      } catch (error) {
        // Keep writing where we were; say so where someone will look.
        process.stderr.write(`bucketd: cannot reopen the log file ${file}: ${reasonOf(error)}\n`);
      }
    },
  };
}

function reasonOf(error: unknown): string {
  const code = errnoOf(error);
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a folder';
  if (code === 'ENOTDIR' || code === 'EEXIST') return 'a parent is not a folder';
  return code ?? (error instanceof Error ? error.message : String(error));
}
