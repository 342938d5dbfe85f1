/**
 * Recorded checksums: a small JSON file per stored file under
 * ROOT/.bucketd/sums/<bucket>/<name>, or for a name in folders (which may
 * be longer than one path component can be) under
 * ROOT/.bucketd/sums/.in-folders/<bucket>/<SHA-256 of the name>, holding
 * the name too. (".in-folders" is no bucket name: those start with a
 * letter or digit.) A record counts only while the file's
 * inode, size and mtime still match it, so a file changed by hand under ROOT,
 * or replaced since, shows as "checksum unknown" rather than as a wrong one.
 *
 * Records are a cache of what bucketd computed, so a symbolic link found
 * among them is removed (the link, never its target) rather than followed.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { readdir, rm, unlink } from 'node:fs/promises';
import * as meta from './meta.js';
import path from 'node:path';
import { isSha256Hex } from '../../util/sha256.js';
import { assertRealFolders } from './layout.js';
import { errnoOf } from './os-errors.js';
import { randomHex } from '../../util/random-hex.js';
import { RecordCache } from './record-cache.js';

interface ChecksumRecord {
  /** Only in records of names in folders, whose file is named by a hash. */
  name?: string;
  sha256: string;
  size: number;
  mtimeNs: string;
  ino: string;
}

/** A listing's look at one record: whether the name has one, and its SHA-256 if it is of the version seen. */
export interface RecordFound {
  recorded: boolean;
  sha256?: string;
}

/** What tells one version of a file from another: a rename keeps all three. */
export interface FileIdentity {
  size: bigint;
  mtimeNs: bigint;
  ino: bigint;
}

const IN_FOLDERS = '.in-folders';

function inFolders(name: string): boolean {
  return name.includes('/');
}

/** The record's file name inside its bucket's records folder. */
function recordName(name: string): string {
  return inFolders(name) ? createHash('sha256').update(name, 'utf8').digest('hex') : name;
}

export class ChecksumStore {
  readonly #dir: string;
  readonly #tmpDir: string;
  readonly #guarded: string[];
  readonly #onRepair: (message: string) => void;
  readonly #cache = new RecordCache();

  /** `guarded`: folders that must still be real before each use (the bookkeeping folder and these). */
  constructor(dir: string, tmpDir: string, guarded: string[], onRepair: (message: string) => void = () => undefined) {
    this.#dir = dir;
    this.#tmpDir = tmpDir;
    this.#guarded = guarded;
    this.#onRepair = onRepair;
  }

