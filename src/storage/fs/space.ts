/**
 * Free-space reservations: an upload reserves its declared size at the
 * go-ahead, so two uploads that fit only one at a time cannot both be told
 * to send. A reservation shrinks as its bytes reach the disk (they then
 * show in the free space itself) and is released at the end.
 *
 * The free space is asked of the system once per upload, unless a recent
 * answer leaves far more room than every promise together: then that answer
 * is used again, less what our own uploads wrote since. So a stream of
 * small uploads saves a system call each, while near a full disk (or once
 * the answer is a second old) every upload asks again.
 */
import { statfs } from './meta.js';
import { BucketError } from '../../errors.js';

/** How long an answer about the free space may be used again. */
const READING_TTL_MS = 1000;
/** How much room beyond every promise an answer must leave to be used again. */
const ROOM_TO_SPARE = 1024 * 1024 * 1024;

export interface Reservation {
  /** `bytes` more of this upload are now on disk. */
  wrote(bytes: number): void;
  release(): void;
}

export interface SpaceReserverOptions {
  /** The free bytes of the disk holding `dir`, or undefined if it cannot be told. */
  freeBytes?: (dir: string) => Promise<number | undefined>;
  now?: () => number;
}

async function systemFreeBytes(dir: string): Promise<number | undefined> {
  const stats = await statfs(dir).catch(() => undefined);
  return stats === undefined ? undefined : stats.bavail * stats.bsize;
}

export class SpaceReserver {
  readonly #dir: string;
  readonly #freeBytes: (dir: string) => Promise<number | undefined>;
  readonly #now: () => number;
  #reserved = 0;
  /** Bytes our uploads have written, ever: what was written after an answer is no longer free, and not in it. */
  #written = 0;
  /** The last answer: the free bytes, when it was asked for, and #written then. */
  #reading: { free: number; at: number; written: number } | undefined;

  constructor(dir: string, options: SpaceReserverOptions = {}) {
    this.#dir = dir;
    this.#freeBytes = options.freeBytes ?? systemFreeBytes;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Bytes promised to uploads in flight and not yet written. */
  get reserved(): number {
    return this.#reserved;
  }

  async reserve(bytes: number): Promise<Reservation> {
    const free = this.#recentFree(bytes) ?? (await this.#askFree());
    // Checked and taken in one synchronous step: no other reservation can
    // slip in between.
    if (free !== undefined && this.#reserved + bytes > free) {
      throw new BucketError('NO_SPACE', `the server has no room for ${bytes} more bytes`);
    }
    let outstanding = bytes;
    this.#reserved += outstanding;
    return {
      wrote: (written) => {
        const part = Math.min(written, outstanding);
        outstanding -= part;
        this.#reserved -= part;
        this.#written += part;
      },
      release: () => {
        this.#reserved -= outstanding;
        outstanding = 0;
      },
    };
  }

  /** The last answer, less what was written since, if it is fresh and leaves room to spare after `bytes` more. */
  #recentFree(bytes: number): number | undefined {
    const reading = this.#reading;
    if (reading === undefined || this.#now() - reading.at > READING_TTL_MS) return undefined;
    const free = reading.free - (this.#written - reading.written);
    return free - this.#reserved - bytes > ROOM_TO_SPARE ? free : undefined;
  }

  async #askFree(): Promise<number | undefined> {
    // Taken before asking: what is written while the answer comes counts
    // against it (it may or may not be in it; counted twice is the safe side).
    const at = this.#now();
    const written = this.#written;
    const free = await this.#freeBytes(this.#dir);
    // A slower answer to an earlier question never replaces a later one.
    if (free !== undefined && (this.#reading === undefined || this.#reading.at <= at)) this.#reading = { free, at, written };
    return free === undefined ? undefined : free - (this.#written - written);
  }
}
