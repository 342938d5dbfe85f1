/**
 * Requests: one line, the command word then its fields, comma-separated,
 * no spaces (the seed's rule), e.g. `UPLOAD_FILE,photos,cat.jpg,52133`.
 */
import type { ErrorCode } from '../errors.js';
import { assertNever } from '../util/never.js';
import { isSha256Hex } from '../util/sha256.js';
import { isUploadId } from '../util/upload-id.js';

export { isUploadId };
import { decodeField, encodeField } from './fields.js';

export const COMMANDS = [
  'HELLO',
  'EXIT',
  'NEW_BUCKET',
  'LIST_BUCKET',
  'DELETE_BUCKET',
  'UPLOAD_FILE',
  'LIST_FILE',
  'DOWNLOAD_FILE',
  'DELETE_FILE',
  // Protocol 2: logging in, a bucket's usage and quota, grants by a bucket's admin.
  'LOGIN',
  'LOGIN_PROOF',
  'BUCKET_INFO',
  'GRANT',
  // Protocol 4: resumable uploads. (Protocol 5 adds no command: UPLOAD_FILE
  // takes an optional SHA-256, and then its body follows at once.)
  'RESUME_UPLOAD',
  'LIST_UPLOADS',
  'ABORT_UPLOAD',
] as const;

export type Command = (typeof COMMANDS)[number];

export function isCommand(word: string): word is Command {
  return (COMMANDS as readonly string[]).includes(word);
}

/** The word that asks DELETE_BUCKET to delete the bucket's files too. */
export const FORCE_FLAG = 'FORCE';

export type Request =
  | { command: 'HELLO' }
  | { command: 'EXIT' }
  | { command: 'NEW_BUCKET'; bucket: string }
  | { command: 'LIST_BUCKET' }
  | { command: 'DELETE_BUCKET'; bucket: string; force: boolean }
  /** With `sha256` (protocol 5) the body follows the line at once, with no go-ahead and no trailer. */
  | { command: 'UPLOAD_FILE'; bucket: string; name: string; size: number; sha256?: string }
  | { command: 'LIST_FILE'; bucket: string; prefix?: string; delimiter?: Delimiter }
  | { command: 'DOWNLOAD_FILE'; bucket: string; name: string; offset?: number }
  | { command: 'DELETE_FILE'; bucket: string; name: string }
  | { command: 'LOGIN'; mechanism: string; message: string }
  | { command: 'LOGIN_PROOF'; message: string }
  | { command: 'BUCKET_INFO'; bucket: string }
  | { command: 'GRANT'; bucket: string; user: string; permission: GrantedPermission }
  | { command: 'RESUME_UPLOAD'; id: string; offset?: number }
  | { command: 'LIST_UPLOADS'; bucket?: string }
  | { command: 'ABORT_UPLOAD'; id: string };


/** The one folder separator a listing may fold names at (protocol 3). */
export const DELIMITER = '/';
export type Delimiter = typeof DELIMITER;
/** A listing prefix is at most as long as a whole file name. */
export const MAX_PREFIX_BYTES = 1024;
// C0 controls, DEL and C1 controls: no file name holds one, so no prefix may.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** What GRANT may give: a permission, or `none` to take one back. */
export const GRANTABLE = ['read', 'write', 'admin', 'none'] as const;
export type GrantedPermission = (typeof GRANTABLE)[number];

export function isGrantable(word: string): word is GrantedPermission {
  return (GRANTABLE as readonly string[]).includes(word);
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; message?: string };

/**
 * A request that could not be parsed, and what follows its line: for an
 * upload sent at once (see bodyBehind), `body` bytes that are no request,
 * or `unframed` when its size cannot be read or its shape says nothing
 * sure, so that no one can tell where the next request starts.
 */
export type RequestFailure = Extract<ParseResult<never>, { ok: false }> & { body?: number; unframed?: true };

