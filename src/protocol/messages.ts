/**
 * Typed replies: one codec per reply (and per list item), used by the
 * server to encode and by the client to parse, so a reply's fields are
 * defined once. A codec knows its status, how a value becomes fields, how
 * fields become a value (ignoring fields a newer peer adds), and the
 * default message for people.
 */
import { BucketError, type AnyErrorCode } from '../errors.js';
import { plural } from '../util/plural.js';
import { isSha256Hex } from '../util/sha256.js';
import { encodeItem, encodeReply, STATUS, type ReplyHead } from './replies.js';
import { isUploadId, parseSize } from './requests.js';

export interface ReplyCodec<T> {
  readonly name: string;
  readonly status: number;
  fields(value: T): string[];
  /** The value, or undefined if the fields do not make one. */
  read(fields: readonly string[]): T | undefined;
  message(value: T): string;
}

export interface ItemCodec<T> {
  readonly name: string;
  fields(value: T): string[];
  read(fields: readonly string[]): T | undefined;
}

/** Whether a server wants a login: none (no users), optional (some buckets are public), required. */
export type LoginPolicy = 'none' | 'optional' | 'required';

export interface HelloReply {
  name: string;
  version: string;
  protocol: number;
  /** Protocol 2 on; a protocol 1 server sends neither (read as 'none' and no mechanisms). */
  login?: LoginPolicy;
  mechanisms?: string[];
}

export interface BucketEntry {
  name: string;
  createdAt: Date;
}

export interface FileEntry {
  name: string;
  size: number;
  modifiedAt: Date;
  /** Absent when the server does not know it (a file put under ROOT by hand). */
  sha256?: string;
}

/**
 * A folder in a listing with a delimiter (protocol 3): the names that
 * share `name` (which ends in "/") up to their next "/".
 */
export interface FolderEntry {
  kind: 'folder';
  name: string;
}

/** An item of a LIST_FILE reply: a file, or (with a delimiter) a folder. */
export type ListEntry = (FileEntry & { kind?: 'file' }) | FolderEntry;

export interface ListHead {
  count: number;
}

export interface BucketDeleted {
  bucket: string;
  deletedFiles: number;
}

export interface FileDeleted {
  bucket: string;
  name: string;
}

export interface GoAhead {
  /** The name the file is stored under (normalised). */
  name: string;
  size: number;
}

/** UPLOAD_FILE's go-ahead; from protocol 4 it names the upload, for RESUME_UPLOAD. */
export interface UploadGoAhead extends GoAhead {
  uploadId?: string;
}

/** RESUME_UPLOAD's go-ahead: send the bytes from `offset` to `size`. */
export interface ResumeGoAhead {
  name: string;
  size: number;
  uploadId: string;
  offset: number;
}

/** DOWNLOAD_FILE's go-ahead when the request gave an offset (protocol 4). */
export interface RangedGoAhead {
  name: string;
  /** The bytes that follow: the file's size less the offset. */
  count: number;
  offset: number;
  /** The whole file's size. */
  size: number;
  /** The whole file's SHA-256 as recorded at upload; absent when not known. */
  sha256?: string;
}

/** An unfinished upload, as LIST_UPLOADS shows it. */
export interface UploadEntry {
  id: string;
  bucket: string;
  name: string;
  /** Declared size. */
  size: number;
  /** Bytes the server holds durably. */
  held: number;
  startedAt: Date;
  /** When it will be removed unless finished; absent when never. */
  expiresAt?: Date;
}

export interface UploadAborted {
  id: string;
  /** Staged bytes released. */
  released: number;
}

export interface UploadStored {
  bucket: string;
  name: string;
  size: number;
  sha256: string;
}

export interface DownloadDone {
  sha256: string;
}

