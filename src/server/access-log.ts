/**
 * The access log: one line per request and per connection event, as server
 * hooks. A transfer logs once, at its end, with its bytes and rate. What a
 * request carried (file bodies, login messages) never reaches the log;
 * only the command, its bucket and file name, and the outcome do.
 */
import type { Logger } from './logger.js';
import type { CloseReason, RequestRecord, ServerHooks, Session } from './session.js';

const TRANSFERS = new Set(['UPLOAD_FILE', 'DOWNLOAD_FILE']);

export function accessLog(logger: Logger): ServerHooks {
  return {
    onConnectionOpen(session: Session) {
      logger.info('connection opened', { conn: session.id, peer: session.peer });
    },
    onConnectionClose(session: Session, reason: CloseReason) {
      logger.info('connection closed', {
        conn: session.id,
        peer: session.peer,
        user: session.user,
        reason,
        requests: session.requests,
        ms: Math.round(Date.now() - session.connectedAt.getTime()),
      });
    },
    onRequestEnd(session: Session, record: RequestRecord) {
      const ms = Math.round(record.durationMs * 10) / 10;
      const fields = {
        conn: session.id,
        peer: session.peer,
        user: session.user,
        command: record.command ?? '-',
        bucket: record.bucket,
        name: record.name,
        status: record.status,
        code: record.outcome,
        bytesIn: record.bytesIn,
        bytesOut: record.bytesOut,
        ms,
        // Bytes a second of the body's way, for transfers.
        rate: record.outcome === 'OK' && record.command !== undefined && TRANSFERS.has(record.command) && record.durationMs > 0 ? Math.round(((record.command === 'UPLOAD_FILE' ? record.bytesIn : record.bytesOut) * 1000) / record.durationMs) : undefined,
      };
      if (record.status >= 500) logger.error('request', fields);
      else logger.info('request', fields);
    },
  };
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
  if (hooks.some((each) => each.onRequestEnd)) combined.onRequestEnd = (session, record) => hooks.forEach((each) => each.onRequestEnd?.(session, record));
  if (hooks.some((each) => each.onConnectionOpen)) combined.onConnectionOpen = (session) => hooks.forEach((each) => each.onConnectionOpen?.(session));
  if (hooks.some((each) => each.onConnectionClose)) combined.onConnectionClose = (session, reason) => hooks.forEach((each) => each.onConnectionClose?.(session, reason));
  if (hooks.some((each) => each.onConnectionRefused)) combined.onConnectionRefused = (address, code) => hooks.forEach((each) => each.onConnectionRefused?.(address, code));
  return combined;
}
