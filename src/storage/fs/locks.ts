/**
 * Locks that make concurrent operations on one bucket end in a truthful
 * answer: creating and deleting a bucket hold it exclusively; committing
 * and deleting files hold it shared, and one file name exclusively. A
 * bucket deleted while an upload was in flight is then either deleted with
 * the new file in it, or makes the commit fail with NO_SUCH_BUCKET.
 */
type Mode = 'shared' | 'exclusive';

interface LockState {
  readers: number;
  writer: boolean;
  queue: Array<{ mode: Mode; grant: () => void }>;
}

/** A readers-writer lock per key, granted in arrival order. */
export class KeyedRwLock {
  readonly #states = new Map<string, LockState>();
  readonly #running = new Set<Promise<unknown>>();

  run<T>(key: string, mode: Mode, work: () => Promise<T>): Promise<T> {
    const run = (async () => {
      await this.#acquire(key, mode);
      try {
        return await work();
      } finally {
        this.#release(key, mode);
      }
    })();
    const settled: Promise<unknown> = run.then(
      () => this.#running.delete(settled),
      () => this.#running.delete(settled),
    );
    this.#running.add(settled);
    return run;
  }

  /** Resolves once nothing holds or waits for any key. */
  async drained(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  #acquire(key: string, mode: Mode): Promise<void> {
    let state = this.#states.get(key);
    if (!state) {
      state = { readers: 0, writer: false, queue: [] };
      this.#states.set(key, state);
    }
    if (state.queue.length === 0 && canGrant(state, mode)) {
      take(state, mode);
      return Promise.resolve();
    }
    const waiting = state;
    return new Promise((resolve) => waiting.queue.push({ mode, grant: resolve }));
  }

  #release(key: string, mode: Mode): void {
    const state = this.#states.get(key)!;
    if (mode === 'exclusive') state.writer = false;
    else state.readers--;
    while (state.queue.length > 0 && canGrant(state, state.queue[0]!.mode)) {
      const next = state.queue.shift()!;
      take(state, next.mode);
      next.grant();
    }
    if (state.readers === 0 && !state.writer && state.queue.length === 0) this.#states.delete(key);
  }
}

function canGrant(state: LockState, mode: Mode): boolean {
  return mode === 'shared' ? !state.writer : !state.writer && state.readers === 0;
}

function take(state: LockState, mode: Mode): void {
  if (mode === 'exclusive') state.writer = true;
  else state.readers++;
}