  async record(bucket: string, name: string, sha256: string, identity: FileIdentity): Promise<void> {
    const record: ChecksumRecord = { sha256, size: Number(identity.size), mtimeNs: identity.mtimeNs.toString(), ino: identity.ino.toString() };
    if (inFolders(name)) record.name = name;
    const bucketDir = await this.#bucketRecords(bucket, inFolders(name), true);
    const tmp = path.join(this.#tmpDir, `${randomHex(8)}.sum`);
    await meta.writeSmallFile(tmp, JSON.stringify(record), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW);
    // rename replaces a link at the destination; it never writes through one.
    // Until the new record is in place, the old version's entry must not outlive it.
    this.#cache.delete(bucket, name);
    await meta.rename(tmp, path.join(bucketDir!, recordName(name))).catch(async (error: unknown) => {
      await rm(tmp, { force: true });
      throw error;
    });
    this.#cache.set(bucket, name, sha256, identity);
  }

  /** The recorded SHA-256, if there is a record and it still matches. */
  async lookup(bucket: string, name: string, identity: FileIdentity): Promise<string | undefined> {
    const known = this.#cache.get(bucket, name, identity);
    if (known !== undefined) return known;
    const bucketDir = await this.#bucketRecords(bucket, inFolders(name), false).catch(() => undefined);
    return bucketDir === undefined ? undefined : this.#readKept(bucketDir, bucket, name, identity);
  }

  /**
   * For looking up many files of one bucket (a listing): the folder is
   * checked and read once, and only names that have a record are opened.
   * A name with no record at all (a file put there by hand) is told apart
   * from one whose record is of another version, which may be mid-replace.
   */
  async bucketReader(bucket: string): Promise<(name: string, identity: FileIdentity) => Promise<RecordFound>> {
    const folders = [await this.#bucketRecords(bucket, false, false).catch(() => undefined), await this.#bucketRecords(bucket, true, false).catch(() => undefined)];
    // The names with a record, or undefined when the folder could not be
    // read (out of descriptors, an I/O error): then every name may have one.
    const recorded = await Promise.all(
      folders.map(async (dir) => {
        if (dir === undefined) return new Set<string>();
        return readdir(dir).then(
          (names) => new Set(names),
          (error: unknown) => (errnoOf(error) === 'ENOENT' ? new Set<string>() : undefined),
        );
      }),
    );
    return async (name, identity) => {
      const known = this.#cache.get(bucket, name, identity);
      if (known !== undefined) return { recorded: true, sha256: known };
      const nested = inFolders(name) ? 1 : 0;
      const dir = folders[nested];
      const names = recorded[nested];
      if (dir === undefined || names?.has(recordName(name)) === false) return { recorded: false };
      const sha256 = await this.#readKept(dir, bucket, name, identity);
      return sha256 === undefined ? { recorded: true } : { recorded: true, sha256 };
    };
  }

  /** A record read from disk, kept in the cache when it is of this version. */
  async #readKept(dir: string, bucket: string, name: string, identity: FileIdentity): Promise<string | undefined> {
    const sha256 = await readRecord(dir, name, identity);
    if (sha256 !== undefined) this.#cache.set(bucket, name, sha256, identity);
    return sha256;
  }

  async forget(bucket: string, name: string): Promise<void> {
    this.#cache.delete(bucket, name);
    try {
      const bucketDir = await this.#bucketRecords(bucket, inFolders(name), false);
      if (bucketDir !== undefined) await rm(path.join(bucketDir, recordName(name)), { force: true });
    } finally {
      // Again once the record is gone: a reader meanwhile may have read it back in.
      this.#cache.delete(bucket, name);
    }
  }

  /** rm removes a link itself, never what it points to. */
  async forgetBucket(bucket: string): Promise<void> {
    this.#cache.deleteBucket(bucket);
    try {
      await assertRealFolders(...this.#guarded);
      await rm(path.join(this.#dir, bucket), { recursive: true, force: true });
      await this.#realFolder(path.join(this.#dir, IN_FOLDERS), false);
      await rm(path.join(this.#dir, IN_FOLDERS, bucket), { recursive: true, force: true });
    } finally {
      // Again once the records are gone: a listing meanwhile may have read some back in.
      this.#cache.deleteBucket(bucket);
    }
  }

  /**
   * The bucket's record folder if it is a real folder, made if `create`;
   * a link in its place is removed and reported.
   */
  async #bucketRecords(bucket: string, nested: boolean, create: boolean): Promise<string | undefined> {
    await assertRealFolders(...this.#guarded);
    if (!nested) return this.#realFolder(path.join(this.#dir, bucket), create);
    const parent = await this.#realFolder(path.join(this.#dir, IN_FOLDERS), create);
    return parent === undefined ? undefined : this.#realFolder(path.join(parent, bucket), create);
  }

  /** `dir` if it is a real folder, made if `create`; a link or file in its place is removed and reported. */
  async #realFolder(dir: string, create: boolean): Promise<string | undefined> {
    const stats = await meta.lstatIfAny(dir);
    if (stats && !stats.isDirectory()) {
      await unlink(dir).catch((error: unknown) => {
        if (errnoOf(error) !== 'ENOENT') throw error; // removed meanwhile by another repair
      });
      this.#onRepair(`removed ${dir}: a ${stats.isSymbolicLink() ? 'symbolic link' : 'file'} where a folder of checksum records belongs`);
    } else if (stats) {
      return dir;
    }
    if (!create) return undefined;
    await meta.mkdir(dir).catch((error: unknown) => {
      if (errnoOf(error) !== 'EEXIST') throw error; // made meanwhile by another commit
    });
    return dir;
  }
}

/** The record's SHA-256 if it is well formed and still matches the file's identity. */
async function readRecord(bucketDir: string, name: string, identity: FileIdentity): Promise<string | undefined> {
  let record: Partial<ChecksumRecord>;
  try {
    const text = await meta.readSmallFile(path.join(bucketDir, recordName(name)), constants.O_RDONLY | constants.O_NOFOLLOW);
    record = JSON.parse(text) as Partial<ChecksumRecord>;
  } catch {
    return undefined;
  }
  const matches =
    record.name === (inFolders(name) ? name : undefined) &&
    typeof record.sha256 === 'string' &&
    isSha256Hex(record.sha256) &&
    record.size === Number(identity.size) &&
    record.mtimeNs === identity.mtimeNs.toString() &&
    record.ino === identity.ino.toString();
  return matches ? record.sha256 : undefined;
}
