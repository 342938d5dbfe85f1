/**
 * put and get: what to copy (one file, several, or whole folders with
 * -r), then the copying, spread over `parallel` connections. A failure of
 * one file is reported and the rest go on; the caller gets every failure's
 * code, for the exit code and the summary.
 */
import { lstatSync } from 'node:fs';
import { lstat, mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { AT_ONCE_MAX_BYTES } from '../../client/small-upload.js';
import { downloadSmallFile } from '../../client/small-download.js';
import { downloadFile, isPartialDownload, uploadFile, type BucketClient, type ResumeInfo, type UploadJournal } from '../../client/index.js';
import { BucketError } from '../../errors.js';
import type { ServerConnection } from '../connection.js';
import { CliError } from '../errors.js';
import { isFailure } from '../output.js';
import { UsageError } from '../options.js';
import { localPathOf, showRemote, type RemotePath } from './remote.js';
import { NO_BOARD } from './progress-display.js';
import type { ProgressBoard, TransferHandle } from './progress-board.js';
import type { Reporter, ResumedRecord } from './report.js';
import type { VerbSession } from './session.js';

export interface TransferTally {
  done: number;
  bytes: number;
  /** The stable code of each failure. */
  failures: string[];
}

interface Job {
  /** Local path: the file to send, or where the download lands. */
  local: string;
  bucket: string;
  key: string;
  /** Bytes, when the plan knows them (for progress). */
  size?: number;
  /** The remote file's SHA-256, when a listing gave it (to find a download's partial at once). */
  sha256?: string;
}

export interface PutOptions {
  recursive: boolean;
  parallel: number;
  /** Learn each file's size while planning (one stat each), for a progress display. */
  measure?: boolean;
}

/**
 * The uploads `put` makes: a file goes to the key given, or under the
 * prefix given (ending in "/", or when there are several sources) by its
 * own name; a folder (with -r) goes under the prefix by its own name, its
 * files keyed by their paths inside it. Links inside a folder are skipped.
 */
export async function planPut(sources: readonly string[], destination: RemotePath, options: PutOptions, reporter: Reporter, tally: TransferTally): Promise<Job[]> {
  const { bucket, key } = destination;
  const single = sources.length === 1 && !options.recursive;
  const jobs: Job[] = [];
  for (const source of sources) {
    const stats = await stat(source).catch(() => undefined);
    if (stats === undefined) {
      fail(reporter, tally, new CliError('NO_SUCH_LOCAL_FILE', `no such local file or folder: ${source}`));
      continue;
    }
    const prefix = key === '' || key.endsWith('/') ? key : `${key}/`;
    if (stats.isFile()) {
      jobs.push({ local: source, bucket, key: single && key !== '' && !key.endsWith('/') ? key : prefix + path.basename(source), size: stats.size });
    } else if (stats.isDirectory()) {
      if (!options.recursive) {
        fail(reporter, tally, new CliError('NEEDS_RECURSIVE', `${source} is a folder; add -r to copy what it holds`));
        continue;
      }
      const top = path.basename(path.resolve(source));
      for await (const relative of filesUnder(source)) {
        const local = path.join(source, ...relative.split('/'));
        const size = options.measure === true ? (await lstat(local).catch(() => undefined))?.size : undefined;
        jobs.push({ local, bucket, key: `${prefix}${top}/${relative}`, ...(size === undefined ? {} : { size }) });
      }
    } else {
      fail(reporter, tally, new CliError('NOT_A_FILE', `${source} is not a file or a folder`));
    }
  }
  return jobs;
}

/** Regular files under `folder`, as paths relative to it joined by "/"; links are not followed. */
async function* filesUnder(folder: string, relative = ''): AsyncGenerator<string> {
  const entries = await readdir(relative === '' ? folder : path.join(folder, ...relative.split('/')), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const name = relative === '' ? entry.name : `${relative}/${entry.name}`;
    if (entry.isDirectory()) yield* filesUnder(folder, name);
    else if (entry.isFile() && !isPartialDownload(entry.name)) yield name; // a download in progress is no file to send
  }
}

/** How broken transfers go on: the retry budget, and where upload ids in flight are remembered. */
export interface ResumeSettings {
  retries?: number;
  journal?: UploadJournal;
}

/** The library's onResume, reported as a `resumed` record about `about`. */
export function reportResumes(reporter: Reporter, direction: ResumedRecord['direction'], about: string): (info: ResumeInfo) => void {
  return (info) => reporter.resumed({ type: 'resumed', direction, about, offset: info.offset, size: info.size, attempt: info.attempt, cause: info.cause?.code ?? null });
}

// Transfers in flight on each connection: small files go in one exchange
// each (uploads with their request, from protocol 5; downloads whole) and
// are pipelined, so a connection never waits a round trip per file;
// larger ones take their turn on the connection.
export const TRANSFER_DEPTH = 8;

export async function runPut(session: VerbSession, jobs: readonly Job[], parallel: number, reporter: Reporter, tally: TransferTally, board: ProgressBoard = NO_BOARD, resume: ResumeSettings = {}): Promise<void> {
  await inPool(session, jobs, parallel, async (client, job, onProgress) => {
    const result = await uploadFile(client, job.local, job.bucket, job.key, { onProgress, ...resume, onResume: reportResumes(reporter, 'upload', job.local) });
    tally.done++;
    tally.bytes += result.size;
    await reporter.emit({ type: 'uploaded', bucket: job.bucket, name: result.name, path: job.local, size: result.size, sha256: result.sha256 });
  }, reporter, tally, (job) => job.local, board, TRANSFER_DEPTH);
}

export interface GetOptions {
  recursive: boolean;
  parallel: number;
  force: boolean;
}

/**
 * The downloads `get` makes. Without -r, each remote is one file, saved
 * into `local` (a folder, made if there are several) or as `local`. With
 * -r, each remote is a prefix: every file under it is saved under `local`
 * by its name past the prefix's last "/" (`get -r b/2026/ x` saves
 * `2026/trip/a.jpg` as `x/trip/a.jpg`).
 */
export async function planGet(client: BucketClient, remotes: readonly RemotePath[], local: string, options: GetOptions, reporter: Reporter, tally: TransferTally): Promise<Job[]> {
  const jobs: Job[] = [];
  if (!options.recursive) {
    for (const remote of remotes) {
      if (remote.key === '' || remote.key.endsWith('/')) throw new UsageError(`${showRemote(remote.bucket, remote.key)} names no file: give BUCKET/KEY, or add -r for everything under it`);
    }
    if (remotes.length > 1) await makeFolder(local);
    for (const remote of remotes) jobs.push({ local: remotes.length > 1 ? path.join(local, ownName(remote.key)) : local, bucket: remote.bucket, key: remote.key });
    return jobs;
  }
  for (const remote of remotes) {
    const base = remote.key.slice(0, remote.key.lastIndexOf('/') + 1);
    let found = 0;
    try {
      for await (const file of client.iterateFiles(remote.bucket, remote.key === '' ? {} : { prefix: remote.key })) {
        found++;
        jobs.push({ local: localPathOf(local, file.name.slice(base.length)), bucket: remote.bucket, key: file.name, size: file.size, ...(file.sha256 === undefined ? {} : { sha256: file.sha256 }) });
      }
    } catch (error) {
      if (!isFailure(error)) throw error;
      fail(reporter, tally, error, showRemote(remote.bucket, remote.key));
      continue;
    }
    if (found === 0) fail(reporter, tally, new BucketError('NO_SUCH_FILE', `no file under ${showRemote(remote.bucket, remote.key)}`));
  }
  return jobs;
}

export async function runGet(session: VerbSession, jobs: readonly Job[], options: GetOptions, reporter: Reporter, tally: TransferTally, board: ProgressBoard = NO_BOARD, resume: ResumeSettings = {}): Promise<void> {
  // Each folder is made once per run, not once per file that lands in it.
  const made = new Set<string>();
  await inPool(session, jobs, options.parallel, async (client, job, onProgress) => {
    const target = job.local;
    if (options.recursive) {
      const folder = path.dirname(target);
      if (!made.has(folder)) {
        await makeFolder(folder);
        made.add(folder);
      }
      // A folder where the file goes is in the way, with or without --force.
      if (isFolder(target)) throw new CliError('LOCAL_PATH_CONFLICT', `a folder stands where ${target} goes`);
    }
    const fileOptions = {
      overwrite: options.force,
      onProgress,
      ...(job.sha256 === undefined ? {} : { expectedSha256: job.sha256 }),
      ...(job.size === undefined ? {} : { expectedSize: job.size }),
      ...(resume.retries === undefined ? {} : { retries: resume.retries }),
      onResume: reportResumes(reporter, 'download', showRemote(job.bucket, job.key)),
    };
    // A small listed file, whose path is known: fetched whole, pipelined with others.
    const small = options.recursive && job.size !== undefined && job.size <= AT_ONCE_MAX_BYTES ? await downloadSmallFile(client, job.bucket, job.key, target, fileOptions) : undefined;
    const result = small ?? (await downloadFile(client, job.bucket, job.key, target, fileOptions));
    tally.done++;
    tally.bytes += result.size;
    await reporter.emit({ type: 'downloaded', bucket: job.bucket, name: result.name, path: result.path, size: result.size, sha256: result.sha256 });
  }, reporter, tally, (job) => showRemote(job.bucket, job.key), board, TRANSFER_DEPTH);
}

function isFolder(local: string): boolean {
  try {
    return lstatSync(local).isDirectory();
  } catch {
    return false;
  }
}

/** Total bytes of the jobs whose size the plan knows. */
export function plannedBytes(jobs: readonly Job[]): number {
  let bytes = 0;
  for (const job of jobs) bytes += job.size ?? 0;
  return bytes;
}

/**
 * The library's progress callback (bytes so far, size) for a file on the
 * board, which is told the differences. A transfer that starts again
 * (a fresh connection) counts from 0 again.
 */
export function progressOf(file: TransferHandle): (done: number, total: number) => void {
  let moved = 0;
  let size = -1;
  return (done, total) => {
    if (total !== size) {
      size = total;
      file.resize(total);
    }
    file.advance(done - moved);
    moved = done;
  };
}

/** Makes a local folder and its parents; a file in the way is LOCAL_PATH_CONFLICT. */
export async function makeFolder(folder: string): Promise<void> {
  try {
    await mkdir(folder, { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new CliError('LOCAL_PATH_CONFLICT', `a file stands where the folder ${folder} is needed`);
    throw new CliError('LOCAL_PATH_CONFLICT', `cannot make the folder ${folder}: ${code ?? String(error)}`);
  }
}

function ownName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/**
 * Runs `work` for every job over at most `parallel` connections, `depth`
 * jobs at a time on each, each job on one connection from start to end,
 * each shown on the board.
 */
async function inPool(
  session: VerbSession,
  jobs: readonly Job[],
  parallel: number,
  work: (client: BucketClient, job: Job, onProgress: (done: number, total: number) => void) => Promise<void>,
  reporter: Reporter,
  tally: TransferTally,
  about: (job: Job) => string,
  board: ProgressBoard,
  depth = 1,
): Promise<void> {
  const lanes = { board, sizeOf: (job: Job) => job.size ?? 0 };
  await inLanes(session, jobs, parallel, (connection, job, onProgress) => connection.use((client) => work(client, job, onProgress)), reporter, tally, about, lanes, depth);
}

/**
 * The pool under put, get and sync: at most `parallel` connections, each
 * opened only if a job uses it, with `depth` lanes on each (calls a client
 * pipelines, or else queues), take the jobs in order; each job is a file
 * on the board, when there is one. A job's failure is reported and
 * counted; anything that is not a failure of ours is a bug and stops all.
 */
export async function inLanes<T>(
  session: VerbSession,
  jobs: readonly T[],
  parallel: number,
  work: (connection: ServerConnection, job: T, onProgress: (done: number, total: number) => void) => Promise<void>,
  reporter: Reporter,
  tally: TransferTally,
  about: (job: T) => string,
  shown?: { board: ProgressBoard; sizeOf: (job: T) => number },
  depth = 1,
): Promise<void> {
  let next = 0;
  const connections = Array.from({ length: Math.max(1, Math.min(parallel, jobs.length)) }, () => session.connection());
  const lane = async (index: number): Promise<void> => {
    const connection = connections[index % connections.length]!;
    while (next < jobs.length) {
      const job = jobs[next++]!;
      const file = shown?.board.start(about(job), shown.sizeOf(job));
      const onProgress = file === undefined ? () => undefined : progressOf(file);
      try {
        await work(connection, job, onProgress);
        file?.done();
      } catch (error) {
        file?.failed();
        if (!isFailure(error)) throw error;
        fail(reporter, tally, error, about(job));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(connections.length * depth, jobs.length)) }, (_, index) => lane(index)));
}

export function fail(reporter: Reporter, tally: TransferTally, failure: { code: string; message: string }, about?: string): void {
  tally.failures.push(failure.code);
  reporter.failure(failure, about);
}
