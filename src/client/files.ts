/**
 * Uploads from and downloads to local files, on top of the stream API,
 * resumed by themselves when the connection breaks (protocol 4): an
 * upload goes on from what the server holds (reopening the local file
 * there), a download from what its partial file holds. A download is
 * written to a partial file beside its destination and renamed into place
 * only once the whole file's SHA-256 matched.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { HashMarks } from './hash-marks.js';
import { UploadHasher } from './upload-hasher.js';
import fs, { constants, createReadStream, type ReadStream } from 'node:fs';
import { readdir, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fd } from '../util/fd.js';
import { FileWriter } from '../util/file-writer.js';
import { FlowWindow } from '../util/flow.js';
import { PooledFileReader } from '../util/pooled-reader.js';
import { destroyAndWait, endAndClose } from '../util/streams.js';
import type { BucketClient, DownloadStart, TransferOptions, TransferResult, UploadOptions } from './client.js';
import { uploadIdOf } from './client.js';
import { ClientError } from './errors.js';
import { backoffMs, codeOf, DEFAULT_RETRIES, DEFAULT_STALL_TIMEOUT_MS, failureOf, isRetryable, sleep, StallWatch, type RetryOptions } from './retry.js';
import { AT_ONCE_MAX_BYTES, uploadSmallFile } from './small-upload.js';
import { downloadSmallFile } from './small-download.js';
import { downloadFailure, exists, localError, placeWithoutReplacing } from './local-files.js';
import type { UploadJournal, UploadKey } from './upload-journal.js';

const CHUNK_BYTES = 4 * 1024 * 1024;
// A large file is sent from a few reused buffers of this size: enough of
// them to cover the bytes the client keeps in flight, and one being read.
const SEND_CHUNK_BYTES = 2 * 1024 * 1024;
const SEND_BUFFERS = 6;
// Files smaller than this are not recorded in the journal: sending one
// again costs less than two writes of the journal per file (think put -r
// of many small files); the server checkpoints every 8 MiB anyway.
const JOURNAL_MIN_BYTES = 8 * 1024 * 1024;
// Resumes met by NO_SUCH_UPLOAD right after a break, before starting over.
const UNSEEN_RETRIES = 2;
// From this size an upload's file is read into reused buffers.
const POOLED_READ_MIN_BYTES = 32 * 1024 * 1024;
// From this size it is also hashed on a worker thread while the main
// thread sends it: starting a thread costs about 30 ms of CPU, what
// hashing 50 MiB costs here.
const WORKER_HASH_MIN_BYTES = 64 * 1024 * 1024;

export interface UploadFileOptions extends UploadOptions, RetryOptions {
  /**
   * Remembers the upload's id while it is in flight (FileUploadJournal),
   * so that uploading the same file (same path, size and modification
   * time) again after this program was killed resumes it. Only files of
   * 8 MiB or more are recorded: a smaller one is sent again whole.
   */
  journal?: UploadJournal;
}

interface LocalFile {
  path: string;
  size: number;
  mtimeMs: number;
}

/**
 * Uploads the local file at `localPath` as `name` (default: its own name).
 * From protocol 4, a broken connection is followed by a reconnect and a
 * resume from the server's offset (see RetryOptions); CHECKSUM_MISMATCH
 * and other refusals are not retried.
 */
export async function uploadFile(client: BucketClient, localPath: string, bucket: string, name?: string, options: UploadFileOptions = {}): Promise<TransferResult> {
  const remoteName = name ?? path.basename(localPath);
  const file = await statLocal(localPath);
  const protocol = await client.protocol();
  // A small file goes with its request (protocol 5): one round trip, pipelined with others.
  if (protocol >= 5 && file.size <= AT_ONCE_MAX_BYTES) return uploadSmallFile(client, file, bucket, remoteName, options);
  // Started before the first request, so the thread is up by the first byte.
  const hasher = file.size >= WORKER_HASH_MIN_BYTES ? new UploadHasher(file.path, file.size) : undefined;
  try {
    return await uploadHashed(client, file, bucket, remoteName, hasher, hasher === undefined ? options : { ...options, wholeSha256: () => hasher.digest().catch(hashFailure(file)) });
  } finally {
    hasher?.stop();
  }
}

function hashFailure(file: LocalFile): (error: unknown) => never {
  return (error) => {
    throw localError(`cannot hash ${file.path}`, error);
  };
}

