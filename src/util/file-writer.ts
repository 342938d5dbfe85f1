/**
 * A sequential file writer that keeps the disk busy: one writev in flight
 * at a time, taking every chunk queued meanwhile. Queued bytes are counted
 * in a FlowWindow (whose parent may be a server-wide budget): a caller
 * waits only while the window is over its limit, and goes on at half, so
 * receiving and writing overlap and memory stays bounded.
 */
import fs from 'node:fs';
import { fd as fdOps } from './fd.js';
import { FlowWindow } from './flow.js';

// A chunk up to this size, arriving while nothing is queued, is written at
// once on the event loop (it only reaches the page cache): cheaper than a
// round trip through the thread pool. Larger ones overlap with receiving.
const WRITE_NOW_MAX_BYTES = 64 * 1024;

export class FileWriter {
  readonly #fd: number;
  readonly #window: FlowWindow;
  /** A small file's writer: its chunks are written at once (see WRITE_NOW_MAX_BYTES). */
  readonly #small: boolean;
  /** Where the next write lands. */
  #position: number;
  /** Bytes handed to the kernel so far (from the start position). */
  #written = 0;
  #queue: Buffer[] = [];
  #writing = false;
  #failure: Error | undefined;
  #closed = false;
  #idle: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];

  /** Writes go from `position` on (a resumed file goes on where it stopped); `small`: a file of at most a few chunks. */
  constructor(descriptor: number, window: FlowWindow, position = 0, small = false) {
    this.#fd = descriptor;
    this.#window = window;
    this.#position = position;
    this.#small = small;
  }

  /**
   * Makes durable what has reached the kernel, without waiting for what is
   * queued; resolves with how many bytes (from the start position) are now
   * on disk for sure.
   */
  async checkpoint(): Promise<number> {
    if (this.#failure) throw this.#failure;
    if (this.#closed) throw new Error('checkpoint after close');
    const upTo = this.#written;
    await fdOps.sync(this.#fd);
    return upTo;
  }

  /** Queues a chunk; resolves at once unless too much is already queued. */
  write(chunk: Buffer): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closed) return Promise.reject(new Error('write after close'));
    if (chunk.length === 0) return Promise.resolve();
    if (this.#small && !this.#writing && this.#queue.length === 0 && chunk.length <= WRITE_NOW_MAX_BYTES) return this.#writeNow(chunk);
    this.#queue.push(chunk);
    this.#window.add(chunk.length);
    if (!this.#writing) this.#writeQueued();
    return this.#window.open ? Promise.resolve() : this.#window.whenOpen();
  }

  #writeNow(chunk: Buffer): Promise<void> {
    try {
      for (let done = 0; done < chunk.length; ) {
        const written = fs.writeSync(this.#fd, chunk, done, chunk.length - done, this.#position);
        this.#position += written;
        this.#written += written;
        done += written;
      }
      return Promise.resolve();
    } catch (error) {
      this.#fail(error as Error);
      return Promise.reject(error as Error);
    }
  }

  /** Waits for every queued byte, fsyncs, and closes. */
  async close(): Promise<void> {
    if (this.#closed) throw new Error('already closed');
    try {
      await this.#whenIdle();
    } catch (error) {
      await this.destroy();
      throw error;
    }
    this.#closed = true;
    try {
      await fdOps.sync(this.#fd);
    } finally {
      fs.closeSync(this.#fd); // no round trip for what does not wait for the device
    }
  }

  /** Closes without flushing, once no write is in flight. Never throws. */
  async destroy(): Promise<void> {
    if (this.#closed) return;
    this.#dropQueue();
    await this.#whenIdle().catch(() => undefined);
    if (this.#closed) return;
    this.#closed = true;
    await fdOps.close(this.#fd).catch(() => undefined);
  }

  #writeQueued(): void {
    const batch = this.#queue;
    this.#queue = [];
    this.#writing = true;
    fs.writev(this.#fd, batch, this.#position, (error, written) => {
      this.#writing = false;
      if (!error) {
        this.#position += written;
        this.#written += written;
      }
      const total = batch.reduce((sum, chunk) => sum + chunk.length, 0);
      if (error) {
        this.#window.remove(total);
        this.#fail(error);
        return;
      }
      this.#window.remove(written);
      // A short write: the rest goes first, still counted in the window.
      if (written < total) this.#queue.unshift(...remainderOf(batch, written));
      if (this.#queue.length > 0) this.#writeQueued();
      else this.#wakeIdle();
    });
  }

  #whenIdle(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (!this.#writing && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.#idle.push({ resolve, reject }));
  }

  #wakeIdle(): void {
    const waiting = this.#idle;
    this.#idle = [];
    for (const waiter of waiting) waiter.resolve();
  }

  #dropQueue(): void {
    this.#window.remove(this.#queue.reduce((sum, chunk) => sum + chunk.length, 0));
    this.#queue = [];
  }

  #fail(error: Error): void {
    this.#failure = error;
    this.#dropQueue();
    this.#window.fail(error);
    const waiting = this.#idle;
    this.#idle = [];
    for (const waiter of waiting) waiter.reject(error);
  }
}

function remainderOf(batch: Buffer[], written: number): Buffer[] {
  const rest: Buffer[] = [];
  let skip = written;
  for (const chunk of batch) {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    rest.push(skip > 0 ? chunk.subarray(skip) : chunk);
    skip = 0;
  }
  return rest;
}
