import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { fd as fdOps } from '../../util/fd.js';
import { destroyAndWait } from '../../util/streams.js';
import type { DownloadSource } from '../storage.js';

export const READ_HIGH_WATER_MARK = 1024 * 1024;

/**
 * A file opened for download. Reading goes through the open descriptor, so
 * a concurrent replace (a rename over the name) never mixes two versions.
 */
export class FsDownloadSource implements DownloadSource {
  readonly name: string;
  readonly size: number;
  readonly recordedSha256?: string;
  readonly #fd: number;
  #stream: Readable | undefined;
  #closed = false;

  constructor(name: string, fd: number, size: number, recordedSha256: string | undefined) {
    this.name = name;
    this.size = size;
    if (recordedSha256 !== undefined) this.recordedSha256 = recordedSha256;
    this.#fd = fd;
  }

  createReadStream(): Readable {
    if (this.size === 0) {
      return Readable.from([]);
    }
    // The stream owns the descriptor from here and closes it when done.
    this.#stream = createReadStream('', {
      fd: this.#fd,
      start: 0,
      end: this.size - 1,
      highWaterMark: READ_HIGH_WATER_MARK,
    });
    return this.#stream;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#stream) await destroyAndWait(this.#stream);
    else await fdOps.close(this.#fd);
  }
}
