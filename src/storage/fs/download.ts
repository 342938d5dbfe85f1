import fs from 'node:fs';
import { promisify } from 'node:util';
import type { BufferLender, Chunk, DownloadSource } from '../storage.js';

const pread = promisify(fs.read);

/**
 * A file opened for download. Reading goes through the open descriptor, so
 * a concurrent replace (a rename over the name) never mixes two versions.
 */
export class FsDownloadSource implements DownloadSource {
  readonly name: string;
  readonly size: number;
  readonly recordedSha256?: string;
  readonly #fd: number;
  #reading = false;
  #closed = false;

  constructor(name: string, fd: number, size: number, recordedSha256: string | undefined) {
    this.name = name;
    this.size = size;
    if (recordedSha256 !== undefined) this.recordedSha256 = recordedSha256;
    this.#fd = fd;
  }

  async *chunks(buffers: BufferLender, start = 0): AsyncGenerator<Chunk> {
    if (this.#closed) throw new Error('read after close');
    this.#reading = true;
    try {
      let position = start;
      while (position < this.size) {
        const buffer = await buffers.borrow();
        let count: number;
        try {
          ({ bytesRead: count } = await pread(this.#fd, buffer, 0, Math.min(buffer.length, this.size - position), position));
        } catch (error) {
          buffers.giveBack(buffer);
          throw error;
        }
        if (count === 0) {
          buffers.giveBack(buffer); // the file shrank: the caller sees the short count
          return;
        }
        position += count;
        let released = false;
        yield {
          bytes: buffer.subarray(0, count),
          release: () => {
            if (released) return;
            released = true;
            buffers.giveBack(buffer);
          },
        };
      }
    } finally {
      this.#reading = false;
      if (this.#closed) closeQuietly(this.#fd);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Never under a read in flight, so the number cannot be reused under
    // it: a reader still going closes the descriptor when it stops.
    if (!this.#reading) fs.closeSync(this.#fd); // no round trip for what does not wait for the device
  }
}

function closeQuietly(descriptor: number): void {
  try {
    fs.closeSync(descriptor);
  } catch {
    // Closing a read-only descriptor has nothing to lose.
  }
}
