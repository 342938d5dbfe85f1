/**
 * Failed logins slow guessing down, however it is spread. Each failure from
 * an address, or for a user name, doubles the delay that key's next
 * attempts must keep between them (from a quarter second, capped at a few
 * seconds), and attempts take turns: parallel connections queue behind one
 * another rather than guess at once. A failure's reply also waits that
 * delay. A success clears its user's count; counts fade after a quiet while,
 * and the maps stay bounded.
 */
export interface ThrottleOptions {
  baseMs?: number;
  capMs?: number;
  /** Forget an address or user after this long without a failure. */
  forgetMs?: number;
}

interface Entry {
  failures: number;
  lastFailure: number;
  /** The earliest time the next attempt may be checked. */
  next: number;
}

const MAX_ENTRIES = 100_000;

export class LoginThrottle {
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #forgetMs: number;
  readonly #byAddress = new Map<string, Entry>();
  readonly #byUser = new Map<string, Entry>();

  constructor(options: ThrottleOptions = {}) {
    this.#baseMs = options.baseMs ?? 250;
    this.#capMs = options.capMs ?? 4000;
    this.#forgetMs = options.forgetMs ?? 15 * 60_000;
  }

  /**
   * Resolves when this attempt may be checked: no sooner than the delay
   * after the last attempt of the same address or user name, where either
   * has failed recently. Takes the turn at once, so concurrent attempts
   * line up one delay apart.
   */
  async turn(address: string, user: string | undefined): Promise<void> {
    const now = Date.now();
    const entries = [this.#entry(this.#byAddress, address, now), user === undefined ? undefined : this.#entry(this.#byUser, user, now)].filter((entry): entry is Entry => entry !== undefined);
    const at = Math.max(now, ...entries.map((entry) => entry.next));
    const spacing = this.#delayFor(Math.max(0, ...entries.map((entry) => entry.failures)));
    for (const entry of entries) entry.next = at + spacing;
    if (at > now) await new Promise((resolve) => setTimeout(resolve, at - now));
  }

  /** Notes a failure; returns how long its reply should wait, in ms. */
  failed(address: string, user: string | undefined, now = Date.now()): number {
    const failures = Math.max(this.#bump(this.#byAddress, address, now), user === undefined ? 0 : this.#bump(this.#byUser, user, now));
    return this.#delayFor(failures);
  }

  succeeded(user: string): void {
    this.#byUser.delete(user);
  }

  #delayFor(failures: number): number {
    return failures === 0 ? 0 : Math.min(this.#capMs, this.#baseMs * 2 ** (failures - 1));
  }

  /** The key's entry if it failed recently (a stale one is dropped). */
  #entry(map: Map<string, Entry>, key: string, now: number): Entry | undefined {
    const entry = map.get(key);
    if (entry && now - entry.lastFailure >= this.#forgetMs) {
      map.delete(key);
      return undefined;
    }
    return entry;
  }

  #bump(map: Map<string, Entry>, key: string, now: number): number {
    const entry = this.#entry(map, key, now);
    const failures = (entry?.failures ?? 0) + 1;
    map.delete(key); // re-inserted last: the map's order is oldest first
    map.set(key, { failures, lastFailure: now, next: Math.max(entry?.next ?? 0, now + this.#delayFor(failures)) });
    if (map.size > MAX_ENTRIES) map.delete(map.keys().next().value!);
    return failures;
  }
}
