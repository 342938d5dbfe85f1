/**
 * A counting semaphore, granted in arrival order: at most `size` holders
 * at once. A waiter whose signal aborts leaves the queue.
 */
export class Semaphore {
  readonly size: number;
  #held = 0;
  #waiters: Array<() => void> = [];

  constructor(size: number) {
    if (!(size >= 1)) throw new RangeError(`invalid semaphore size ${size}`);
    this.size = size;
  }

  get held(): number {
    return this.#held;
  }

  /** Runs `work` holding one place. */
  async run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.#acquire(signal);
    try {
      return await work();
    } finally {
      this.#release();
    }
  }

  #acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (this.#held < this.size) {
      this.#held++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.#waiters = this.#waiters.filter((waiter) => waiter !== grant);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(grant);
    });
  }

  #release(): void {
    const next = this.#waiters.shift();
    if (next) next(); // the place passes on; the count stays
    else this.#held--;
  }
}
