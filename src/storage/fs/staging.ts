/**
 * Where unfinished uploads wait (`.bucketd/uploads`): for each, its bytes
 * (`<id>.part`) and, once some of them are durable, a record (`<id>.json`:
 * bucket, name, declared size, bytes held, owner, times). The record is
 * written only at a checkpoint or when the connection goes, so an upload
 * that ends within its connection never writes one. A part without a
 * record, after a crash, held nothing durable and is removed at start.
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { BucketError } from '../../errors.js';
import { isUploadId } from '../../util/upload-id.js';
import { isNormalName, isValidBucketName } from '../names.js';
import type { StagedUpload } from '../storage.js';
import { syncDir } from './layout.js';

const PART = '.part';
const RECORD = '.json';
const READ_CHUNK = 1024 * 1024;

export class UploadStage {
  readonly dir: string;
  readonly #onRepair: (message: string) => void;

  constructor(dir: string, onRepair: (message: string) => void = () => undefined) {
    this.dir = dir;
    this.#onRepair = onRepair;
  }

  partPath(id: string): string {
    return path.join(this.dir, `${id}${PART}`);
  }

  #recordPath(id: string): string {
    return path.join(this.dir, `${id}${RECORD}`);
  }

  /** Writes the record whole or not at all: a temporary file, fsync, rename. */
  async record(upload: StagedUpload): Promise<void> {
    const text = JSON.stringify({ ...upload, startedAt: upload.startedAt.toISOString(), updatedAt: upload.updatedAt.toISOString() });
    const temporary = path.join(this.dir, `${upload.id}.tmp`);
    const handle = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, this.#recordPath(upload.id));
    await syncDir(this.dir);
  }

  /** The record of an upload whose part is still there; undefined otherwise. */
  async read(id: string): Promise<StagedUpload | undefined> {
    if (!isUploadId(id)) return undefined;
    const text = await readFile(this.#recordPath(id), { encoding: 'utf8', flag: constants.O_RDONLY | constants.O_NOFOLLOW }).catch(() => undefined);
    if (text === undefined) return undefined;
    const upload = parseRecord(text, id);
    if (upload === undefined) return undefined;
    const part = await lstat(this.partPath(id)).catch(() => undefined);
    if (!part?.isFile()) return undefined;
    // A part shorter than its record says (cut by hand): only what is there.
    return part.size < upload.held ? { ...upload, held: part.size } : upload;
  }

  /** Every staged upload with a record and a part, oldest first. */
  async list(): Promise<StagedUpload[]> {
    const names = await readdir(this.dir);
    const uploads: StagedUpload[] = [];
    for (const name of names) {
      if (!name.endsWith(RECORD)) continue;
      const upload = await this.read(name.slice(0, -RECORD.length));
      if (upload) uploads.push(upload);
    }
    return uploads.sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime() || (a.id < b.id ? -1 : 1));
  }

  /**
   * At start, before any upload runs: removes parts without a record
   * (nothing of them was durable), records without a part (committed or
   * aborted just before a crash), temporary records, and uploads whose
   * record cannot be read.
   */
  async tidy(): Promise<void> {
    const names = new Set(await readdir(this.dir));
    for (const name of names) {
      const id = name.replace(/\.(part|json|tmp)$/, '');
      const orphan =
        !isUploadId(id) ||
        name.endsWith('.tmp') ||
        (name.endsWith(PART) && !names.has(`${id}${RECORD}`)) ||
        (name.endsWith(RECORD) && !names.has(`${id}${PART}`));
      if (orphan) await unlink(path.join(this.dir, name)).catch(() => undefined);
    }
    // A record that cannot be read (damaged, or naming a place outside a bucket) leaves nothing to resume.
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith(RECORD)) continue;
      const id = name.slice(0, -RECORD.length);
      if ((await this.read(id)) !== undefined) continue;
      const bytes = await this.remove(id);
      this.#onRepair(`removed unfinished upload ${id} (${bytes} bytes): its record in ${this.dir} could not be read`);
    }
  }

  /** Removes the part and the record; resolves with the part's size. */
  async remove(id: string): Promise<number> {
    const size = (await lstat(this.partPath(id)).catch(() => undefined))?.size ?? 0;
    await unlink(this.partPath(id)).catch(() => undefined);
    await unlink(this.#recordPath(id)).catch(() => undefined);
    await syncDir(this.dir).catch(() => undefined);
    return size;
  }

  /** Forgets the record once the part has been moved into place. */
  async forget(id: string): Promise<void> {
    await unlink(this.#recordPath(id)).catch(() => undefined);
  }

  /** The part's bytes before `end`, a chunk at a time (each chunk is new memory). */
  async *prefix(id: string, end: number): AsyncGenerator<Buffer> {
    if (end === 0) return;
    const handle = await open(this.partPath(id), constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      for (let at = 0; at < end; ) {
        const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK, end - at));
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, at);
        if (bytesRead === 0) throw new BucketError('STORAGE_FAILED', 'a staged upload is shorter than its record');
        at += bytesRead;
        yield chunk.subarray(0, bytesRead);
      }
    } finally {
      await handle.close();
    }
  }
}

function parseRecord(text: string, id: string): StagedUpload | undefined {
  try {
    const value = JSON.parse(text) as Record<string, unknown>;
    const { bucket, name, size, held, owner, startedAt, updatedAt } = value;
    // A record edited by hand must not steer a commit outside ROOT.
    if (value.id !== id || typeof bucket !== 'string' || typeof name !== 'string' || !isValidBucketName(bucket) || !isNormalName(name)) return undefined;
    if (!Number.isSafeInteger(size) || !Number.isSafeInteger(held) || (held as number) < 0 || (held as number) > (size as number)) return undefined;
    if (owner !== undefined && typeof owner !== 'string') return undefined;
    const started = new Date(String(startedAt));
    const updated = new Date(String(updatedAt));
    if (Number.isNaN(started.getTime()) || Number.isNaN(updated.getTime())) return undefined;
    const upload: StagedUpload = { id, bucket, name, size: size as number, held: held as number, startedAt: started, updatedAt: updated };
    if (typeof owner === 'string') upload.owner = owner;
    return upload;
  } catch {
    return undefined;
  }
}