// Field counts after the command word: [min, max].
const FIELD_COUNTS: Record<Command, readonly [number, number]> = {
  HELLO: [0, 0],
  EXIT: [0, 0],
  NEW_BUCKET: [1, 1],
  LIST_BUCKET: [0, 0],
  DELETE_BUCKET: [1, 2],
  UPLOAD_FILE: [3, 4],
  LIST_FILE: [1, 3],
  DOWNLOAD_FILE: [2, 3],
  DELETE_FILE: [2, 2],
  LOGIN: [2, 2],
  LOGIN_PROOF: [1, 1],
  BUCKET_INFO: [1, 1],
  GRANT: [3, 3],
  RESUME_UPLOAD: [1, 2],
  LIST_UPLOADS: [0, 1],
  ABORT_UPLOAD: [1, 1],
};

const FIELD_NAMES: Record<Command, string> = {
  HELLO: 'HELLO',
  EXIT: 'EXIT',
  NEW_BUCKET: 'NEW_BUCKET,<bucket>',
  LIST_BUCKET: 'LIST_BUCKET',
  DELETE_BUCKET: 'DELETE_BUCKET,<bucket>[,FORCE]',
  UPLOAD_FILE: 'UPLOAD_FILE,<bucket>,<name>,<size>[,<sha256>]',
  LIST_FILE: 'LIST_FILE,<bucket>[,<prefix>[,/]]',
  DOWNLOAD_FILE: 'DOWNLOAD_FILE,<bucket>,<name>[,<offset>]',
  DELETE_FILE: 'DELETE_FILE,<bucket>,<name>',
  LOGIN: 'LOGIN,<mechanism>,<client-first-message>',
  LOGIN_PROOF: 'LOGIN_PROOF,<client-final-message>',
  BUCKET_INFO: 'BUCKET_INFO,<bucket>',
  GRANT: 'GRANT,<bucket>,<user>,<read|write|admin|none>',
  RESUME_UPLOAD: 'RESUME_UPLOAD,<upload-id>[,<offset>]',
  LIST_UPLOADS: 'LIST_UPLOADS[,<bucket>]',
  ABORT_UPLOAD: 'ABORT_UPLOAD,<upload-id>',
};

/** Splits a line at commas into raw byte fields. */
export function splitFields(line: Uint8Array): Uint8Array[] {
  const fields: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === 0x2c) {
      fields.push(line.subarray(start, i));
      start = i + 1;
    }
  }
  fields.push(line.subarray(start));
  return fields;
}

/** Decimal digits without sign or leading zeros, up to 2^53 - 1. */
export function parseSize(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text)) return undefined;
  const size = Number(text);
  return Number.isSafeInteger(size) ? size : undefined;
}

export function parseRequest(line: Uint8Array): { ok: true; value: Request } | RequestFailure {
  const raw = splitFields(line);
  const parsed = parseFields(raw);
  if (parsed.ok || Buffer.from(raw[0]!).toString('latin1') !== 'UPLOAD_FILE') return parsed;
  return { ...parsed, ...bodyBehind(raw) };
}

// What ends a line sent at once, in any case: upper-case hex is refused, but it is still a digest's place.
const DIGEST_LIKE = /^[0-9a-fA-F]{64}$/;

/**
 * A refused UPLOAD_FILE line may have a body behind it (the form sent at
 * once), and that body must never be read as requests. That form ends in
 * the size and the digest, also when a comma left unencoded in a name adds
 * a field before them, so those say how much to drop. A line shaped as the
 * form that waits for a go-ahead has nothing behind it. Any other shape
 * (fields missing before a digest, or too many and no digest) leaves the
 * stream's framing unknown, and the connection closes (`unframed`):
 * closing never puts the stream out of step, a guess might.
 */
function bodyBehind(raw: readonly Uint8Array[]): { body?: number; unframed?: true } {
  const field = (i: number): string => Buffer.from(raw[i]!).toString('latin1');
  const digestAtEnd = DIGEST_LIKE.test(field(raw.length - 1));
  if (raw.length === 5 || (raw.length > 5 && digestAtEnd)) {
    const size = parseSize(field(raw.length - 2));
    return size === undefined ? { unframed: true } : { body: size };
  }
  return raw.length > 5 || digestAtEnd ? { unframed: true } : {};
}

