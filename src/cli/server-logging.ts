/**
 * Where bucketd's log goes: standard error, or a file (--log-file) that
 * SIGHUP reopens, so logrotate can move it away. JSON lines unless a person
 * is watching (standard error on a terminal) or --log-format says so.
 */
import { destination } from 'pino';
import { createLogger, type LogFormat, type Logger, type LogLevel } from '../server/logger.js';
import { errnoOf } from '../storage/fs/os-errors.js';

export interface Logging {
  logger: Logger;
  /** Opens the log file again (after logrotate moved it); nothing for standard error. */
  reopen(): void;
}

export function openLogging(options: { level: LogLevel; format?: LogFormat | undefined; file?: string | undefined }): Logging {
  const format = options.format ?? (options.file === undefined && process.stderr.isTTY ? 'pretty' : 'json');
  if (options.file === undefined) {
    // Written at once, in order with everything else on standard error.
    return { logger: createLogger(options.level, destination({ dest: 2, sync: true }), format), reopen: () => undefined };
  }
  const file = options.file;
  let sink;
  try {
    sink = destination({ dest: file, sync: true, append: true, mkdir: true, mode: 0o640 });
  } catch (error) {
    throw new Error(`cannot write the log file ${file}: ${reasonOf(error)}`);
  }
  const logger = createLogger(options.level, sink, format);
  return {
    logger,
    reopen() {
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
  if (code === 'ENOTDIR') return 'a parent is not a folder';
  return code ?? (error instanceof Error ? error.message : String(error));
}
