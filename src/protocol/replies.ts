/**
 * Replies: one line `STATUS[,field...] message`, e.g.
 * `201,photos bucket created`. The status is three digits (1xx go ahead,
 * 2xx done, 4xx the request's fault, 5xx the server's); fields are
 * percent-encoded like request fields, so the first space ends them and
 * the rest of the line is a message for people. On errors the first field
 * is the stable error code. Lists follow their head line as one line per
 * item, each made of fields.
 */
import { ERRORS, isErrorCode, type ErrorCode } from '../errors.js';
import { decodeField, encodeField } from './fields.js';
import { splitFields, type ParseResult } from './requests.js';

export interface ReplyHead {
  status: number;
  fields: string[];
  message: string;
}

export const STATUS = {
  /** A login goes on: the server's challenge. */
  CONTINUE: 130,
  GO_AHEAD: 150,
  OK: 200,
  CREATED: 201,
  BYE: 221,
} as const;

/** Keeps a message on one line of printable text. */
const CONTROLS = /[\u0000-\u001f\u007f]+/g;
const HAS_CONTROL = /[\u0000-\u001f\u007f]/;

function oneLine(message: string): string {
  return (HAS_CONTROL.test(message) ? message.replace(CONTROLS, ' ') : message).trim();
}

export function encodeReply(status: number, fields: readonly string[], message: string): Buffer {
  if (!Number.isInteger(status) || status < 100 || status > 599) throw new RangeError(`invalid status ${status}`);
  const head = [String(status), ...fields.map(encodeField)].join(',');
  const text = oneLine(message);
  return Buffer.from(text.length > 0 ? `${head} ${text}\n` : `${head}\n`, 'utf8');
}

export function encodeErrorReply(code: ErrorCode, message: string = ERRORS[code].message, details: readonly string[] = []): Buffer {
  return encodeReply(ERRORS[code].status, [code, ...details], message);
}

/** Encodes one item line of a list: its fields, comma-separated. */
export function encodeItem(fields: readonly string[]): Buffer {
  return Buffer.from(fields.map(encodeField).join(',') + '\n', 'latin1');
}

export function parseReply(line: Uint8Array): ParseResult<ReplyHead> {
  const buffer = Buffer.from(line.buffer, line.byteOffset, line.length);
  const space = buffer.indexOf(0x20);
  const head = space < 0 ? buffer : buffer.subarray(0, space);
  const message = space < 0 ? '' : buffer.subarray(space + 1).toString('utf8');
  const raw = splitFields(head);
  const statusText = Buffer.from(raw[0]!).toString('latin1');
  if (!/^[1-5][0-9][0-9]$/.test(statusText)) return { ok: false, code: 'BAD_FIELD', message: `not a reply line: ${JSON.stringify(buffer.toString('utf8').slice(0, 80))}` };
  const fields: string[] = [];
  for (const rawField of raw.slice(1)) {
    const decoded = decodeField(rawField);
    if (!decoded.ok) return { ok: false, code: 'BAD_ENCODING' };
    fields.push(decoded.value);
  }
  return { ok: true, value: { status: Number(statusText), fields, message } };
}

export function parseItem(line: Uint8Array): ParseResult<string[]> {
  const fields: string[] = [];
  for (const rawField of splitFields(line)) {
    const decoded = decodeField(rawField);
    if (!decoded.ok) return { ok: false, code: 'BAD_ENCODING' };
    fields.push(decoded.value);
  }
  return { ok: true, value: fields };
}

/** The error code of an error reply, if it names a known one. */
export function errorCodeOf(reply: ReplyHead): ErrorCode | undefined {
  const first = reply.fields[0];
  return reply.status >= 400 && first !== undefined && isErrorCode(first) ? first : undefined;
}
