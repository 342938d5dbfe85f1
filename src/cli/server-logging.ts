/**
 * Where bucketd's log goes: standard error, or a file (--log-file) that
 * SIGHUP reopens, so logrotate can move it away. JSON lines unless a person
 * is watching (standard error on a terminal) or --log-format says so.
 */
import { destination } from 'pino';
import { createLogger, type LogFormat, type Logger, type LogLevel } from '../server/logger.js';
import { LogFile } from './server-log-file.js';

export interface Logging {
  logger: Logger;
  /** Opens the log file again (after logrotate moved it); nothing for standard error. */
  reopen(): void;
  /** Writes out what is still buffered (at exit). */
  flush(): void;
}

export function openLogging(options: { level: LogLevel; format?: LogFormat | undefined; file?: string | undefined }): Logging {
  const format = options.format ?? (options.file === undefined && process.stderr.isTTY ? 'pretty' : 'json');
  if (options.file === undefined) {
    // Written at once, in order with everything else on standard error.
    return { logger: createLogger(options.level, destination({ dest: 2, sync: true }), format), reopen: () => undefined, flush: () => undefined };
  }
  // Opened here, so that a file that cannot be written is one line at start.
  const file = new LogFile(options.file, (message) => process.stderr.write(`bucketd: ${message}\n`));
  return { logger: createLogger(options.level, file, format), reopen: () => file.reopen(), flush: () => file.flush() };
}