async function uploadHashed(client: BucketClient, file: LocalFile, bucket: string, remoteName: string, hasher: UploadHasher | undefined, options: UploadFileOptions): Promise<TransferResult> {
  const localPath = file.path;
  if ((await client.protocol()) < 4) return uploadOnce(client, file, bucket, remoteName, hasher, options);
  const retries = options.retries ?? DEFAULT_RETRIES;
  // A small file is sent again sooner than its id is written down and read back.
  const journal = file.size >= JOURNAL_MIN_BYTES ? options.journal : undefined;
  const key: UploadKey = { server: `${client.host}:${client.port}`, bucket, name: remoteName, path: path.resolve(localPath) };
  let uploadId: string | undefined;
  const mark = await journal?.find(key);
  if (mark !== undefined) {
    if (mark.size === file.size && mark.mtimeMs === file.mtimeMs) {
      uploadId = mark.uploadId;
    } else {
      // The file changed since: that upload can never be finished.
      await client.abortUpload(mark.uploadId).catch(() => undefined);
      await journal?.remove(key);
    }
  }
  const watch = new StallWatch(options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS, () => client.dropConnection());
  const transfer = watched(options, watch);
  // Waiting for the worker to finish hashing is local work, not a stall.
  const wholeSha256 = options.wholeSha256;
  if (wholeSha256 !== undefined) transfer.wholeSha256 = () => watch.paused(wholeSha256);
  try {
    return await uploadWithRetries(client, file, bucket, remoteName, key, uploadId, hasher, { ...transfer, journal }, watch, retries);
  } finally {
    watch.stop();
  }
}

async function uploadWithRetries(
  client: BucketClient,
  file: LocalFile,
  bucket: string,
  remoteName: string,
  key: UploadKey,
  remembered: string | undefined,
  hasher: UploadHasher | undefined,
  options: UploadFileOptions,
  watch: StallWatch,
  retries: number,
): Promise<TransferResult> {
  const journal = options.journal;
  let uploadId = remembered;
  let failures = 0;
  let resumes = 0;
  let firstFailure: unknown;
  let startedOver = false;
  let lastFailure: unknown;
  let reconnect = false;
  let unseen = 0;
  let heldBefore = -1;
  // Where the hash stood as the bytes went out, so that a resume re-reads little of the file.
  const hashMarks = new HashMarks(file.size);
  options = { ...options, hashMarks };
  for (;;) {
    try {
      if (reconnect) await client.reconnect();
      reconnect = false;
      watch.moved();
      if (uploadId === undefined) {
        const result = await uploadOnce(client, file, bucket, remoteName, hasher, {
          ...options,
          onUploadId: async (id) => {
            uploadId = id;
            await journal?.save(key, { uploadId: id, size: file.size, mtimeMs: file.mtimeMs });
            await options.onUploadId?.(id);
          },
        });
        await journal?.remove(key);
        return result;
      }
      const resumed = uploadId;
      const result = await client.resumeUpload(
        resumed,
        async (point) => {
          await checkUnchanged(file);
          if (point.size !== file.size) throw new ClientError('SOURCE_CHANGED', `${file.path} has ${file.size} bytes; the unfinished upload has ${point.size}`);
          if (heldBefore >= 0 && point.offset > heldBefore) failures = 0; // it moved forward since the last try
          heldBefore = point.offset;
          options.onResume?.({ attempt: resumes, offset: point.offset, size: point.size, ...(lastFailure === undefined ? {} : { cause: failureOf(lastFailure) }) });
          // The worker's hash goes back to the offset by itself: this one is never fed.
          if (hasher !== undefined) return { source: readFrom(file, point.offset, hasher), prefixHash: createHash('sha256') };
          return { source: readFrom(file, point.offset, undefined), prefixHash: await watch.paused(() => hashPrefix(file, point.offset, hashMarks.before(point.offset))) };
        },
        options,
      );
      await journal?.remove(key);
      return result;
    } catch (error) {
      const code = codeOf(error);
      uploadId ??= uploadIdOf(error);
      if (code === 'NO_SUCH_UPLOAD') {
        // The connection (or the program, last run) may have broken after the last byte, with the file stored but the answer lost.
        const stored = await storedAlready(client, bucket, remoteName, file).catch(() => undefined);
        if (stored !== undefined) {
          await journal?.remove(key);
          return stored;
        }
      }
      if (code === 'NO_SUCH_UPLOAD' && lastFailure !== undefined && unseen < UNSEEN_RETRIES) {
        // Just after a break the server may not have staged what it received yet.
        unseen++;
        await sleep(backoffMs(unseen + 1), options.signal);
        continue;
      }
      if (code === 'NO_SUCH_UPLOAD' && !startedOver) {
        // Committed, aborted or expired meanwhile: send it whole, once.
        startedOver = true;
        uploadId = undefined;
        lastFailure = undefined;
        await journal?.remove(key);
        continue;
      }
      if (code === 'CHECKSUM_MISMATCH' || code === 'NO_SUCH_UPLOAD' || code === 'SOURCE_CHANGED' || code === 'CANCELLED') {
        // The server dropped it, it can never match, or it is not wanted: nothing to resume.
        await journal?.remove(key);
        throw error;
      }
      watch.stop();
      if (!isRetryable(error) || options.signal?.aborted === true) throw error;
      if (failures >= retries) throw givenUp(error, firstFailure ?? error, failures);
      firstFailure ??= error;
      failures++;
      resumes++;
      lastFailure = error;
      reconnect = true;
      await sleep(backoffMs(failures), options.signal);
    }
  }
}

