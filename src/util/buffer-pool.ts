/**
 * A fixed budget of equal buffers, lent out and given back. Buffers are
 * made on first need and reused after, so a busy server neither makes
 * garbage nor grows past the budget; borrowers beyond it wait their turn.
 */
export class BufferPool {
  readonly chunkSize: number;
  readonly maxBuffers: number;
  #made = 0;
  #free: Buffer[] = [];
  #waiters: Array<(buffer: Buffer) => void> = [];

  constructor(budgetBytes: number, chunkSize: number) {
    this.chunkSize = chunkSize;
    this.maxBuffers = Math.max(1, Math.floor(budgetBytes / chunkSize));
  }

  /** Buffers lent out now. */
  get lent(): number {
    return this.#made - this.#free.length;
  }

  /** True if a buffer can be had without waiting. */
  get available(): boolean {
    return this.#free.length > 0 || this.#made < this.maxBuffers;
  }

  /** A buffer, at once or when one is given back; rejects if `signal` aborts first. */
  borrow(signal?: AbortSignal): Promise<Buffer> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    const buffer = this.tryBorrow();
    if (buffer) return Promise.resolve(buffer);
    return new Promise((resolve, reject) => {
      const waiter = (lent: Buffer): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(lent);
      };
      const onAbort = (): void => {
        this.#waiters = this.#waiters.filter((other) => other !== waiter);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  tryBorrow(): Buffer | undefined {
    const free = this.#free.pop();
    if (free) return free;
    if (this.#made >= this.maxBuffers) return undefined;
    this.#made++;
    return Buffer.allocUnsafeSlow(this.chunkSize);
  }

  giveBack(buffer: Buffer): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(buffer);
    else this.#free.push(buffer);
  }
}
