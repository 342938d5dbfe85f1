/**
 * Download buffers for one connection: from the server-wide pool while it
 * has some, else one small buffer of the connection's own. However many
 * stalled readers pin the pool, every other download still moves; memory
 * stays within the pool plus one small buffer per downloading connection.
 */
import type { BufferLender } from '../storage/storage.js';
import type { BufferPool } from '../util/buffer-pool.js';

// The connection's own buffer, used only while the pool is spent.
const OWN_BUFFER_BYTES = 16 * 1024;

export class ConnectionLender implements BufferLender {
  readonly #pool: BufferPool;
  readonly #signal: AbortSignal;
  #own: Buffer | undefined;
  #ownLent = false;

  constructor(pool: BufferPool, signal: AbortSignal) {
    this.#pool = pool;
    this.#signal = signal;
  }

  get chunkSize(): number {
    return this.#pool.chunkSize;
  }

  /** True if a buffer can be had without waiting. */
  get available(): boolean {
    return this.#pool.available || !this.#ownLent;
  }

  borrow(): Promise<Buffer> {
    const pooled = this.#pool.tryBorrow();
    if (pooled) return Promise.resolve(pooled);
    if (!this.#ownLent) {
      this.#ownLent = true;
      this.#own ??= Buffer.allocUnsafeSlow(OWN_BUFFER_BYTES);
      return Promise.resolve(this.#own);
    }
    return this.#pool.borrow(this.#signal);
  }

  giveBack(buffer: Buffer): void {
    if (buffer === this.#own) this.#ownLent = false;
    else this.#pool.giveBack(buffer);
  }
}