/**
 * The error to end with after the last retry: a lost connection that
 * could not be made again is still a lost connection (not the refusal
 * the last reconnect met), and says how often it was tried.
 */
function givenUp(last: unknown, first: unknown, retried: number): unknown {
  if (retried === 0 || first === last || codeOf(first) !== 'CONNECTION_LOST' || codeOf(last) === 'CONNECTION_LOST') return last;
  const error = new ClientError('CONNECTION_LOST', `${(first as Error).message}; gave up after ${retried} ${retried === 1 ? 'retry' : 'retries'} (${(last as Error).message})`, { cause: last });
  const uploadId = uploadIdOf(first) ?? uploadIdOf(last);
  if (uploadId !== undefined) (error as { uploadId?: string }).uploadId = uploadId;
  return error;
}

/** The stored file, if the server holds exactly this local file's bytes under `name`. */
async function storedAlready(client: BucketClient, bucket: string, name: string, file: LocalFile): Promise<TransferResult | undefined> {
  const wanted = name.normalize('NFC');
  let remote: { name: string; size: number; sha256?: string } | undefined;
  for await (const entry of client.iterateFiles(bucket, { prefix: wanted })) if (entry.name === wanted) remote = entry;
  if (remote?.sha256 === undefined || remote.size !== file.size) return undefined;
  const sha256 = (await hashPrefix(file, file.size)).digest('hex');
  return sha256 === remote.sha256 ? { bucket, name: remote.name, size: remote.size, sha256 } : undefined;
}

/** One plain upload: the whole file, on the connection as it is. */
async function uploadOnce(client: BucketClient, file: LocalFile, bucket: string, name: string, hasher: UploadHasher | undefined, options: UploadOptions): Promise<TransferResult> {
  const source = readFrom(file, 0, hasher);
  try {
    return await client.upload(bucket, name, source, file.size, options);
  } finally {
    if (!(source instanceof PooledFileReader)) await destroyAndWait(source);
  }
}

/** The file's size and time, read through a descriptor, so that a file that cannot be read fails before any request. */
async function statLocal(localPath: string): Promise<LocalFile> {
  // Direct calls: three thread-pool round trips per file add up over a folder of small files.
  let descriptor: number;
  try {
    descriptor = fs.openSync(localPath, constants.O_RDONLY);
  } catch (error) {
    throw localError(`cannot read ${localPath}`, error);
  }
  try {
    const stats = fs.fstatSync(descriptor, { bigint: true });
    if (!stats.isFile()) throw new ClientError('LOCAL_FILE_ERROR', `${localPath} is not a file`);
    return { path: localPath, size: Number(stats.size), mtimeMs: Number(stats.mtimeMs) };
  } catch (error) {
    throw error instanceof ClientError ? error : localError(`cannot read ${localPath}`, error);
  } finally {
    fs.closeSync(descriptor);
  }
}

async function checkUnchanged(file: LocalFile): Promise<void> {
  const now = await statLocal(file.path);
  if (now.size !== file.size || now.mtimeMs !== file.mtimeMs) throw new ClientError('SOURCE_CHANGED', `${file.path} changed while it was being uploaded`);
}

