/**
 * When a broken transfer is tried again, and how long to wait first. Only
 * failures of the connection are retried (a socket that closed or timed
 * out, a server restarting or full, an upload another connection still
 * seems to feed); a refusal or a failed hash never is.
 */
import { BucketError } from '../errors.js';
import { ClientError } from './errors.js';

/** Tries after the first, by default, without progress in between. */
export const DEFAULT_RETRIES = 5;

const FIRST_DELAY_MS = 200;
const MAX_DELAY_MS = 5000;

const RETRYABLE: ReadonlySet<string> = new Set([
  'CONNECTION_LOST',
  'CONNECTION_REFUSED',
  'CONNECT_TIMEOUT',
  'SHUTTING_DOWN',
  'TOO_MANY_CONNECTIONS',
  'IDLE_TIMEOUT',
  'REQUEST_TIMEOUT',
  'TOO_SLOW',
  'INCOMPLETE_BODY',
  // Right after a reconnect the server may not yet have seen the old connection die.
  'UPLOAD_BUSY',
]);

export interface RetryOptions {
  /**
   * How many times a broken transfer is tried again (default 5). The
   * count starts afresh whenever an attempt moved the transfer forward,
   * so a long transfer over a flaky link goes on as long as it advances.
   */
  retries?: number;
  /** Called as each resume starts, with the offset it goes on from. */
  onResume?: (info: ResumeInfo) => void;
  /**
   * A transfer under way that moves no byte for this long counts as a
   * broken connection (one that died without a word), and is resumed.
   * Default 60 s; 0 for never.
   */
  stallTimeoutMs?: number;
}

export const DEFAULT_STALL_TIMEOUT_MS = 60_000;

/** Drops the connection when a transfer moves no byte for `ms`; `moved()` on every progress. */
export class StallWatch {
  readonly #ms: number;
  readonly #onStall: () => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(ms: number, onStall: () => void) {
    this.#ms = ms;
    this.#onStall = onStall;
  }

  moved(): void {
    if (this.#ms <= 0) return;
    // Called for every chunk: moving the one timer costs less than a new one.
    if (this.#timer !== undefined) {
      this.#timer.refresh();
      return;
    }
    this.#timer = setTimeout(this.#onStall, this.#ms);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Runs local work (hashing a file) that is not the connection's time. */
  async paused<T>(work: () => Promise<T>): Promise<T> {
    this.stop();
    try {
      return await work();
    } finally {
      this.moved();
    }
  }
}

export interface ResumeInfo {
  /** 1 for the first retry after a failure (0: an upload an earlier run left unfinished). */
  attempt: number;
  /** Bytes already in place (on the server for an upload, on disk for a download). */
  offset: number;
  size: number;
  /** The failure that made this attempt necessary; absent for an earlier run's upload. */
  cause?: { code: string; message: string };
}

export function codeOf(error: unknown): string | undefined {
  return error instanceof ClientError || error instanceof BucketError ? error.code : undefined;
}

export function isRetryable(error: unknown): boolean {
  const code = codeOf(error);
  return code !== undefined && RETRYABLE.has(code);
}

/** The wait before retry `attempt` (1, 2, ...): doubling from 0.2 s up to 5 s, with jitter. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new ClientError('CANCELLED'));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new ClientError('CANCELLED'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function failureOf(error: unknown): { code: string; message: string } {
  return { code: codeOf(error) ?? 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
}
