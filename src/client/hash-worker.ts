/**
 * A worker thread's body: the SHA-256 of an upload's file, fed the very
 * buffers the main thread reads and sends (shared memory, so nothing is
 * copied or read twice), while the main thread goes on sending. It keeps
 * marks of where the hash stood (HashMarks), so that a resume from an
 * offset re-reads (here, from the file) only the bytes after the last mark
 * before it. Messages are handled in order; see UploadHasher for the other side.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { HashMarks } from './hash-marks.js';

export interface HasherJob {
  path: string;
  size: number;
}

export type HasherRequest =
  | { kind: 'seek'; offset: number }
  | { kind: 'chunk'; id: number; offset: number; bytes: Uint8Array }
  | { kind: 'digest' };

export type HasherReply =
  | { kind: 'hashed'; id: number }
  | { kind: 'digest'; sha256: string; at: number }
  | { kind: 'error'; message: string; code?: string };

const PREFIX_READ_BYTES = 4 * 1024 * 1024;

const job = workerData as HasherJob;
const port = parentPort!;
const marks = new HashMarks(job.size);
let hash: Hash = createHash('sha256');
let position = 0;
let failed = false;

/** Goes back to the last mark at or before `offset`, then hashes the file's bytes from there. */
function seek(offset: number): void {
  if (offset === position) return;
  const mark = marks.before(offset);
  hash = mark?.hash ?? createHash('sha256');
  position = mark?.offset ?? 0;
  if (position === offset) return;
  const descriptor = openSync(job.path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(Math.min(PREFIX_READ_BYTES, offset - position));
    while (position < offset) {
      const count = readSync(descriptor, buffer, 0, Math.min(buffer.length, offset - position), position);
      if (count === 0) throw Object.assign(new Error(`${job.path} ended at byte ${position}`), { code: 'SHORT_FILE' });
      hash.update(buffer.subarray(0, count));
      position += count;
      marks.offer(position, hash);
    }
  } finally {
    closeSync(descriptor);
  }
}

port.on('message', (request: HasherRequest) => {
  // After a failure only the failure is answered (once, already).
  if (failed) return;
  try {
    if (request.kind === 'seek') {
      seek(request.offset);
    } else if (request.kind === 'chunk') {
      if (request.offset !== position) throw new Error(`a chunk at ${request.offset} came where the hash stood at ${position}`);
      hash.update(request.bytes);
      position += request.bytes.length;
      marks.offer(position, hash);
      port.postMessage({ kind: 'hashed', id: request.id } satisfies HasherReply);
    } else {
      port.postMessage({ kind: 'digest', sha256: hash.copy().digest('hex'), at: position } satisfies HasherReply);
    }
  } catch (error) {
    failed = true;
    const { message, code } = error as NodeJS.ErrnoException;
    port.postMessage({ kind: 'error', message, ...(code === undefined ? {} : { code }) } satisfies HasherReply);
  }
});