/**
 * The file's bytes from `offset` to its end. A large file is read into a
 * few reused buffers (shared with the hashing thread, when there is one,
 * which is fed each chunk as it goes out); a small one as a stream whose
 * buffer is no larger than the file: a read allocates a whole buffer, and
 * 4 MiB for each of thousands of small files keeps the collector busy.
 */
function readFrom(file: LocalFile, offset: number, hasher: UploadHasher | undefined): ReadStream | PooledFileReader {
  // A pooled reader closes its file when the upload stops iterating it. It
  // reads to the file's end wherever that is now, as a stream does: bytes
  // past the size announced fail the upload (SOURCE_CHANGED).
  const end = Number.MAX_SAFE_INTEGER;
  if (hasher !== undefined) {
    hasher.seek(offset);
    return new PooledFileReader(file.path, offset, end, { chunkBytes: SEND_CHUNK_BYTES, count: SEND_BUFFERS, shared: true, alsoLentTo: (chunk, at) => hasher.hash(chunk, at) });
  }
  if (file.size - offset >= POOLED_READ_MIN_BYTES) return new PooledFileReader(file.path, offset, end, { chunkBytes: SEND_CHUNK_BYTES, count: SEND_BUFFERS });
  const stream = createReadStream(file.path, { start: offset, highWaterMark: Math.max(1, Math.min(CHUNK_BYTES, file.size - offset)) });
  stream.on('error', () => undefined); // surfaced through the upload's reads
  return stream;
}

/** A SHA-256 fed the first `length` bytes of the file; from `from`, a hash of its first bytes, when there is one. */
async function hashPrefix(file: LocalFile | { path: string }, length: number, from?: { offset: number; hash: Hash }): Promise<Hash> {
  const hash = from?.hash ?? createHash('sha256');
  const start = from?.offset ?? 0;
  if (length === start) return hash;
  try {
    await pipeline(createReadStream(file.path, { start, end: length - 1, highWaterMark: CHUNK_BYTES }), new Writable({
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        callback();
      },
    }));
  } catch (error) {
    throw localError(`cannot read ${file.path}`, error);
  }
  return hash;
}

export interface DownloadFileOptions extends TransferOptions, RetryOptions {
  /** Replace an existing local file (default: refuse with DESTINATION_EXISTS). */
  overwrite?: boolean;
  /**
   * The file's SHA-256 as a listing gave it, when known: only that
   * version's partial is looked for (one stat, rather than reading the
   * destination's folder, which matters when downloading many files into one).
   */
  expectedSha256?: string;
  /**
   * The file's size as a listing gave it, when known. A small file (up to
   * 1 MiB) is then fetched whole in one exchange (BucketClient.get),
   * pipelined with others on the connection, and sent again rather than
   * resumed if the connection breaks.
   */
  expectedSize?: number;
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

/**
 * Downloads a file to `destination` (a file path, or a folder to put it
 * in). From protocol 4 the bytes go to a partial file beside it,
 * `.<name>.<first 16 hex digits of the file's SHA-256>.bucket-part`,
 * which a broken connection (here, or in a later run) resumes from its
 * size; the partial is renamed into place only once the whole file's
 * SHA-256 matched the server's record. A partial for another version of
 * the file is removed and the download starts over.
 */
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
  if (options.expectedSize !== undefined && options.expectedSize <= AT_ONCE_MAX_BYTES) {
    const small = await downloadSmallFile(client, bucket, name, finalPath, options);
    if (small !== undefined) return small; // else it grew since it was listed: the streaming way
  }
  if ((await client.protocol()) < 4) return downloadWhole(client, bucket, name, finalPath, options);
  const watch = new StallWatch(options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS, () => client.dropConnection());
  try {
    return await downloadWithRetries(client, bucket, name, finalPath, watched(options, watch), watch);
  } finally {
    watch.stop();
  }
}

