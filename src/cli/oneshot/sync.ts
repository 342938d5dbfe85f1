/**
 * `sync`: makes one side (a local folder, or the files under
 * BUCKET/PREFIX/) hold what the other holds. A file is copied when the
 * other side lacks it, its size differs, or its SHA-256 differs from the
 * server's; a local file is hashed only when the hash cache has no hash
 * for it at its present size, times and inode (or with --checksum).
 * Copies run first, over `parallel` connections; then, with --delete,
 * what the source no longer has is removed from the destination, unless
 * part of the local folder could not be read (its files would look gone).
 */
import type { BigIntStats } from 'node:fs';
import { lstat, readdir, rmdir, stat, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { ClientError, downloadFile, isPartialDownload, uploadFile, type BucketClient, type RemoteFile, type UploadJournal } from '../../client/index.js';
import { CliError } from '../errors.js';
import { hashFile, sameStamp, stampOf, type FileStamp, type HashCache } from '../hash-cache.js';
import { UsageError } from '../options.js';
import { localPathOf, showRemote } from './remote.js';
import type { Reporter, SyncReason } from './report.js';
import type { VerbSession } from './session.js';
import type { SyncEnds } from './sync-ends.js';
import type { ProgressBoard } from './progress-board.js';
import { fail, inLanes, makeFolder, progressOf, reportResumes, TRANSFER_DEPTH, type TransferTally } from './transfers.js';

export interface SyncOptions {
  delete: boolean;
  dryRun: boolean;
  checksum: boolean;
  parallel: number;
  /** Where upload ids in flight are remembered, so that a killed run's uploads resume. */
  journal?: UploadJournal;
}

export interface SyncTally extends TransferTally {
  copied: number;
  skipped: number;
  deleted: number;
  /** Local files read to hash them in this run. */
  hashed: number;
}

interface LocalFile {
  /** As found under the folder typed (for messages, and to open). */
  path: string;
  /** The hash cache's key. */
  absolute: string;
  stamp: FileStamp;
}

/** A file the source has, and what the destination has under the same name. */
interface CopyJob {
  /** The name under the prefix, joined by "/" (NFC). */
  relative: string;
  local: LocalFile | undefined;
  remote: RemoteFile | undefined;
}

type DeleteJob = { side: 'remote'; name: string } | { side: 'local'; file: LocalFile };

/** Runs a whole sync; resolves with what it did. Throws only for the whole command (a missing bucket, a bad folder). */
export async function runSync(session: VerbSession, ends: SyncEnds, options: SyncOptions, cache: HashCache, reporter: Reporter, board?: ProgressBoard): Promise<SyncTally> {
  const tally: SyncTally = { done: 0, bytes: 0, failures: [], copied: 0, skipped: 0, deleted: 0, hashed: 0 };
  const root = await checkLocalFolder(ends);
  const lister = session.connection();
  const remote = await lister.use((client) => listRemote(client, ends));
  // The copies have connections of their own; this one need not sit idle meanwhile.
  await lister.exit().catch(() => lister.close());
  const scan = root === undefined ? { files: new Map<string, LocalFile>(), complete: true } : await scanLocal(root, cache.file, reporter, tally);
  // Files the cache knows in this folder that are gone now: forget them.
  const present = new Set([...scan.files.values()].map((file) => file.absolute));
  for (const absolute of cache.pathsUnder(path.resolve(ends.local))) if (!present.has(absolute)) cache.forget(absolute);
  if (root === undefined && !options.dryRun) await makeFolder(ends.local);

  const up = ends.direction === 'up';
  const sourceNames = up ? [...scan.files.keys()] : [...remote.keys()];
  const copies: CopyJob[] = sourceNames.map((relative) => ({ relative, local: scan.files.get(relative), remote: remote.get(relative) }));
  const context: Context = { ends, options, cache, reporter, tally, ...(board === undefined ? {} : { board }) };
  await inLanes(session, copies, options.parallel, (connection, job) => copy(context, job, (work) => connection.use(work)), reporter, tally, (job) => (up ? job.local!.path : showRemote(ends.bucket, ends.prefix + job.relative)), undefined, TRANSFER_DEPTH);

  if (options.delete) {
    const deletions: DeleteJob[] = up
      ? [...remote.keys()].filter((relative) => !scan.files.has(relative)).map((relative) => ({ side: 'remote', name: ends.prefix + relative }))
      : [...scan.files].filter(([relative]) => !remote.has(relative)).map(([, file]) => ({ side: 'local', file }));
    if (!scan.complete && deletions.length > 0) {
      fail(reporter, tally, new CliError('SYNC_INCOMPLETE', `nothing deleted: part of ${ends.local} could not be read, so what it lacks is not known`));
    } else {
      await inLanes(session, deletions, options.parallel, (connection, job) => remove(context, job, (work) => connection.use(work)), reporter, tally, (job) => (job.side === 'remote' ? showRemote(ends.bucket, job.name) : job.file.path));
    }
  }
  tally.done = tally.copied + tally.deleted;
  await cache.save();
  return tally;
}

interface Context {
  ends: SyncEnds;
  options: SyncOptions;
  cache: HashCache;
  reporter: Reporter;
  tally: SyncTally;
  /** The progress display: only the files copied are on it, once chosen. */
  board?: ProgressBoard;
}

/** Runs a copy as a file on the board, if there is one. */
async function shown<T>(context: Context, label: string, size: number, work: (onProgress: (done: number, total: number) => void) => Promise<T>): Promise<T> {
  const file = context.board?.start(label, size);
  try {
    const result = await work(file === undefined ? () => undefined : progressOf(file));
    file?.done();
    return result;
  } catch (error) {
    file?.failed();
    throw error;
  }
}

type UseClient = <T>(work: (client: BucketClient) => Promise<T>) => Promise<T>;

/** The local folder, checked; undefined when a download goes to a folder not made yet. */
async function checkLocalFolder(ends: SyncEnds): Promise<string | undefined> {
  const stats = await stat(ends.local).catch(() => undefined);
  if (stats === undefined) {
    if (ends.direction === 'up') throw new CliError('NO_SUCH_LOCAL_FILE', `no such local folder: ${ends.local}`);
    return undefined;
  }
  if (!stats.isDirectory()) throw new UsageError(`${ends.local} is not a folder: sync copies what a folder holds (put and get copy one file)`);
  return ends.local;
}

/** The files under the prefix, by their names past it. A missing bucket is NO_SUCH_BUCKET, for the whole command. */
async function listRemote(client: BucketClient, ends: SyncEnds): Promise<Map<string, RemoteFile>> {
  const files = new Map<string, RemoteFile>();
  for await (const file of client.iterateFiles(ends.bucket, ends.prefix === '' ? {} : { prefix: ends.prefix })) files.set(file.name.slice(ends.prefix.length), file);
  return files;
}

/**
 * The regular files under `root`, by their paths inside it joined by "/"
 * and normalised to NFC as the server keeps names. Links, special files
 * and the hash cache are skipped; a folder that cannot be read is
 * reported, and the scan marked incomplete.
 */
async function scanLocal(root: string, cacheFile: string, reporter: Reporter, tally: TransferTally): Promise<{ files: Map<string, LocalFile>; complete: boolean }> {
  const files = new Map<string, LocalFile>();
  let complete = true;
  const walk = async (folder: string, relative: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch (error) {
      complete = false;
      fail(reporter, tally, localError(`cannot read the folder ${folder}`, error), folder);
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const local = path.join(folder, entry.name);
      const name = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        await walk(local, name);
        continue;
      }
      // The hash cache (and its temporary files) changes with every run: never part of one; nor is a download in progress.
      if (!entry.isFile() || path.resolve(local).startsWith(cacheFile) || isPartialDownload(entry.name)) continue;
      let stats: BigIntStats;
      try {
        stats = await lstat(local, { bigint: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // gone since the folder was read
        complete = false;
        fail(reporter, tally, localError(`cannot read ${local}`, error), local);
        continue;
      }
      const key = name.normalize('NFC');
      if (files.has(key)) {
        fail(reporter, tally, new CliError('LOCAL_PATH_CONFLICT', `${local} and ${files.get(key)!.path} are the same name in different Unicode forms; skipped`), local);
        continue;
      }
      files.set(key, { path: local, absolute: path.resolve(local), stamp: stampOf(stats) });
    }
  };
  await walk(root, '');
  return { files, complete };
}

/** Why the destination needs this file, or undefined when it holds it already. */
async function reasonToCopy(context: Context, local: LocalFile | undefined, remote: RemoteFile | undefined): Promise<SyncReason | undefined> {
  if (local === undefined || remote === undefined) return 'new';
  if (local.stamp.size !== remote.size) return 'size';
  // A file the server has no SHA-256 for cannot be compared: it is copied.
  if (remote.sha256 === undefined) return 'content';
  return (await localSha256(context, local)) === remote.sha256 ? undefined : 'content';
}

async function localSha256(context: Context, local: LocalFile): Promise<string> {
  if (!context.options.checksum) {
    const known = context.cache.lookup(local.absolute, local.stamp);
    if (known !== undefined) return known;
  }
  let hashed;
  try {
    hashed = await hashFile(local.path);
  } catch (error) {
    throw localError(`cannot read ${local.path}`, error);
  }
  context.tally.hashed++;
  if (hashed.stamp !== undefined) context.cache.record(local.absolute, hashed.stamp, hashed.sha256);
  return hashed.sha256;
}

async function copy(context: Context, job: CopyJob, use: UseClient): Promise<void> {
  const { ends, options, cache, reporter, tally } = context;
  const reason = await reasonToCopy(context, job.local, job.remote);
  if (reason === undefined) {
    tally.skipped++;
    return;
  }
  const name = ends.prefix + job.relative;
  if (ends.direction === 'up') {
    const local = job.local!;
    if (options.dryRun) {
      tally.copied++;
      tally.bytes += local.stamp.size;
      await reporter.emit({ type: 'would-upload', bucket: ends.bucket, name, path: local.path, size: local.stamp.size, reason });
      return;
    }
    const before = await stampNow(local.path);
    const result = await shown(context, local.path, local.stamp.size, (onProgress) =>
      use((client) => uploadFile(client, local.path, ends.bucket, name, { onProgress, ...(options.journal === undefined ? {} : { journal: options.journal }), onResume: reportResumes(reporter, 'upload', local.path) })),
    );
    // What was sent is what the file holds, if it held still meanwhile.
    const after = await stampNow(local.path);
    if (before !== undefined && after !== undefined && sameStamp(before, after) && after.size === result.size) cache.record(local.absolute, after, result.sha256);
    tally.copied++;
    tally.bytes += result.size;
    await reporter.emit({ type: 'uploaded', bucket: ends.bucket, name: result.name, path: local.path, size: result.size, sha256: result.sha256, reason });
    return;
  }
  const remote = job.remote!;
  const target = job.local?.path ?? localPathOf(ends.local, job.relative);
  if (options.dryRun) {
    tally.copied++;
    tally.bytes += remote.size;
    await reporter.emit({ type: 'would-download', bucket: ends.bucket, name, path: target, size: remote.size, reason });
    return;
  }
  await makeFolder(path.dirname(target));
  const existing = await lstat(target).catch(() => undefined);
  if (existing !== undefined && !existing.isFile()) throw new CliError('LOCAL_PATH_CONFLICT', `${existing.isDirectory() ? 'a folder' : 'something other than a file'} stands where ${target} goes`);
  const result = await shown(context, showRemote(ends.bucket, remote.name), remote.size, (onProgress) =>
    use((client) =>
      downloadFile(client, ends.bucket, remote.name, target, {
        overwrite: true,
        onProgress,
        ...(remote.sha256 === undefined ? {} : { expectedSha256: remote.sha256 }),
        expectedSize: remote.size,
        onResume: reportResumes(reporter, 'download', showRemote(ends.bucket, remote.name)),
      }),
    ),
  );
  // The file's time is the time the server stored it, as `aws s3 sync` does.
  await utimes(target, remote.modifiedAt, remote.modifiedAt).catch(() => undefined);
  const stamp = await stampNow(target);
  if (stamp !== undefined && stamp.size === result.size) cache.record(path.resolve(target), stamp, result.sha256);
  tally.copied++;
  tally.bytes += result.size;
  await reporter.emit({ type: 'downloaded', bucket: ends.bucket, name: result.name, path: result.path, size: result.size, sha256: result.sha256, reason });
}

async function remove(context: Context, job: DeleteJob, use: UseClient): Promise<void> {
  const { ends, options, cache, reporter, tally } = context;
  if (job.side === 'remote') {
    if (options.dryRun) {
      await reporter.emit({ type: 'would-delete', bucket: ends.bucket, name: job.name });
    } else {
      const deleted = await use((client) => client.deleteFile(ends.bucket, job.name));
      await reporter.emit({ type: 'deleted', bucket: ends.bucket, name: deleted.name });
    }
    tally.deleted++;
    return;
  }
  if (options.dryRun) {
    await reporter.emit({ type: 'would-delete-local', path: job.file.path });
  } else {
    try {
      await unlink(job.file.path);
    } catch (error) {
      throw localError(`cannot delete ${job.file.path}`, error);
    }
    cache.forget(job.file.absolute);
    await removeEmptyFolders(path.dirname(job.file.path), ends.local);
    await reporter.emit({ type: 'deleted-local', path: job.file.path });
  }
  tally.deleted++;
}

/** Removes `folder` and its parents up to (not including) `root` while they are empty, as the server does. */
async function removeEmptyFolders(folder: string, root: string): Promise<void> {
  const top = path.resolve(root);
  for (let current = path.resolve(folder); current !== top && current.startsWith(top + path.sep); current = path.dirname(current)) {
    try {
      await rmdir(current);
    } catch {
      return; // not empty (or in use): it stays, and so do its parents
    }
  }
}

async function stampNow(filePath: string): Promise<FileStamp | undefined> {
  const stats = await lstat(filePath, { bigint: true }).catch(() => undefined);
  return stats?.isFile() ? stampOf(stats) : undefined;
}

function localError(message: string, error: unknown): ClientError {
  const reason = error instanceof Error && 'code' in error ? String(error.code) : String(error);
  return new ClientError('LOCAL_FILE_ERROR', `${message}: ${reason}`, { cause: error });
}
