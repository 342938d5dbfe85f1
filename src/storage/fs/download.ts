import fs from 'node:fs';
import { promisify } from 'node:util';
import type { DownloadSource } from '../storage.js';
import { fd as fdOps } from '../../util/fd.js';

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
  #closed = false;

  constructor(name: string, fd: number, size: number, recordedSha256: string | undefined) {
    this.name = name;
    this.size = size;
    if (recordedSha256 !== undefined) this.recordedSha256 = recordedSha256;
    this.#fd = fd;
  }

  async read(target: Buffer, position: number): Promise<number> {
    if (this.#closed) throw new Error('read after close');
    const length = Math.min(target.length, this.size - position);
    if (length <= 0) return 0;
    const { bytesRead } = await pread(this.#fd, target, 0, length, position);
    return bytesRead;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Reads are awaited by their caller before close, so none is in flight
    // here and the descriptor number cannot be reused under one.
    await fdOps.close(this.#fd);
  }
}
