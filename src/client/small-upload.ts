/**
 * Small files go in one request each (protocol 5, BucketClient.put): read
 * whole, hashed, and sent with their request line, so that a file costs
 * one round trip rather than two, and several can be in flight on one
 * connection. A broken connection means sending the file again on a fresh
 * one, within the retry budget: nothing is kept on the server to resume.
 */
import fs from 'node:fs';
import { localError } from './local-files.js';
import type { BucketClient, TransferResult } from './client.js';
import { ClientError } from './errors.js';
import { backoffMs, DEFAULT_RETRIES, DEFAULT_STALL_TIMEOUT_MS, failureOf, isRetryable, sleep, StallWatch, type RetryOptions } from './retry.js';
import type { TransferOptions } from './client.js';

/** Files up to this size are sent at once; larger ones stream after a go-ahead, and can be resumed. */
export const AT_ONCE_MAX_BYTES = 1024 * 1024;

/** What uploadFile knows of the local file before it starts. */
export interface SmallFile {
  path: string;
  size: number;
  mtimeMs: number;
}

export async function uploadSmallFile(client: BucketClient, file: SmallFile, bucket: string, name: string, options: TransferOptions & RetryOptions): Promise<TransferResult> {
  const retries = options.retries ?? DEFAULT_RETRIES;
  const watch = new StallWatch(options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS, () => client.dropConnection());
  try {
    for (let failures = 0; ; ) {
      if (options.signal?.aborted === true) throw new ClientError('CANCELLED');
      const data = readWhole(file);
      options.onProgress?.(0, data.length);
      try {
        watch.moved();
        const stored = await client.put(bucket, name, data);
        options.onProgress?.(data.length, data.length);
        return stored;
      } catch (error) {
        watch.stop();
        if (!isRetryable(error) || ++failures > retries) throw error;
        options.onResume?.({ attempt: failures, offset: 0, size: data.length, cause: failureOf(error) });
        await sleep(backoffMs(failures), options.signal);
        // Other puts on this connection failed with it; whichever asks first opens the next.
        client.revive();
      }
    }
  } finally {
    watch.stop();
  }
}

/**
 * The whole file, which must still be the file that was planned
 * (SOURCE_CHANGED if not). Read with direct calls: a small local read
 * costs less than the thread pool's round trips, and this program serves
 * no one else meanwhile.
 */
function readWhole(file: SmallFile): Buffer {
  let descriptor: number;
  try {
    descriptor = fs.openSync(file.path, fs.constants.O_RDONLY);
  } catch (error) {
    throw localError(`cannot read ${file.path}`, error);
  }
  try {
    const stats = fs.fstatSync(descriptor, { bigint: true });
    if (Number(stats.size) !== file.size || Number(stats.mtimeMs) !== file.mtimeMs) throw new ClientError('SOURCE_CHANGED', `${file.path} changed while it was being uploaded`);
    const data = Buffer.allocUnsafe(file.size);
    for (let filled = 0; filled < data.length; ) {
      const read = fs.readSync(descriptor, data, filled, data.length - filled, filled);
      if (read === 0) throw new ClientError('SOURCE_CHANGED', `${file.path} shrank while it was being read`);
      filled += read;
    }
    return data;
  } catch (error) {
    if (error instanceof ClientError) throw error;
    throw localError(`cannot read ${file.path}`, error);
  } finally {
    fs.closeSync(descriptor);
  }
}
