/**
 * Small files come in one exchange each (BucketClient.get): the whole
 * body in memory, checked against the server's SHA-256, written to a
 * temporary file beside the destination, fsynced, and renamed into
 * place. Several can be in flight on one connection. A broken connection
 * means fetching the file again, within the retry budget.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fd } from '../util/fd.js';
import type { BucketClient, TransferOptions, TransferResult } from './client.js';
import { ClientError } from './errors.js';
import { codeOf, DEFAULT_RETRIES, DEFAULT_STALL_TIMEOUT_MS, failureOf, isRetryable, sleep, StallWatch, backoffMs, type RetryOptions } from './retry.js';
import { downloadFailure, localError, placeWithoutReplacing } from './local-files.js';
import { AT_ONCE_MAX_BYTES } from './small-upload.js';

// A file listed as small may have grown since: up to this much is still
// taken whole; past it, the caller downloads it the streaming way.
const HOLD_MAX_BYTES = 4 * AT_ONCE_MAX_BYTES;

/**
 * Downloads `name` to `finalPath` whole; undefined if the file turned out
 * too large to hold (it grew since it was listed).
 */
export async function downloadSmallFile(
  client: BucketClient,
  bucket: string,
  name: string,
  finalPath: string,
  options: TransferOptions & RetryOptions & { overwrite?: boolean; expectedSize?: number },
): Promise<(TransferResult & { path: string }) | undefined> {
  const retries = options.retries ?? DEFAULT_RETRIES;
  const watch = new StallWatch(options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS, () => client.dropConnection());
  try {
    for (let failures = 0; ; ) {
      if (options.signal?.aborted === true) throw new ClientError('CANCELLED');
      let got: TransferResult & { data: Buffer };
      try {
        watch.moved();
        got = await client.get(bucket, name, { maxBytes: HOLD_MAX_BYTES });
        watch.stop();
      } catch (error) {
        watch.stop();
        if (codeOf(error) === 'TOO_LARGE_TO_HOLD') return undefined;
        if (!isRetryable(error) || ++failures > retries) throw error;
        options.onResume?.({ attempt: failures, offset: 0, size: options.expectedSize ?? 0, cause: failureOf(error) });
        await sleep(backoffMs(failures), options.signal);
        client.revive();
        continue;
      }
      options.onProgress?.(got.size, got.size);
      await place(got.data, finalPath, options.overwrite === true);
      return { bucket: got.bucket, name: got.name, size: got.size, sha256: got.sha256, path: finalPath };
    }
  } finally {
    watch.stop();
  }
}

/** Writes `data` beside `finalPath`, fsyncs it, and moves it there (never over a file, unless `overwrite`). */
async function place(data: Buffer, finalPath: string, overwrite: boolean): Promise<void> {
  // Short, so that it fits beside a name of the longest length allowed.
  const tmpPath = path.join(path.dirname(finalPath), `.bucket-${randomBytes(6).toString('hex')}.part`);
  // Direct calls but for the fsync, which waits for the disk while other
  // transfers go on: local metadata costs less than thread-pool round trips.
  let descriptor: number;
  try {
    descriptor = fs.openSync(tmpPath, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
  } catch (error) {
    throw localError(`cannot write in ${path.dirname(tmpPath)}`, error);
  }
  let placed = false;
  try {
    try {
      for (let written = 0; written < data.length; ) written += fs.writeSync(descriptor, data, written, data.length - written);
      await fd.sync(descriptor);
    } finally {
      fs.closeSync(descriptor);
    }
    if (overwrite) fs.renameSync(tmpPath, finalPath);
    else await placeWithoutReplacing(tmpPath, finalPath);
    placed = true;
  } catch (error) {
    throw downloadFailure(error, finalPath);
  } finally {
    if (!placed) fs.rmSync(tmpPath, { force: true });
  }
}

