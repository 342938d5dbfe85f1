/**
 * The access file, ROOT/.bucketd/access.json: users (with SCRAM verifiers,
 * never a password), their grants per bucket, the anonymous user's grants,
 * quotas per bucket, and the secret that decoy verifiers derive from.
 * Read and written only as a regular file, never through a symbolic link;
 * written whole (temporary file, fsync, rename, fsync of the folder), with
 * mode 0600.
 *
 * {
 *   "version": 1,
 *   "decoySecret": "<base64, 32 bytes>",
 *   "users": [{ "name": "alice", "admin": false, "canCreate": true, "createdAt": "...",
 *               "scram": { "salt": "...", "iterations": 4096, "storedKey": "...", "serverKey": "..." },
 *               "grants": { "photos": "admin" } }],
 *   "anonymous": { "grants": { "public": "read" } },
 *   "quotas": { "photos": 10737418240 }
 * }
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { MIN_ITERATIONS, type ScramVerifier } from '../../protocol/scram.js';
import { syncDir } from '../../storage/fs/layout.js';
import { isValidBucketName } from '../../storage/names.js';
import { errnoOf } from '../../storage/fs/os-errors.js';
import { isPermission, isValidUserName, type Permission } from './names.js';

export const ACCESS_FILE = 'access.json';
export const ACCESS_LOCK = 'access.lock';
const FORMAT_VERSION = 1;
/** Far beyond any real access file; a bigger one is not read into memory. */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

export interface UserEntry {
  name: string;
  admin: boolean;
  canCreate: boolean;
  createdAt: string;
  scram: ScramVerifier;
  grants: Record<string, Permission>;
}

/** The file's content, as plain data. */
export interface AccessDocument {
  version: 1;
  decoySecret: string;
  users: UserEntry[];
  anonymous: { grants: Record<string, Permission> };
  quotas: Record<string, number>;
}

/** The access file cannot be used as it is; the message says why, for the operator. */
export class AccessFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccessFileError';
  }
}

export function emptyDocument(decoySecret: Buffer = randomBytes(32)): AccessDocument {
  return { version: FORMAT_VERSION, decoySecret: decoySecret.toString('base64'), users: [], anonymous: { grants: {} }, quotas: {} };
}

/** Stable text: users by name, grants and quotas by bucket, so that diffs and comparisons mean something. */
export function serializeDocument(document: AccessDocument): string {
  const sorted = <T>(record: Record<string, T>): Record<string, T> => Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const users = [...document.users]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((user) => ({
      name: user.name,
      admin: user.admin,
      canCreate: user.canCreate,
      createdAt: user.createdAt,
      scram: { salt: user.scram.salt, iterations: user.scram.iterations, storedKey: user.scram.storedKey, serverKey: user.scram.serverKey },
      grants: sorted(user.grants),
    }));
  const ordered = { version: document.version, decoySecret: document.decoySecret, users, anonymous: { grants: sorted(document.anonymous.grants) }, quotas: sorted(document.quotas) };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

type Json = unknown;

function isRecord(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks everything, since the file may have been edited by hand; throws AccessFileError naming what is wrong. */
export function parseDocument(text: string, where: string): AccessDocument {
  const fail = (what: string): never => {
    throw new AccessFileError(`${where} is not a valid access file: ${what}`);
  };
  let value: Json;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return fail(error instanceof Error ? error.message : 'not JSON');
  }
  if (!isRecord(value)) return fail('not a JSON object');
  if (value.version !== FORMAT_VERSION) return fail(`version ${JSON.stringify(value.version)}; this bucketd reads version ${FORMAT_VERSION} (was it written by a newer one?)`);
  const base64 = (field: Json, what: string, bytes?: number): string => {
    if (typeof field !== 'string' || !BASE64.test(field) || field === '') return fail(`${what} is not base64`);
    if (bytes !== undefined && Buffer.from(field, 'base64').length !== bytes) return fail(`${what} is not ${bytes} bytes`);
    return field;
  };
  const grants = (field: Json, what: string): Record<string, Permission> => {
    if (!isRecord(field)) return fail(`${what} is not an object`);
    const out: Record<string, Permission> = {};
    for (const [bucket, permission] of Object.entries(field)) {
      if (!isValidBucketName(bucket)) return fail(`${what} names "${bucket}", not a bucket name`);
      if (!isPermission(permission)) return fail(`${what}.${bucket} is not read, write or admin`);
      out[bucket] = permission;
    }
    return out;
  };
  const decoySecret = base64(value.decoySecret, 'decoySecret', 32);
  if (!Array.isArray(value.users)) return fail('users is not a list');
  const names = new Set<string>();
  const users = value.users.map((user: Json, index: number): UserEntry => {
    const what = `users[${index}]`;
    if (!isRecord(user)) return fail(`${what} is not an object`);
    const { name, admin, canCreate, createdAt, scram } = user;
    if (typeof name !== 'string' || !isValidUserName(name)) return fail(`${what}.name is not a valid user name`);
    if (names.has(name)) return fail(`user "${name}" appears twice`);
    names.add(name);
    if (typeof admin !== 'boolean' || typeof canCreate !== 'boolean') return fail(`${what}: admin and canCreate must be true or false`);
    if (typeof createdAt !== 'string' || Number.isNaN(Date.parse(createdAt))) return fail(`${what}.createdAt is not a time`);
    if (!isRecord(scram)) return fail(`${what}.scram is not an object`);
    const { iterations } = scram;
    if (typeof iterations !== 'number' || !Number.isSafeInteger(iterations) || iterations < MIN_ITERATIONS) {
      return fail(`${what}.scram.iterations is not a whole number of at least ${MIN_ITERATIONS}`);
    }
    return {
      name,
      admin,
      canCreate,
      createdAt,
      scram: { salt: base64(scram.salt, `${what}.scram.salt`), iterations, storedKey: base64(scram.storedKey, `${what}.scram.storedKey`, 32), serverKey: base64(scram.serverKey, `${what}.scram.serverKey`, 32) },
      grants: grants(user.grants, `${what}.grants`),
    };
  });
  if (!isRecord(value.anonymous)) return fail('anonymous is not an object');
  const quotas: Record<string, number> = {};
  if (!isRecord(value.quotas)) return fail('quotas is not an object');
  for (const [bucket, bytes] of Object.entries(value.quotas)) {
    if (!isValidBucketName(bucket)) return fail(`quotas names "${bucket}", not a bucket name`);
    if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) return fail(`quotas.${bucket} is not a number of bytes`);
    quotas[bucket] = bytes;
  }
  return { version: FORMAT_VERSION, decoySecret, users, anonymous: { grants: grants(value.anonymous.grants, 'anonymous.grants') }, quotas };
}

