/**
 * Uploads from and downloads to local files, on top of the stream API.
 * A download is written to a temporary file beside its destination and
 * renamed into place only once its SHA-256 matched; anything else removes it.
 */
import { randomBytes } from 'node:crypto';
import { constants, createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { link, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { fd } from '../util/fd.js';
import { destroyAndWait, endAndClose } from '../util/streams.js';
import type { BucketClient, TransferOptions, TransferResult } from './client.js';
import { ClientError } from './errors.js';

const CHUNK_BYTES = 4 * 1024 * 1024;

/** Uploads the local file at `localPath` as `name` (default: its own name). */
export async function uploadFile(client: BucketClient, localPath: string, bucket: string, name?: string, options: TransferOptions = {}): Promise<TransferResult> {
  const descriptor = await fd.open(localPath, constants.O_RDONLY).catch((error: unknown) => {
    throw localError(`cannot read ${localPath}`, error);
  });
  let size: number;
  try {
    const stats = await fd.stat(descriptor);
    if (!stats.isFile()) throw new ClientError('LOCAL_FILE_ERROR', `${localPath} is not a file`);
    size = Number(stats.size);
  } catch (error) {
    await fd.close(descriptor);
    throw error instanceof ClientError ? error : localError(`cannot read ${localPath}`, error);
  }
  // The stream takes over the descriptor and closes it when done. Its
  // buffer is no larger than the file: a read allocates a whole buffer, and
  // 4 MiB for each of thousands of small files keeps the collector busy.
  const source = createReadStream('', { fd: descriptor, highWaterMark: Math.max(1, Math.min(CHUNK_BYTES, size)) });
  try {
    return await client.upload(bucket, name ?? path.basename(localPath), source, size, options);
  } finally {
    await destroyAndWait(source);
  }
}

export interface DownloadFileOptions extends TransferOptions {
  /** Replace an existing local file (default: refuse with DESTINATION_EXISTS). */
  overwrite?: boolean;
}

/**
 * Where a download lands: inside `destination` if it is a folder (or ends
 * with a separator), under the file's own name without its folders
 * (`2026/trip/img.jpg` lands as `img.jpg`); else at `destination` itself.
 */
export async function resolveDestination(destination: string, name: string): Promise<string> {
  const target = destination === '' ? '.' : destination;
  const own = name.slice(name.lastIndexOf('/') + 1);
  if (target.endsWith(path.sep)) return path.join(target, own);
  const stats = await stat(target).catch(() => undefined);
  return stats?.isDirectory() ? path.join(target, own) : target;
}

export async function downloadFile(
  client: BucketClient,
  bucket: string,
  name: string,
  destination: string,
  options: DownloadFileOptions = {},
): Promise<TransferResult & { path: string }> {
  const finalPath = await resolveDestination(destination, name);
  if (!options.overwrite && (await exists(finalPath))) {
    throw new ClientError('DESTINATION_EXISTS', `${finalPath} already exists`);
  }
  // Short, so that it fits beside a name of the longest length allowed.
  const tmpPath = path.join(path.dirname(finalPath), `.bucket-${randomBytes(6).toString('hex')}.part`);
  const out = await openExclusive(tmpPath);
  let kept = false;
  try {
    const result = await client.download(bucket, name, out, options);
    await endAndClose(out); // fsyncs (flush) before closing
    if (options.overwrite) {
      await rename(tmpPath, finalPath);
    } else {
      await placeWithoutReplacing(tmpPath, finalPath);
    }
    kept = true;
    return { ...result, path: finalPath };
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'EEXIST') {
      throw new ClientError('DESTINATION_EXISTS', `${finalPath} already exists`);
    }
    throw error instanceof ClientError || !isOsError(error) ? error : localError(`cannot write ${finalPath}`, error);
  } finally {
    if (!kept) {
      await destroyAndWait(out);
      await unlink(tmpPath).catch(() => undefined);
    }
  }
}

/** Moves `from` to `to` unless `to` exists (EEXIST), even if it appeared just now. */
async function placeWithoutReplacing(from: string, to: string): Promise<void> {
  try {
    await link(from, to); // atomic: fails rather than replaces
    await unlink(from);
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? error.code : undefined;
    // Filesystems without hard links: check, then rename.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw error;
    if (await exists(to)) throw Object.assign(new Error(`${to} exists`), { code: 'EEXIST' });
    await rename(from, to);
  }
}

async function openExclusive(tmpPath: string): Promise<WriteStream> {
  const descriptor = await fd.open(tmpPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644).catch((error: unknown) => {
    throw localError(`cannot write in ${path.dirname(tmpPath)}`, error);
  });
  return createWriteStream('', { fd: descriptor, flush: true, highWaterMark: CHUNK_BYTES });
}

async function exists(filePath: string): Promise<boolean> {
  return (await stat(filePath).catch(() => undefined)) !== undefined;
}

function isOsError(error: unknown): boolean {
  return error instanceof Error && 'syscall' in error;
}

function localError(message: string, error: unknown): ClientError {
  const reason = error instanceof Error && 'code' in error ? String(error.code) : String(error);
  return new ClientError('LOCAL_FILE_ERROR', `${message}: ${reason}`, { cause: error });
}
