/**
 * Promise forms of the raw-descriptor calls. The backend streams through
 * raw descriptors rather than FileHandles: a FileHandle cannot be closed
 * while a stream made from it holds it, and we must fsync and close ourselves.
 */
import fs, { type BigIntStats } from 'node:fs';
import { promisify } from 'node:util';

const openFd = promisify(fs.open);
const fsyncFd = promisify(fs.fsync);
const closeFd = promisify(fs.close);
const fstatFd = promisify(fs.fstat);
const writeFd = promisify(fs.write);
const readFd = promisify(fs.read);

export const fd = {
  open: (path: string, flags: number, mode?: number): Promise<number> => openFd(path, flags, mode),
  /** Writes all of `data` (a short write is retried for the rest). */
  write: async (descriptor: number, data: Buffer): Promise<void> => {
    let written = 0;
    while (written < data.length) written += (await writeFd(descriptor, data, written, data.length - written, null)).bytesWritten;
  },
  /** Reads up to `length` bytes at `position` into `buffer` at `offset`; resolves with how many came (0 at the end). */
  read: async (descriptor: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> => (await readFd(descriptor, buffer, offset, length, position)).bytesRead,
  sync: (descriptor: number): Promise<void> => fsyncFd(descriptor),
  close: (descriptor: number): Promise<void> => closeFd(descriptor),
  stat: (descriptor: number): Promise<BigIntStats> => fstatFd(descriptor, { bigint: true }) as Promise<BigIntStats>,
};
