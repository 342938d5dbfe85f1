/**
 * A file's bytes from `start` to `end`, read into a few buffers that are
 * used again and again: a large upload then touches a few MiB of memory
 * instead of faulting in fresh pages for every chunk (about 0.1 s of CPU
 * per GiB here). Whoever takes a chunk gives it back (giveBack) once it is
 * done with it — for a socket, once the write has been flushed — and
 * reading waits for a free buffer. The next chunk is read while the last
 * one is being sent. A chunk may also be lent to someone else as it is
 * handed out (a hashing thread, with the buffers in shared memory): its
 * buffer is used again only once both are done with it.
 */
import fs from 'node:fs';
import { promisify } from 'node:util';

const read = promisify(fs.read);
const close = promisify(fs.close);
const open = promisify(fs.open);

export interface PooledReaderOptions {
  chunkBytes: number;
  /** How many buffers at most. */
  count: number;
  /** Buffers in shared memory, which another thread can read. */
  shared?: boolean;
  /** Each chunk with its offset in the file, as it is handed out; resolves (or rejects) when done with it. */
  alsoLentTo?: (chunk: Uint8Array, offset: number) => Promise<void>;
}

export class PooledFileReader implements AsyncIterable<Uint8Array> {
  readonly #path: string;
  readonly #end: number;
  readonly #chunkBytes: number;
  readonly #free: Buffer[] = [];
  #made = 0;
  readonly #count: number;
  #waiting: ((buffer: Buffer | undefined) => void) | undefined;
  #stopped = false;
  #position: number;
  readonly #shared: boolean;
  readonly #alsoLentTo: ((chunk: Uint8Array, offset: number) => Promise<void>) | undefined;
  /** Which buffer each chunk handed out was read into, and how many have yet to give it back. */
  readonly #owners = new WeakMap<Uint8Array, { buffer: Buffer; holders: number; offset: number }>();

  constructor(path: string, start: number, end: number, options: PooledReaderOptions) {
    this.#path = path;
    this.#position = start;
    this.#end = end;
    this.#chunkBytes = Math.max(1, Math.min(options.chunkBytes, end - start));
    this.#count = Math.max(2, options.count);
    this.#shared = options.shared ?? false;
    this.#alsoLentTo = options.alsoLentTo;
  }

  /** The chunk's buffer may be read into again (once every holder gave it back). */
  giveBack(chunk: Uint8Array): void {
    const owner = this.#owners.get(chunk);
    if (owner === undefined || --owner.holders > 0) return;
    this.#owners.delete(chunk);
    const buffer = owner.buffer;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting) waiting(buffer);
    else this.#free.push(buffer);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    const descriptor = await open(this.#path, 'r');
    let ahead: Promise<Uint8Array | undefined> | undefined;
    try {
      ahead = this.#readNext(descriptor);
      for (;;) {
        const chunk = await ahead;
        ahead = undefined;
        if (chunk === undefined) return;
        ahead = this.#readNext(descriptor);
        ahead.catch(() => undefined); // awaited on the next turn, or dropped with the reader
        // Lent only as it is handed out: a read ahead that is never handed out reaches no one.
        if (this.#alsoLentTo !== undefined) {
          const owner = this.#owners.get(chunk)!;
          owner.holders++;
          const back = (): void => this.giveBack(chunk);
          this.#alsoLentTo(chunk, owner.offset).then(back, back);
        }
        yield chunk;
      }
    } finally {
      // A read waiting for a buffer that may never come back gives up;
      // one in flight is waited for, as its descriptor number could be reused.
      this.#stopped = true;
      this.#waiting?.(undefined);
      this.#waiting = undefined;
      if (ahead !== undefined) await ahead.catch(() => undefined);
      await close(descriptor).catch(() => undefined);
    }
  }

  /** The next chunk (undefined at the end, or where the file ends early). */
  async #readNext(descriptor: number): Promise<Uint8Array | undefined> {
    if (this.#position >= this.#end) return undefined;
    const buffer = await this.#borrow();
    if (buffer === undefined) return undefined;
    const { bytesRead } = await read(descriptor, buffer, 0, Math.min(buffer.length, this.#end - this.#position), this.#position);
    if (bytesRead === 0) {
      this.#free.push(buffer);
      return undefined;
    }
    const chunk = buffer.subarray(0, bytesRead); // a new view each time: the key it is given back by
    this.#owners.set(chunk, { buffer, holders: 1, offset: this.#position });
    this.#position += bytesRead;
    return chunk;
  }

  #borrow(): Promise<Buffer | undefined> {
    if (this.#stopped) return Promise.resolve(undefined);
    const free = this.#free.pop();
    if (free) return Promise.resolve(free);
    if (this.#made < this.#count) {
      this.#made++;
      return Promise.resolve(this.#shared ? Buffer.from(new SharedArrayBuffer(this.#chunkBytes)) : Buffer.allocUnsafeSlow(this.#chunkBytes));
    }
    return new Promise((resolve) => {
      this.#waiting = resolve;
    });
  }
}
