/**
 * The access log: one line per request and per connection event, as server
 * hooks. A transfer logs once, at its end, with its bytes and rate. What a
 * request carried (file bodies, login messages) never reaches the log;
 * only the command, its bucket and file name, and the outcome do.
 */
import type { LogFields, Logger } from './logger.js';
import type { CloseReason, RequestRecord, ServerHooks, Session } from './session.js';

const TRANSFERS = new Set(['UPLOAD_FILE', 'DOWNLOAD_FILE']);

export function accessLog(logger: Logger): ServerHooks {
  // Each connection logs through a child that carries its id, peer and user,
  // turned into JSON once (again after a login) rather than on every line.
  const childOf = (fields: LogFields): Logger => (logger.child ? logger.child(fields) : withFields(logger, fields));
  const children = new WeakMap<Session, { user: string | undefined; logger: Logger }>();
  const logOf = (session: Session): Logger => {
    let child = children.get(session);
    if (child === undefined || child.user !== session.user) {
      child = { user: session.user, logger: childOf({ conn: session.id, peer: session.peer, user: session.user }) };
      children.set(session, child);
    }
    return child.logger;
  };
  return {
    onConnectionOpen(session: Session) {
      logOf(session).info('connection opened');
    },
    onConnectionClose(session: Session, reason: CloseReason) {
      logOf(session).info('connection closed', {
        reason,
        requests: session.requests,
        ms: Math.round(Date.now() - session.connectedAt.getTime()),
      });
    },
    onRequestEnd(session: Session, record: RequestRecord) {
      const log = logOf(session);
      const level = record.status >= 500 ? 'error' : 'info';
      if (log.encoded) log.encoded(level, 'request', requestJson, record);
      else log[level]('request', requestFields(record));
    },
  };
}

/** Bytes a second of the body's way, for transfers that ended well. */
function rateOf(record: RequestRecord): number | undefined {
  if (record.outcome !== 'OK' || record.command === undefined || !TRANSFERS.has(record.command) || record.durationMs <= 0) return undefined;
  return Math.round(((record.command === 'UPLOAD_FILE' ? record.bytesIn : record.bytesOut) * 1000) / record.durationMs);
}

/** Milliseconds to a tenth. */
const msOf = (record: RequestRecord): number => Math.round(record.durationMs * 10) / 10;

/** A request line's fields, for a logger that takes them as an object. */
export function requestFields(record: RequestRecord): LogFields {
  return {
    command: record.command ?? '-',
    bucket: record.bucket,
    name: record.name,
    status: record.status,
    code: record.outcome,
    bytesIn: record.bytesIn,
    bytesOut: record.bytesOut,
    ms: msOf(record),
    rate: rateOf(record),
  };
}

/**
 * The same fields as JSON text, in the same order, written straight from
 * the record (no object to walk). The command is a word of the protocol;
 * the bucket, the name and the code are escaped as any text is.
 */
export function requestJson(record: RequestRecord): string {
  let json = `,"command":"${record.command ?? '-'}"`;
  if (record.bucket !== undefined) json += `,"bucket":${jsonString(record.bucket)}`;
  if (record.name !== undefined) json += `,"name":${jsonString(record.name)}`;
  json += `,"status":${jsonNumber(record.status)},"code":${jsonString(record.outcome)},"bytesIn":${jsonNumber(record.bytesIn)},"bytesOut":${jsonNumber(record.bytesOut)},"ms":${msJson(record)}`;
  const rate = rateOf(record);
  return rate === undefined ? json : `${json},"rate":${jsonNumber(rate)}`;
}

/** A number as pino writes it: null when it is not finite. */
const jsonNumber = (value: number): string => (Number.isFinite(value) ? `${value}` : 'null');

/** A string as JSON; most names hold nothing to escape and are only quoted. */
function jsonString(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code > 0x7e || code === 0x22 || code === 0x5c) return JSON.stringify(text);
  }
  return `"${text}"`;
}

/**
 * msOf as JSON writes it (11.4, 2), from whole tenths: integers turn into
 * text from a cache, where a fraction goes through float formatting.
 */
function msJson(record: RequestRecord): string {
  const tenths = Math.round(record.durationMs * 10);
  // Durations are never negative, and never centuries long; were one, it is written as any number is.
  if (!(tenths >= 0 && tenths < 1e15)) return jsonNumber(msOf(record));
  const tenth = tenths % 10;
  const whole = (tenths - tenth) / 10;
  return tenth === 0 ? `${whole}` : `${whole}.${tenth}`;
}

/** A logger that adds `fixed` to every line, for loggers that make no children. */
function withFields(logger: Logger, fixed: LogFields): Logger {
  const at =
    (method: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, fields?: LogFields): void =>
      logger[method](message, { ...fixed, ...fields });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Several observers as one: each hook runs in order; a beforeRequest that throws refuses the request. */
export function combineHooks(...all: Array<ServerHooks | undefined>): ServerHooks {
  const hooks = all.filter((each): each is ServerHooks => each !== undefined);
  const combined: ServerHooks = {};
  if (hooks.some((each) => each.beforeRequest)) {
    combined.beforeRequest = async (session, request) => {
      for (const each of hooks) await each.beforeRequest?.(session, request);
    };
  }
  // Runs on every request: only the hooks that have one, in a plain loop.
  const ends = hooks.filter((each) => each.onRequestEnd);
  if (ends.length > 0) {
    combined.onRequestEnd = (session, record) => {
      for (const each of ends) each.onRequestEnd!(session, record);
    };
  }
  if (hooks.some((each) => each.onConnectionOpen)) combined.onConnectionOpen = (session) => hooks.forEach((each) => each.onConnectionOpen?.(session));
  if (hooks.some((each) => each.onConnectionClose)) combined.onConnectionClose = (session, reason) => hooks.forEach((each) => each.onConnectionClose?.(session, reason));
  if (hooks.some((each) => each.onConnectionRefused)) combined.onConnectionRefused = (address, code) => hooks.forEach((each) => each.onConnectionRefused?.(address, code));
  return combined;
}
