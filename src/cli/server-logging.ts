/**
 * Where bucketd's log goes: standard error, or a file (--log-file) that
 * SIGHUP reopens, so logrotate can move it away. JSON lines unless a person
 * is watching (standard error on a terminal) or --log-format says so; in
 * batches unless a person is watching (server-log-file.ts).
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
  const watched = process.stderr.isTTY;
  const format = options.format ?? (options.file === undefined && watched ? 'pretty' : 'json');
  if (options.file === undefined) {
    // A person watching sees each line at once; a service manager or a
    // pipe gets them in batches, as a log file does.
    if (watched) return { logger: createLogger(options.level, destination({ dest: 2, sync: true }), format), reopen: () => undefined, flush: () => undefined };
    const batched = LogFile.standardError();
    return { logger: createLogger(options.level, batched, format), reopen: () => undefined, flush: () => batched.flush() };
  }
  // Opened here, so that a file that cannot be written is one line at start.
  const file = new LogFile(options.file, (message) => process.stderr.write(`bucketd: ${message}\n`));
  return { logger: createLogger(options.level, file, format), reopen: () => file.reopen(), flush: () => file.flush() };
}