async function downloadWithRetries(client: BucketClient, bucket: string, name: string, finalPath: string, options: DownloadFileOptions, watch: StallWatch): Promise<TransferResult & { path: string }> {
  const retries = options.retries ?? DEFAULT_RETRIES;
  const folder = path.dirname(finalPath);
  const base = path.basename(finalPath);
  let failures = 0;
  let resumes = 0;
  let firstFailure: unknown;
  let lastFailure: unknown;
  let reconnect = false;
  let startedOver = false;
  for (;;) {
    const partial = await findPartial(folder, base, options.expectedSha256);
    const offset = partial?.size ?? 0;
    let attempt: { path: string; named: boolean; start: DownloadStart; out: Writable } | undefined;
    try {
      if (reconnect) await client.reconnect();
      reconnect = false;
      // From the start, the client's own hash of the bytes is the whole file's: no second one.
      const wholeHash = partial === undefined ? undefined : await hashPrefix(partial, offset);
      watch.moved();
      const result = await client.download(
        bucket,
        name,
        async (start) => {
          if (partial !== undefined && start.sha256?.slice(0, 16) !== partial.sha16) throw new RemoteChanged();
          if (offset > 0) options.onResume?.({ attempt: resumes, offset, size: start.size, ...(lastFailure === undefined ? {} : { cause: failureOf(lastFailure) }) });
          const named = start.sha256 !== undefined;
          // Without a recorded SHA-256 a partial could not be checked later: it lives for this download only.
          const filePath = partial?.path ?? path.join(folder, named ? partialName(base, start.sha256!) : `.bucket-${randomBytes(6).toString('hex')}.part`);
          attempt = { path: filePath, named, start, out: await openPartial(filePath, partial !== undefined, wholeHash, offset) };
          return attempt.out;
        },
        { offset, ...(options.onProgress ? { onProgress: options.onProgress } : {}), ...(options.signal ? { signal: options.signal } : {}) },
      );
      const done = attempt!;
      await endAndClose(done.out); // fsyncs (flush) before closing
      const sha256 = wholeHash === undefined ? result.rangeSha256 : wholeHash.digest('hex');
      if (done.start.sha256 !== undefined && sha256 !== done.start.sha256) {
        await unlink(done.path).catch(() => undefined);
        // A partial that went bad on disk: once more, from the start.
        if (offset > 0 && !startedOver) {
          startedOver = true;
          continue;
        }
        throw new ClientError('DOWNLOAD_CHECKSUM_MISMATCH', 'the downloaded file does not match the SHA-256 the server recorded; nothing was kept');
      }
      try {
        if (options.overwrite) await rename(done.path, finalPath);
        else await placeWithoutReplacing(done.path, finalPath);
      } catch (error) {
        await unlink(done.path).catch(() => undefined);
        throw error;
      }
      return { bucket, name: result.name, size: result.size, sha256, path: finalPath };
    } catch (error) {
      watch.stop();
      if (attempt !== undefined) await destroyAndWait(attempt.out);
      if (error instanceof RemoteChanged || codeOf(error) === 'BAD_OFFSET') {
        // The file changed on the server since this partial was made (or is shorter than it).
        await unlink(partial!.path).catch(() => undefined);
        reconnect = error instanceof RemoteChanged;
        continue;
      }
      // A partial kept after a broken connection is resumed by the next try, or the next run; a cancel means the file is not wanted.
      const resumable = attempt?.named === true && isRetryable(error);
      if (attempt !== undefined && !resumable) await unlink(attempt.path).catch(() => undefined);
      if (!isRetryable(error) || options.signal?.aborted === true) throw downloadFailure(error, finalPath);
      if (failures >= retries) throw givenUp(error, firstFailure ?? error, failures);
      firstFailure ??= error;
      if (attempt !== undefined && resumable && ((await stat(attempt.path).catch(() => undefined))?.size ?? 0) > offset) failures = 0; // it moved forward
      failures++;
      resumes++;
      lastFailure = error;
      reconnect = true;
      await sleep(backoffMs(failures), options.signal);
    }
  }
}

/** The options with onProgress also telling `watch` that bytes moved. */
function watched<T extends TransferOptions>(options: T, watch: StallWatch): T {
  const onProgress = options.onProgress;
  return {
    ...options,
    onProgress: (done: number, total: number) => {
      watch.moved();
      onProgress?.(done, total);
    },
  };
}

/** The go-ahead names another version of the file than the partial's. */
class RemoteChanged extends Error {}


const PARTIAL_SUFFIX = '.bucket-part';
// Room for ".", ".", 16 hex digits and the suffix within a 255-byte file name.
const PARTIAL_BASE_BYTES = 255 - 2 - 16 - PARTIAL_SUFFIX.length;