/** Times travel as UTC ISO 8601 with milliseconds. */
function readTime(text: string | undefined): Date | undefined {
  if (text === undefined || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(text)) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function readCount(text: string | undefined): number | undefined {
  return text === undefined ? undefined : parseSize(text);
}

export const HELLO: ReplyCodec<HelloReply> = {
  name: 'HELLO reply',
  status: STATUS.OK,
  fields: (hello) => [hello.name, hello.version, String(hello.protocol), ...(hello.login === undefined ? [] : [hello.login, (hello.mechanisms ?? []).join(' ')])],
  read: ([name, version, protocol, login, mechanisms]) => {
    const number = readCount(protocol);
    if (name === undefined || version === undefined || number === undefined) return undefined;
    const hello: HelloReply = { name, version, protocol: number };
    if (login !== undefined) {
      if (login !== 'none' && login !== 'optional' && login !== 'required') return undefined;
      hello.login = login;
      hello.mechanisms = (mechanisms ?? '').split(' ').filter((mechanism) => mechanism !== '');
    }
    return hello;
  },
  message: (hello) => `hello from ${hello.name} ${hello.version} (protocol ${hello.protocol})`,
};

/** The server's challenge in a login: the next message of the mechanism. */
export const LOGIN_CONTINUE: ReplyCodec<{ message: string }> = {
  name: 'LOGIN challenge',
  status: STATUS.CONTINUE,
  fields: (step) => [step.message],
  read: ([message]) => (message === undefined ? undefined : { message }),
  message: () => 'go on with LOGIN_PROOF',
};

export interface LoggedIn {
  user: string;
  /** The mechanism's last message: the server's proof that it knows the verifier. */
  message: string;
}

export const LOGGED_IN: ReplyCodec<LoggedIn> = {
  name: 'LOGIN_PROOF reply',
  status: STATUS.OK,
  fields: (done) => [done.user, done.message],
  read: ([user, message]) => (user === undefined || message === undefined ? undefined : { user, message }),
  message: (done) => `logged in as "${done.user}"`,
};

export interface BucketInfo {
  bucket: string;
  files: number;
  bytes: number;
  /** Bytes the bucket may hold, when it has a quota. */
  quota?: number;
}

export const BUCKET_INFO: ReplyCodec<BucketInfo> = {
  name: 'BUCKET_INFO reply',
  status: STATUS.OK,
  fields: (info) => [info.bucket, String(info.files), String(info.bytes), info.quota === undefined ? '' : String(info.quota)],
  read: ([bucket, files, bytes, quota = '']) => {
    const fileCount = readCount(files);
    const byteCount = readCount(bytes);
    const limit = quota === '' ? undefined : readCount(quota);
    if (bucket === undefined || fileCount === undefined || byteCount === undefined || (quota !== '' && limit === undefined)) return undefined;
    const info: BucketInfo = { bucket, files: fileCount, bytes: byteCount };
    if (limit !== undefined) info.quota = limit;
    return info;
  },
  message: (info) => `${plural(info.files, 'file')}, ${info.bytes} bytes${info.quota === undefined ? '' : ` of a ${info.quota}-byte quota`}`,
};

export interface Granted {
  bucket: string;
  user: string;
  /** What the user now holds on the bucket; `none` when the grant was taken back. */
  permission: string;
}

export const GRANTED: ReplyCodec<Granted> = {
  name: 'GRANT reply',
  status: STATUS.OK,
  fields: (granted) => [granted.bucket, granted.user, granted.permission],
  read: ([bucket, user, permission]) => (bucket === undefined || user === undefined || permission === undefined ? undefined : { bucket, user, permission }),
  message: (granted) => (granted.permission === 'none' ? `"${granted.user}" holds no grant on "${granted.bucket}"` : `"${granted.user}" may ${granted.permission} "${granted.bucket}"`),
};

export const BYE: ReplyCodec<Record<string, never>> = {
  name: 'EXIT reply',
  status: STATUS.BYE,
  fields: () => [],
  read: () => ({}),
  message: () => 'goodbye',
};

export const BUCKET_CREATED: ReplyCodec<BucketEntry> = {
  name: 'NEW_BUCKET reply',
  status: STATUS.CREATED,
  fields: (bucket) => [bucket.name, bucket.createdAt.toISOString()],
  read: ([name, created]) => {
    const createdAt = readTime(created);
    return name === undefined || createdAt === undefined ? undefined : { name, createdAt };
  },
  message: (bucket) => `bucket "${bucket.name}" created`,
};

export const BUCKET_DELETED: ReplyCodec<BucketDeleted> = {
  name: 'DELETE_BUCKET reply',
  status: STATUS.OK,
  fields: (deleted) => [deleted.bucket, String(deleted.deletedFiles)],
  read: ([bucket, files]) => {
    const deletedFiles = readCount(files);
    return bucket === undefined || deletedFiles === undefined ? undefined : { bucket, deletedFiles };
  },
  message: (deleted) => `bucket "${deleted.bucket}" deleted${deleted.deletedFiles > 0 ? ` with ${plural(deleted.deletedFiles, 'file')}` : ''}`,
};

export const FILE_DELETED: ReplyCodec<FileDeleted> = {
  name: 'DELETE_FILE reply',
  status: STATUS.OK,
  fields: (deleted) => [deleted.bucket, deleted.name],
  read: ([bucket, name]) => (bucket === undefined || name === undefined ? undefined : { bucket, name }),
  message: (deleted) => `file "${deleted.name}" deleted`,
};

/** The head of a list: how many item lines follow. Its message says of what. */
export const LIST_HEAD: ReplyCodec<ListHead> = {
  name: 'list head',
  status: STATUS.OK,
  fields: (head) => [String(head.count)],
  read: ([count]) => {
    const number = readCount(count);
    return number === undefined ? undefined : { count: number };
  },
  message: (head) => plural(head.count, 'item'),
};

export const UPLOAD_GO_AHEAD: ReplyCodec<UploadGoAhead> = {
  name: 'UPLOAD_FILE go-ahead',
  status: STATUS.GO_AHEAD,
  fields: (go) => [go.name, String(go.size), ...(go.uploadId === undefined ? [] : [go.uploadId])],
  read: ([name, size, uploadId]) => {
    const number = readCount(size);
    if (name === undefined || number === undefined) return undefined;
    return uploadId !== undefined && isUploadId(uploadId) ? { name, size: number, uploadId } : { name, size: number };
  },
  message: (go) => `send ${go.size} bytes, then the SHA256 trailer`,
};

export const RESUME_GO_AHEAD: ReplyCodec<ResumeGoAhead> = {
  name: 'RESUME_UPLOAD go-ahead',
  status: STATUS.GO_AHEAD,
  fields: (go) => [go.name, String(go.size), go.uploadId, String(go.offset)],
  read: ([name, size, uploadId, offset]) => {
    const total = readCount(size);
    const from = readCount(offset);
    if (name === undefined || total === undefined || uploadId === undefined || !isUploadId(uploadId) || from === undefined || from > total) return undefined;
    return { name, size: total, uploadId, offset: from };
  },
  message: (go) => `send the ${go.size - go.offset} bytes from offset ${go.offset}, then the SHA256 trailer of the whole file`,
};

export const UPLOAD_STORED: ReplyCodec<UploadStored> = {
  name: 'UPLOAD_FILE reply',
  status: STATUS.CREATED,
  fields: (stored) => [stored.bucket, stored.name, String(stored.size), stored.sha256],
  read: ([bucket, name, size, sha256]) => {
    const number = readCount(size);
    if (bucket === undefined || name === undefined || number === undefined || sha256 === undefined || !isSha256Hex(sha256)) return undefined;
    return { bucket, name, size: number, sha256 };
  },
  message: (stored) => `stored "${stored.name}" (${stored.size} bytes)`,
};

export const DOWNLOAD_GO_AHEAD: ReplyCodec<GoAhead> = {
  name: 'DOWNLOAD_FILE go-ahead',
  status: STATUS.GO_AHEAD,
  fields: (go) => [go.name, String(go.size)],
  read: ([name, size]) => {
    const number = readCount(size);
    return name === undefined || number === undefined ? undefined : { name, size: number };
  },
  message: (go) => `sending ${go.size} bytes, then a status line`,
};

export const RANGED_DOWNLOAD_GO_AHEAD: ReplyCodec<RangedGoAhead> = {
  name: 'DOWNLOAD_FILE go-ahead',
  status: STATUS.GO_AHEAD,
  fields: (go) => [go.name, String(go.count), String(go.offset), String(go.size), go.sha256 ?? ''],
  read: ([name, count, offset, size, sha256 = '']) => {
    const [n, from, total] = [readCount(count), readCount(offset), readCount(size)];
    if (name === undefined || n === undefined || from === undefined || total === undefined || from + n !== total) return undefined;
    if (sha256 !== '' && !isSha256Hex(sha256)) return undefined;
    return sha256 === '' ? { name, count: n, offset: from, size: total } : { name, count: n, offset: from, size: total, sha256 };
  },
  message: (go) => `sending ${go.count} bytes from offset ${go.offset}, then a status line`,
};

/** The status line after a download's bytes. Its message says how many were sent. */
export const DOWNLOAD_DONE: ReplyCodec<DownloadDone> = {
  name: 'DOWNLOAD_FILE status line',
  status: STATUS.OK,
  fields: (done) => [done.sha256],
  read: ([sha256]) => (sha256 !== undefined && isSha256Hex(sha256) ? { sha256 } : undefined),
  message: () => 'sent',
};

export const BUCKET_ITEM: ItemCodec<BucketEntry> = {
  name: 'bucket item',
  fields: BUCKET_CREATED.fields,
  read: BUCKET_CREATED.read,
};

export const FILE_ITEM: ItemCodec<FileEntry> = {
  name: 'file item',
  fields: (file) => [file.name, String(file.size), file.modifiedAt.toISOString(), file.sha256 ?? ''],
  read: ([name, size, modified, sha256 = '']) => {
    const number = readCount(size);
    const modifiedAt = readTime(modified);
    if (name === undefined || number === undefined || modifiedAt === undefined) return undefined;
    if (sha256 !== '' && !isSha256Hex(sha256)) return undefined;
    const file: FileEntry = { name, size: number, modifiedAt };
    if (sha256 !== '') file.sha256 = sha256;
    return file;
  },
};

export const UPLOAD_ITEM: ItemCodec<UploadEntry> = {
  name: 'upload item',
  fields: (upload) => [upload.id, upload.bucket, upload.name, String(upload.size), String(upload.held), upload.startedAt.toISOString(), upload.expiresAt?.toISOString() ?? ''],
  read: ([id, bucket, name, size, held, started, expires = '']) => {
    const [total, have, startedAt] = [readCount(size), readCount(held), readTime(started)];
    if (id === undefined || !isUploadId(id) || bucket === undefined || name === undefined || total === undefined || have === undefined || startedAt === undefined) return undefined;
    const upload: UploadEntry = { id, bucket, name, size: total, held: have, startedAt };
    if (expires !== '') {
      const expiresAt = readTime(expires);
      if (expiresAt === undefined) return undefined;
      upload.expiresAt = expiresAt;
    }
    return upload;
  },
};

export const UPLOAD_ABORTED: ReplyCodec<UploadAborted> = {
  name: 'ABORT_UPLOAD reply',
  status: STATUS.OK,
  fields: (aborted) => [aborted.id, String(aborted.released)],
  read: ([id, released]) => {
    const bytes = readCount(released);
    return id === undefined || !isUploadId(id) || bytes === undefined ? undefined : { id, released: bytes };
  },
  message: (aborted) => `upload ${aborted.id} aborted; ${aborted.released} staged bytes released`,
};

/** A folder item is one field, its name ending in "/" (which no file name does). */
export const FOLDER_ITEM: ItemCodec<FolderEntry> = {
  name: 'folder item',
  fields: (folder) => {
    if (!folder.name.endsWith('/')) throw new RangeError(`a folder item's name ends in "/": ${JSON.stringify(folder.name)}`);
    return [folder.name];
  },
  read: ([name]) => (name !== undefined && name.endsWith('/') ? { kind: 'folder', name } : undefined),
};

/** Either item of a LIST_FILE reply, told apart by the name's last character. */
export const LIST_ITEM: ItemCodec<ListEntry> = {
  name: 'file or folder item',
  fields: (entry) => (entry.kind === 'folder' ? FOLDER_ITEM.fields(entry) : FILE_ITEM.fields(entry)),
  read: (fields) => (fields[0]?.endsWith('/') === true ? FOLDER_ITEM.read(fields) : FILE_ITEM.read(fields)),
};

/** Encodes a reply through its codec; `message` replaces the default one. */
export function encodeTyped<T>(codec: ReplyCodec<T>, value: T, message: string = codec.message(value)): Buffer {
  return encodeReply(codec.status, codec.fields(value), message);
}

export function encodeTypedItem<T>(codec: ItemCodec<T>, value: T): Buffer {
  return encodeItem(codec.fields(value));
}

/** Why a reply could not be read as the one expected. */
export class UnexpectedReply extends Error {
  constructor(readonly expected: string, readonly head?: ReplyHead) {
    super(head ? `the server sent status ${head.status} where a ${expected} was expected` : `the server sent a malformed ${expected}`);
    this.name = 'UnexpectedReply';
  }
}

/**
 * Reads a reply head as `codec` says: the value; a BucketError for an error
 * reply (any code, known to this build or not); UnexpectedReply otherwise.
 */
export function readTyped<T>(codec: ReplyCodec<T>, head: ReplyHead): T {
  if (head.status >= 400) throw errorOf(head);
  if (head.status !== codec.status) throw new UnexpectedReply(codec.name, head);
  const value = codec.read(head.fields);
  if (value === undefined) throw new UnexpectedReply(codec.name);
  return value;
}

export function readTypedItem<T>(codec: ItemCodec<T>, fields: readonly string[]): T {
  const value = codec.read(fields);
  if (value === undefined) throw new UnexpectedReply(codec.name);
  return value;
}

/** The error an error reply carries. A reply without a code still gets one by its status class. */
export function errorOf(head: ReplyHead): BucketError {
  const [first, ...details] = head.fields;
  const code: AnyErrorCode = first !== undefined && /^[A-Z][A-Z0-9_]*$/.test(first) ? first : head.status >= 500 ? 'INTERNAL' : 'BAD_FIELD';
  const fieldDetails = first !== undefined && code === first ? details : head.fields;
  return new BucketError(code, head.message, fieldDetails, head.status);
}