function parseFields(raw: Uint8Array[]): ParseResult<Request> {
  const word = Buffer.from(raw[0]!).toString('latin1');
  if (!isCommand(word)) {
    if (word.includes(' ') && isCommand(word.trim())) {
      return { ok: false, code: 'UNKNOWN_COMMAND', message: `unknown command; no spaces may stand before or after the command word (did you mean ${word.trim()}?)` };
    }
    return { ok: false, code: 'UNKNOWN_COMMAND' };
  }
  const fields: string[] = [];
  for (const rawField of raw.slice(1)) {
    const decoded = decodeField(rawField);
    if (!decoded.ok) return { ok: false, code: decoded.reason === 'space' ? 'SPACES_NOT_ALLOWED' : 'BAD_ENCODING' };
    fields.push(decoded.value);
  }
  const [min, max] = FIELD_COUNTS[word];
  if (fields.length < min || fields.length > max) {
    return { ok: false, code: 'WRONG_FIELD_COUNT', message: `wrong number of fields; the form is ${FIELD_NAMES[word]}` };
  }
  const [first = '', second = '', third = ''] = fields;
  switch (word) {
    case 'HELLO':
    case 'EXIT':
    case 'LIST_BUCKET':
      return { ok: true, value: { command: word } };
    case 'NEW_BUCKET':
    case 'BUCKET_INFO':
      return { ok: true, value: { command: word, bucket: first } };
    case 'LIST_FILE':
      return parseListFile(fields);
    case 'LOGIN':
      return { ok: true, value: { command: word, mechanism: first, message: second } };
    case 'LOGIN_PROOF':
      return { ok: true, value: { command: word, message: first } };
    case 'DELETE_BUCKET': {
      if (fields.length === 2 && second !== FORCE_FLAG) {
        return { ok: false, code: 'BAD_FIELD', message: `the optional second field of DELETE_BUCKET must be ${FORCE_FLAG}` };
      }
      return { ok: true, value: { command: word, bucket: first, force: fields.length === 2 } };
    }
    case 'UPLOAD_FILE': {
      const size = parseSize(third);
      if (size === undefined) return { ok: false, code: 'BAD_FIELD', message: 'the size must be a whole number of bytes, in decimal digits' };
      if (fields.length === 3) return { ok: true, value: { command: word, bucket: first, name: second, size } };
      const sha256 = fields[3]!;
      if (!isSha256Hex(sha256)) return { ok: false, code: 'BAD_FIELD', message: 'the SHA-256 of an upload sent at once is 64 lower-case hex digits' };
      return { ok: true, value: { command: word, bucket: first, name: second, size, sha256 } };
    }
    case 'DOWNLOAD_FILE': {
      if (fields.length === 2) return { ok: true, value: { command: word, bucket: first, name: second } };
      const offset = parseSize(third);
      if (offset === undefined) return { ok: false, code: 'BAD_FIELD', message: 'the offset must be a whole number of bytes, in decimal digits' };
      return { ok: true, value: { command: word, bucket: first, name: second, offset } };
    }
    case 'DELETE_FILE':
      return { ok: true, value: { command: word, bucket: first, name: second } };
    case 'GRANT':
      if (!isGrantable(third)) return { ok: false, code: 'BAD_FIELD', message: `the permission must be one of ${GRANTABLE.join(', ')}` };
      return { ok: true, value: { command: word, bucket: first, user: second, permission: third } };
    case 'RESUME_UPLOAD': {
      if (!isUploadId(first)) return { ok: false, code: 'BAD_FIELD', message: 'an upload id is 32 lower-case hex digits' };
      if (fields.length === 1) return { ok: true, value: { command: word, id: first } };
      const offset = parseSize(second);
      if (offset === undefined) return { ok: false, code: 'BAD_FIELD', message: 'the offset must be a whole number of bytes, in decimal digits' };
      return { ok: true, value: { command: word, id: first, offset } };
    }
    case 'LIST_UPLOADS':
      return { ok: true, value: fields.length === 0 ? { command: word } : { command: word, bucket: first } };
    case 'ABORT_UPLOAD':
      if (!isUploadId(first)) return { ok: false, code: 'BAD_FIELD', message: 'an upload id is 32 lower-case hex digits' };
      return { ok: true, value: { command: word, id: first } };
  }
}

/**
 * LIST_FILE,<bucket>[,<prefix>[,/]]: the prefix (which may be empty) keeps
 * the names that start with it; the delimiter folds what lies past the next
 * "/" into one folder item.
 */