/** What identifies one version of the file: a change to any of these means it was rewritten. */
export type FileSignature = string;

function signatureOf(stats: { ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }): FileSignature {
  return `${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
}

function linkRefused(file: string): AccessFileError {
  return new AccessFileError(`${file} is a symbolic link; bucketd never follows links in its bookkeeping folder. Remove it (and check who put it there)`);
}

/** The signature of the file as it is now; undefined if there is none. Refuses a link or a folder in its place. */
export async function statAccessFile(file: string): Promise<FileSignature | undefined> {
  try {
    const stats = await lstat(file, { bigint: true });
    if (stats.isSymbolicLink()) throw linkRefused(file);
    if (!stats.isFile()) throw new AccessFileError(`${file} is not a regular file; remove it`);
    return signatureOf(stats);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** Reads and checks the file; undefined if there is none. */
export async function readAccessFile(file: string): Promise<{ document: AccessDocument; text: string; signature: FileSignature } | undefined> {
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw linkRefused(file);
    throw error;
  }
  try {
    const stats = await handle.stat({ bigint: true });
    if (!stats.isFile()) throw new AccessFileError(`${file} is not a regular file; remove it`);
    if (stats.size > MAX_FILE_BYTES) throw new AccessFileError(`${file} is larger than ${MAX_FILE_BYTES} bytes; it is not an access file bucketd wrote`);
    const text = await handle.readFile({ encoding: 'utf8' });
    return { document: parseDocument(text, file), text, signature: signatureOf(stats) };
  } finally {
    await handle.close();
  }
}

/**
 * Replaces the file with `text`, whole or not at all: a temporary file in
 * `tmpDir` (same filesystem), fsynced, renamed over the file, then the
 * folder fsynced. Returns the new file's signature.
 */
export async function writeAccessFile(file: string, tmpDir: string, text: string): Promise<FileSignature> {
  const tmp = path.join(tmpDir, `access-${randomBytes(8).toString('hex')}.json`);
  const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    try {
      await handle.writeFile(text, 'utf8');
      // The umask may only take bits away, but make sure.
      await handle.chmod(0o600);
      await handle.sync();
    } finally {
      await handle.close();
    }
    // rename() would replace a link without following it, but a link there
    // means someone meddled: say so rather than paper over it.
    await statAccessFile(file);
    await rename(tmp, file);
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
  await syncDir(path.dirname(file));
  // Taken after the rename, which changes the file's ctime on most filesystems.
  // Writers hold the lock, so what is there now is what was just written.
  return (await statAccessFile(file))!;
}
