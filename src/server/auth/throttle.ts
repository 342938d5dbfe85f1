/**
 * Failed logins slow the next answer down: each failure from one address,
 * or for one user name, doubles the delay before the next failure's reply
 * (from a quarter second, capped at a few seconds), so guessing passwords
 * costs time however it is spread. A success clears the user's count (an
 * address's count fades on its own). Entries are forgotten after a quiet
 * while, so the maps stay small.
 */
export interface ThrottleOptions {
  baseMs?: number;
  capMs?: number;
  /** Forget an address or user after this long without a failure. */
  forgetMs?: number;
}

interface Entry {
  failures: number;
  last: number;
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

  /** Notes a failure; resolves with the delay its reply should wait, in ms. */
  failed(address: string, user: string | undefined, now = Date.now()): number {
    const failures = Math.max(this.#bump(this.#byAddress, address, now), user === undefined ? 0 : this.#bump(this.#byUser, user, now));
    return Math.min(this.#capMs, this.#baseMs * 2 ** (failures - 1));
  }

  succeeded(user: string): void {
    this.#byUser.delete(user);
  }

  #bump(map: Map<string, Entry>, key: string, now: number): number {
    const entry = map.get(key);
    const failures = entry && now - entry.last < this.#forgetMs ? entry.failures + 1 : 1;
    map.delete(key); // re-inserted last: the map's order is oldest first
    map.set(key, { failures, last: now });
    if (map.size > MAX_ENTRIES) map.delete(map.keys().next().value!);
    return failures;
  }
}
