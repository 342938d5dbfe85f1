/**
 * A small leveled logger: one line per event, `time level message k=v`,
 * to a stream (stderr by default). Passed in, never global.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export function isLogLevel(value: string): value is LogLevel {
  return Object.prototype.hasOwnProperty.call(RANK, value);
}

function formatValue(value: string | number | boolean): string {
  const text = String(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

export function createLogger(level: LogLevel = 'info', out: { write(text: string): unknown } = process.stderr): Logger {
  const log = (at: Exclude<LogLevel, 'silent'>, message: string, fields: LogFields = {}): void => {
    if (RANK[at] < RANK[level]) return;
    const extra = Object.entries(fields)
      .filter((entry): entry is [string, string | number | boolean] => entry[1] !== undefined)
      .map(([key, value]) => ` ${key}=${formatValue(value)}`)
      .join('');
    out.write(`${new Date().toISOString()} ${at} ${message}${extra}\n`);
  };
  return {
    debug: (message, fields) => log('debug', message, fields),
    info: (message, fields) => log('info', message, fields),
    warn: (message, fields) => log('warn', message, fields),
    error: (message, fields) => log('error', message, fields),
  };
}

export const silentLogger: Logger = createLogger('silent');
