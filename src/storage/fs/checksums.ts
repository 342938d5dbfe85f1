/**
 * Recorded checksums: a small JSON file per stored file under
 * ROOT/.bucketd/sums/<bucket>/<name>. A record counts only while the file's
 * inode, size and mtime still match it, so a file changed by hand under ROOT,
 * or replaced since, shows as "checksum unknown" rather than as a wrong one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isSha256Hex } from '../../util/sha256.js';

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

  constructor(dir: string, tmpDir: string) {
    this.#dir = dir;
    this.#tmpDir = tmpDir;
  }

  async record(bucket: string, name: string, sha256: string, identity: FileIdentity): Promise<void> {
    const record: ChecksumRecord = { sha256, size: Number(identity.size), mtimeNs: identity.mtimeNs.toString(), ino: identity.ino.toString() };
    const bucketDir = path.join(this.#dir, bucket);
    await mkdir(bucketDir, { recursive: true });
    const tmp = path.join(this.#tmpDir, `${randomBytes(8).toString('hex')}.sum`);
    await writeFile(tmp, JSON.stringify(record), { flag: 'wx' });
    await rename(tmp, path.join(bucketDir, name)).catch(async (error: unknown) => {
      await rm(tmp, { force: true });
      throw error;
    });
  }

  /** The recorded SHA-256, if there is a record and it still matches. */
  async lookup(bucket: string, name: string, identity: FileIdentity): Promise<string | undefined> {
    let record: Partial<ChecksumRecord>;
    try {
      record = JSON.parse(await readFile(path.join(this.#dir, bucket, name), 'utf8')) as Partial<ChecksumRecord>;
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

  async forget(bucket: string, name: string): Promise<void> {
    await rm(path.join(this.#dir, bucket, name), { force: true });
  }

  async forgetBucket(bucket: string): Promise<void> {
    await rm(path.join(this.#dir, bucket), { recursive: true, force: true });
  }
}