function parseListFile(fields: readonly string[]): ParseResult<Request> {
  const [bucket = '', prefix, delimiter] = fields;
  const request: Request = { command: 'LIST_FILE', bucket };
  if (prefix !== undefined) {
    if (Buffer.byteLength(prefix, 'utf8') > MAX_PREFIX_BYTES || CONTROL.test(prefix)) {
      return { ok: false, code: 'BAD_FIELD', message: `the prefix of LIST_FILE is at most ${MAX_PREFIX_BYTES} bytes of UTF-8 without control characters` };
    }
    request.prefix = prefix;
  }
  if (delimiter !== undefined) {
    if (delimiter !== DELIMITER) return { ok: false, code: 'BAD_FIELD', message: `the optional delimiter of LIST_FILE must be ${DELIMITER}` };
    request.delimiter = delimiter;
  }
  return { ok: true, value: request };
}

/** Encodes a request as its wire line, LF included. */
export function encodeRequest(request: Request): Buffer {
  const fields: string[] = [];
  switch (request.command) {
    case 'HELLO':
    case 'EXIT':
    case 'LIST_BUCKET':
      break;
    case 'NEW_BUCKET':
    case 'BUCKET_INFO':
      fields.push(request.bucket);
      break;
    case 'LIST_FILE':
      fields.push(request.bucket);
      if (request.prefix !== undefined || request.delimiter !== undefined) fields.push(request.prefix ?? '');
      if (request.delimiter !== undefined) {
        if (request.delimiter !== DELIMITER) throw new RangeError(`invalid delimiter ${JSON.stringify(request.delimiter)}`);
        fields.push(request.delimiter);
      }
      break;
    case 'LOGIN':
      fields.push(request.mechanism, request.message);
      break;
    case 'LOGIN_PROOF':
      fields.push(request.message);
      break;
    case 'DELETE_BUCKET':
      fields.push(request.bucket);
      if (request.force) fields.push(FORCE_FLAG);
      break;
    case 'UPLOAD_FILE':
      if (!Number.isSafeInteger(request.size) || request.size < 0) throw new RangeError(`invalid size ${request.size}`);
      fields.push(request.bucket, request.name, String(request.size));
      if (request.sha256 !== undefined) {
        if (!isSha256Hex(request.sha256)) throw new RangeError('not a SHA-256 hex digest');
        fields.push(request.sha256);
      }
      break;
    case 'DOWNLOAD_FILE':
      fields.push(request.bucket, request.name);
      if (request.offset !== undefined) fields.push(sizeField(request.offset, 'offset'));
      break;
    case 'DELETE_FILE':
      fields.push(request.bucket, request.name);
      break;
    case 'GRANT':
      fields.push(request.bucket, request.user, request.permission);
      break;
    case 'RESUME_UPLOAD':
      if (!isUploadId(request.id)) throw new RangeError(invalidUploadId(request.id));
      fields.push(request.id);
      if (request.offset !== undefined) fields.push(sizeField(request.offset, 'offset'));
      break;
    case 'LIST_UPLOADS':
      if (request.bucket !== undefined) fields.push(request.bucket);
      break;
    case 'ABORT_UPLOAD':
      if (!isUploadId(request.id)) throw new RangeError(invalidUploadId(request.id));
      fields.push(request.id);
      break;
    default:
      return assertNever(request);
  }
  return Buffer.from([request.command, ...fields.map(encodeField)].join(',') + '\n', 'latin1');
}

const invalidUploadId = (id: string): string => `${JSON.stringify(id)} is not an upload id (32 lower-case hex digits)`;

function sizeField(value: number, what: string): string {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`invalid ${what} ${value}`);
  return String(value);
}

/** The upload trailer: the SHA-256 of the body, in lowercase hex. */
export function encodeUploadTrailer(sha256: string): Buffer {
  if (!isSha256Hex(sha256)) throw new RangeError('not a SHA-256 hex digest');
  return Buffer.from(`SHA256,${sha256}\n`, 'latin1');
}

export function parseUploadTrailer(line: Uint8Array): string | undefined {
  const text = Buffer.from(line).toString('latin1');
  const match = /^SHA256,([0-9a-f]{64})$/.exec(text);
  return match?.[1];
}