/** `.<base>.<16 hex>.bucket-part`, the base cut short (on a character boundary) if need be. */
export function partialName(base: string, sha256: string): string {
  return `.${shortBase(base)}.${sha256.slice(0, 16)}${PARTIAL_SUFFIX}`;
}

function shortBase(base: string): string {
  let cut = base;
  while (Buffer.byteLength(cut) > PARTIAL_BASE_BYTES) cut = cut.slice(0, -1);
  return cut;
}

/** Whether a local file name is that of a download in progress (a partial, or a temporary file). */
export function isPartialDownload(fileName: string): boolean {
  return (fileName.startsWith('.') && fileName.endsWith(PARTIAL_SUFFIX) && /\.[0-9a-f]{16}\.bucket-part$/.test(fileName)) || /^\.bucket-[0-9a-f]{12}\.part$/.test(fileName);
}

/** The largest partial of a download to `folder/base` (of the version with this SHA-256, if given), if any. */
async function findPartial(folder: string, base: string, sha256: string | undefined): Promise<{ path: string; sha16: string; size: number } | undefined> {
  if (sha256 !== undefined) {
    const filePath = path.join(folder, partialName(base, sha256));
    const stats = await stat(filePath).catch(() => undefined);
    return stats?.isFile() === true ? { path: filePath, sha16: sha256.slice(0, 16), size: stats.size } : undefined;
  }
  const lead = `.${shortBase(base)}.`;
  let best: { path: string; sha16: string; size: number } | undefined;
  const names = await readdir(folder).catch(() => [] as string[]);
  for (const entry of names) {
    if (!entry.startsWith(lead) || !entry.endsWith(PARTIAL_SUFFIX)) continue;
    const sha16 = entry.slice(lead.length, -PARTIAL_SUFFIX.length);
    if (!/^[0-9a-f]{16}$/.test(sha16)) continue;
    const filePath = path.join(folder, entry);
    const stats = await stat(filePath).catch(() => undefined);
    if (stats === undefined || !stats.isFile()) continue;
    if (best === undefined || stats.size > best.size) best = { path: filePath, sha16, size: stats.size };
  }
  return best;
}

async function openPartial(filePath: string, append: boolean, hash: Hash | undefined, offset: number): Promise<Writable> {
  const flags = append ? constants.O_WRONLY : constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
  const descriptor = await fd.open(filePath, flags, 0o644).catch((error: unknown) => {
    throw localError(`cannot write in ${path.dirname(filePath)}`, error);
  });
  return fileSink(descriptor, append ? offset : 0, hash);
}

/**
 * Writes to the open file `descriptor` from `position` on, feeding `hash`
 * (if any) every byte. Chunks that arrive while a write is in flight go
 * out together in one writev (a download arrives in 64 KiB pieces: one
 * call each cost more than the copying); ending it fsyncs and closes the
 * file, and destroying it closes the file without that.
 */
function fileSink(descriptor: number, position: number, hash: Hash | undefined): Writable {
  const writer = new FileWriter(descriptor, new FlowWindow(CHUNK_BYTES), position);
  return new Writable({
    highWaterMark: CHUNK_BYTES,
    write(chunk: Buffer, _encoding, callback) {
      hash?.update(chunk);
      writer.write(chunk).then(() => callback(), callback);
    },
    final(callback) {
      writer.close().then(() => callback(), callback);
    },
    destroy(error, callback) {
      writer.destroy().then(() => callback(error));
    },
  });
}

/** The download as before protocol 4: the whole file to a temporary one, renamed into place if its SHA-256 matched. */
async function downloadWhole(client: BucketClient, bucket: string, name: string, finalPath: string, options: DownloadFileOptions): Promise<TransferResult & { path: string }> {
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
    return { bucket, name: result.name, size: result.size, sha256: result.sha256, path: finalPath };
  } catch (error) {
    throw downloadFailure(error, finalPath);
  } finally {
    if (!kept) {
      await destroyAndWait(out);
      await unlink(tmpPath).catch(() => undefined);
    }
  }
}


async function openExclusive(tmpPath: string): Promise<Writable> {
  const descriptor = await fd.open(tmpPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644).catch((error: unknown) => {
    throw localError(`cannot write in ${path.dirname(tmpPath)}`, error);
  });
  return fileSink(descriptor, 0, undefined);
}



