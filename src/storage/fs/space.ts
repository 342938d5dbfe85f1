/**
 * Free-space reservations: an upload reserves its declared size at the
 * go-ahead, so two uploads that fit only one at a time cannot both be told
 * to send. A reservation shrinks as its bytes reach the disk (they then
 * show in the free space itself) and is released at the end.
 */
import { statfs } from './meta.js';
import { BucketError } from '../../errors.js';

export interface Reservation {
  /** `bytes` more of this upload are now on disk. */
  wrote(bytes: number): void;
  release(): void;
}

export class SpaceReserver {
  readonly #dir: string;
  #reserved = 0;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Bytes promised to uploads in flight and not yet written. */
  get reserved(): number {
    return this.#reserved;
  }

  async reserve(bytes: number): Promise<Reservation> {
    const stats = await statfs(this.#dir).catch(() => undefined);
    // Checked and taken in one synchronous step: no other reservation can
    // slip in between.
    if (stats && this.#reserved + bytes > stats.bavail * stats.bsize) {
      throw new BucketError('NO_SPACE', `the server has no room for ${bytes} more bytes`);
    }
    let outstanding = bytes;
    this.#reserved += outstanding;
    return {
      wrote: (written) => {
        const part = Math.min(written, outstanding);
        outstanding -= part;
        this.#reserved -= part;
      },
      release: () => {
        this.#reserved -= outstanding;
        outstanding = 0;
      },
    };
  }
}
