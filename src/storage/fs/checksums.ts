/**
 * Recorded checksums: a small JSON file per stored file under
 * ROOT/.bucketd/sums/<bucket>/<name>. A record counts only while the file's
 * inode, size and mtime still match it, so a file changed by hand under ROOT,
 * or replaced since, shows as "checksum unknown" rather than as a wrong one.
 *
 * Records are a cache of what bucketd computed, so a symbolic link found
 * among them is removed (the link, never its target) rather than followed.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isSha256Hex } from '../../util/sha256.js';
import { assertRealFolders } from './layout.js';
import { errnoOf } from './os-errors.js';

interface ChecksumRecord {
  sha256: string;
  size: number;
  mtimeNs: string;
  ino: string;
}

/** What tells one version of a file from another: a rename keeps all three. */
export interface FileIdentity {
  size: bigint;
  mtimeNs: bigint;
  ino: bigint;
}

export class ChecksumStore {
  readonly #dir: string;
  readonly #tmpDir: string;
  readonly #guarded: string[];
  readonly #onRepair: (message: string) => void;

  /** `guarded`: folders that must still be real before each use (the bookkeeping folder and these). */
  constructor(dir: string, tmpDir: string, guarded: string[], onRepair: (message: string) => void = () => undefined) {
    this.#dir = dir;
    this.#tmpDir = tmpDir;
    this.#guarded = guarded;
    this.#onRepair = onRepair;
  }

  async record(bucket: string, name: string, sha256: string, identity: FileIdentity): Promise<void> {
    const record: ChecksumRecord = { sha256, size: Number(identity.size), mtimeNs: identity.mtimeNs.toString(), ino: identity.ino.toString() };
    const bucketDir = await this.#bucketRecords(bucket, true);
    const tmp = path.join(this.#tmpDir, `${randomBytes(8).toString('hex')}.sum`);
    await writeFile(tmp, JSON.stringify(record), { flag: constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW });
    // rename replaces a link at the destination; it never writes through one.
    await rename(tmp, path.join(bucketDir!, name)).catch(async (error: unknown) => {
      await rm(tmp, { force: true });
      throw error;
    });
  }

  /** The recorded SHA-256, if there is a record and it still matches. */
  async lookup(bucket: string, name: string, identity: FileIdentity): Promise<string | undefined> {
    const bucketDir = await this.#bucketRecords(bucket, false).catch(() => undefined);
    return bucketDir === undefined ? undefined : readRecord(bucketDir, name, identity);
  }

  /**
   * For looking up many files of one bucket (a listing): the folder is
   * checked and read once, and only names that have a record are opened.
   */
  async bucketReader(bucket: string): Promise<(name: string, identity: FileIdentity) => Promise<string | undefined>> {
    const bucketDir = await this.#bucketRecords(bucket, false).catch(() => undefined);
    if (bucketDir === undefined) return async () => undefined;
    const recorded = new Set(await readdir(bucketDir).catch(() => [] as string[]));
    return async (name, identity) => (recorded.has(name) ? readRecord(bucketDir, name, identity) : undefined);
  }

  async forget(bucket: string, name: string): Promise<void> {
    const bucketDir = await this.#bucketRecords(bucket, false);
    if (bucketDir !== undefined) await rm(path.join(bucketDir, name), { force: true });
  }

  /** rm removes a link itself, never what it points to. */
  async forgetBucket(bucket: string): Promise<void> {
    await assertRealFolders(...this.#guarded);
    await rm(path.join(this.#dir, bucket), { recursive: true, force: true });
  }

  /**
   * The bucket's record folder if it is a real folder, made if `create`;
   * a link in its place is removed and reported.
   */
  async #bucketRecords(bucket: string, create: boolean): Promise<string | undefined> {
    await assertRealFolders(...this.#guarded);
    const dir = path.join(this.#dir, bucket);
    const stats = await lstat(dir).catch((error: unknown) => {
      if (errnoOf(error) === 'ENOENT') return undefined;
      throw error;
    });
    if (stats && !stats.isDirectory()) {
      await unlink(dir);
      this.#onRepair(`removed ${dir}: a ${stats.isSymbolicLink() ? 'symbolic link' : 'file'} where a folder of checksum records belongs`);
    } else if (stats) {
      return dir;
    }
    if (!create) return undefined;
    await mkdir(dir).catch((error: unknown) => {
      if (errnoOf(error) !== 'EEXIST') throw error; // made meanwhile by another commit
    });
    return dir;
  }
}

/** The record's SHA-256 if it is well formed and still matches the file's identity. */
async function readRecord(bucketDir: string, name: string, identity: FileIdentity): Promise<string | undefined> {
  let record: Partial<ChecksumRecord>;
  try {
    const text = await readFile(path.join(bucketDir, name), { encoding: 'utf8', flag: constants.O_RDONLY | constants.O_NOFOLLOW });
    record = JSON.parse(text) as Partial<ChecksumRecord>;
  } catch {
    return undefined;
  }
  const matches =
    typeof record.sha256 === 'string' &&
    isSha256Hex(record.sha256) &&
    record.size === Number(identity.size) &&
    record.mtimeNs === identity.mtimeNs.toString() &&
    record.ino === identity.ino.toString();
  return matches ? record.sha256 : undefined;
}
