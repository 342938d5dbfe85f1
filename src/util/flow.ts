/**
 * The one back-pressure primitive: a count of bytes in flight against a
 * limit. A producer adds what it hands on and removes what was taken; it
 * may go on while the count is within the limit, and once over it, waits
 * until the count is back to half — not to zero, so producing the next
 * bytes overlaps with flushing the last. A window may have a parent (a
 * server-wide budget shared by many connections): then it is open only
 * while both are.
 */
export class FlowWindow {
  readonly limit: number;
  readonly parent: FlowWindow | undefined;
  #inFlight = 0;
  #failure: Error | undefined;
  #waiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];

  constructor(limit: number, parent?: FlowWindow) {
    if (!(limit > 0)) throw new RangeError(`invalid window limit ${limit}`);
    this.limit = limit;
    this.parent = parent;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** The error the window failed with, if it did. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** True while more may be added here (and in the parent). */
  get open(): boolean {
    return this.#inFlight <= this.limit && (this.parent?.open ?? true);
  }

  add(bytes: number): void {
    this.#inFlight += bytes;
    this.parent?.add(bytes);
  }

  remove(bytes: number): void {
    this.#inFlight -= bytes;
    if (this.#inFlight < 0) this.#inFlight = 0;
    this.parent?.remove(bytes);
    if (this.#waiters.length > 0 && this.#inFlight <= this.limit / 2) {
      const waiting = this.#waiters;
      this.#waiters = [];
      for (const waiter of waiting) waiter.resolve();
    }
  }

  /** Resolves at once while open; otherwise once back to half (here, then in the parent). */
  async whenOpen(): Promise<void> {
    for (;;) {
      if (this.#failure) throw this.#failure;
      if (this.#inFlight > this.limit) {
        await new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
        continue;
      }
      if (this.parent && !this.parent.open) {
        await this.parent.whenOpen();
        continue;
      }
      return;
    }
  }

  /** Wakes every waiter with `error`; later waits fail with it too. */
  fail(error: Error): void {
    this.#failure ??= error;
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiting) waiter.reject(this.#failure);
  }
}
