/**
 * The server's logger: pino underneath, one event per line, in one of two
 * formats. `json` is for machines (one object per line: time, level, msg,
 * then the event's fields); `pretty` is for people at a terminal
 * (`time level message key=value ...`). Passed in, never global.
 */
import { pino, type Logger as PinoLogger } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFormat = 'json' | 'pretty';

export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /**
   * A logger whose lines all carry these fields, made once (for a
   * connection's many lines); without it, callers pass them on every line.
   */
  child?(fields: LogFields): Logger;
  /**
   * One line whose fields `encode(value)` writes as JSON text, each as
   * `,"key":value`, for the line written on every request: handed an
   * object, a logger turns it into JSON one key at a time, and that took
   * most of the access log's cost on small files. The encoder must leave
   * out secrets itself; nothing redacts its text. Called only at a level
   * that is written.
   */
  encoded?<T>(level: Exclude<LogLevel, 'silent'>, message: string, encode: (value: T) => string, value: T): void;
}

/** Where log lines go: anything with a write(text). */
export interface LogOutput {
  write(text: string): unknown;
}

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];
const FORMATS: readonly LogFormat[] = ['json', 'pretty'];

export function isLogLevel(value: string): value is LogLevel {
  return (LEVELS as readonly string[]).includes(value);
}

export function isLogFormat(value: string): value is LogFormat {
  return (FORMATS as readonly string[]).includes(value);
}

// Keys that must never reach a log whatever a caller passes: a defence in
// depth, since nothing logs them on purpose.
const SECRET_KEYS = ['password', 'proof', 'secret', 'clientFinal', 'clientFirst'];

function formatValue(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

/** One JSON log line as `time level message key=value ...`. */
export function prettyLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const { time, level, msg, ...fields } = record;
  const extra = Object.entries(fields)
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([key, value]) => ` ${key}=${formatValue(value)}`)
    .join('');
  return `${String(time)} ${String(level)} ${String(msg)}${extra}\n`;
}

/** Turns JSON lines into pretty ones on their way to `out`. */
export function prettyOutput(out: LogOutput): LogOutput {
  return { write: (text: string) => out.write(prettyLine(text)) };
}

export function createLogger(level: LogLevel = 'info', out: LogOutput = process.stderr, format: LogFormat = 'pretty'): Logger {
  const destination = format === 'pretty' ? prettyOutput(out) : out;
  // Encoded lines (wrap) are laid out as pino lays out these options'
  // lines; a serializer, mixin, hook or other message key set here would
  // have to be mirrored there.
  const logger: PinoLogger = pino(
    {
      level,
      base: undefined, // no pid or hostname on every line; a supervisor adds its own
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: SECRET_KEYS, remove: true },
    },
    destination as Parameters<typeof pino>[1],
  );
  return wrap(logger, destination, '');
}

// pino's isoTime formats a whole Date on every line; within one second
// only the milliseconds change, so the rest is formatted once a second.
let timeSecond = NaN;
let timePrefix = '';
function isoTime(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== timeSecond) {
    timeSecond = second;
    timePrefix = `,"time":"${new Date(second * 1000).toISOString().slice(0, 20)}`; // up to the '.'
  }
  // A small integer, not a double: it turns into text without a float conversion.
  const ms = (now - second * 1000) | 0;
  return `${timePrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z"`;
}

/** Fields as pino writes a child's bindings: `,"key":value` each, undefined values and secrets left out. */
function bindingsJson(fields: LogFields): string {
  let json = '';
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && !SECRET_KEYS.includes(key)) json += `,${JSON.stringify(key)}:${JSON.stringify(value)}`;
  }
  return json;
}

/**
 * Our Logger over a pino logger. `bindings` is the JSON of the fields its
 * children were made with, which pino writes on each of their lines and
 * encoded lines write the same way, to the same destination.
 */
function wrap(logger: PinoLogger, destination: LogOutput, bindings: string): Logger {
  // pino takes the fields first; undefined values are left out of the line.
  // Its methods for levels below the threshold do nothing already.
  const at =
    (method: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, fields?: LogFields): void => {
      if (fields === undefined) logger[method](message);
      else logger[method](fields, message);
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (fields) => wrap(logger.child(fields), destination, bindings + bindingsJson(fields)),
    encoded(level, message, encode, value) {
      if (!logger.isLevelEnabled(level)) return;
      // As pino lays a line out: level, time, the bindings, the fields, the message.
      destination.write(`{"level":"${level}"${isoTime()}${bindings}${encode(value)},"msg":${JSON.stringify(message)}}\n`);
    },
  };
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
