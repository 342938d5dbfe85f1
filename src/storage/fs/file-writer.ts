/**
 * A sequential file writer that keeps the disk busy: one writev in flight
 * at a time, taking every chunk queued meanwhile, and callers asked to wait
 * only while more than `highWaterMark` bytes are queued — and let go again
 * at half of it, not when the queue is empty (as a stream's 'drain' does),
 * so receiving and writing overlap. Memory stays under highWaterMark plus
 * one chunk.
 */
import fs from 'node:fs';
import { fd as fdOps } from '../../util/fd.js';

export class FileWriter {
  readonly #fd: number;
  readonly #highWaterMark: number;
  #queue: Buffer[] = [];
  #queuedBytes = 0;
  #writing = false;
  #failure: Error | undefined;
  #closed = false;
  #waiters: Array<{ resolve: () => void; reject: (error: Error) => void; until: 'low' | 'idle' }> = [];

  constructor(descriptor: number, highWaterMark: number) {
    this.#fd = descriptor;
    this.#highWaterMark = highWaterMark;
  }

  /** Queues a chunk; resolves at once unless too much is already queued. */
  write(chunk: Buffer): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closed) return Promise.reject(new Error('write after close'));
    if (chunk.length === 0) return Promise.resolve();
    this.#queue.push(chunk);
    this.#queuedBytes += chunk.length;
    if (!this.#writing) this.#writeQueued();
    return this.#queuedBytes > this.#highWaterMark ? this.#wait('low') : Promise.resolve();
  }

  /** Waits for every queued byte, fsyncs, and closes. */
  async close(): Promise<void> {
    if (this.#closed) throw new Error('already closed');
    try {
      await this.#wait('idle');
    } catch (error) {
      await this.destroy();
      throw error;
    }
    this.#closed = true;
    try {
      await fdOps.sync(this.#fd);
    } finally {
      await fdOps.close(this.#fd);
    }
  }

  /** Closes without flushing, once no write is in flight. Never throws. */
  async destroy(): Promise<void> {
    if (this.#closed) return;
    this.#queue = [];
    this.#queuedBytes = 0;
    await this.#wait('idle').catch(() => undefined);
    if (this.#closed) return;
    this.#closed = true;
    await fdOps.close(this.#fd).catch(() => undefined);
  }

  #writeQueued(): void {
    const batch = this.#queue;
    this.#queue = [];
    this.#writing = true;
    fs.writev(this.#fd, batch, (error, written) => {
      this.#writing = false;
      if (error) {
        this.#fail(error);
        return;
      }
      this.#queuedBytes -= written;
      const total = batch.reduce((sum, chunk) => sum + chunk.length, 0);
      if (written < total) this.#queue.unshift(...remainderOf(batch, written)); // a short write: the rest goes first
      if (this.#queue.length > 0) this.#writeQueued();
      this.#wakeWaiters();
    });
  }

  #wait(until: 'low' | 'idle'): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#isReached(until)) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject, until }));
  }

  #isReached(until: 'low' | 'idle'): boolean {
    return until === 'idle' ? !this.#writing && this.#queue.length === 0 : this.#queuedBytes <= this.#highWaterMark / 2;
  }

  #wakeWaiters(): void {
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiting) {
      if (this.#isReached(waiter.until)) waiter.resolve();
      else this.#waiters.push(waiter);
    }
  }

  #fail(error: Error): void {
    this.#failure = error;
    this.#queue = [];
    this.#queuedBytes = 0;
    const waiting = this.#waiters;
    this.#waiters = [];
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
