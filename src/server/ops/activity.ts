/**
 * What the status page shows of the recent past: the bytes moved over the
 * last minute (sampled every few seconds from the server's totals, so a
 * long transfer counts while it runs, not only when it ends) and the last
 * few failed requests.
 */
import type { RequestRecord, ServerHooks, Session } from '../session.js';

export interface RecentError {
  at: Date;
  peer: string;
  user: string | undefined;
  command: string;
  bucket: string | undefined;
  name: string | undefined;
  status: number;
  code: string;
}

const SAMPLE_MS = 5000;
const WINDOW_SAMPLES = 12; // a minute
const KEPT_ERRORS = 20;

export class Activity {
  readonly hooks: ServerHooks;
  readonly #errors: RecentError[] = [];
  readonly #samples: Array<{ at: number; in: number; out: number }> = [];
  readonly #totals: () => { in: number; out: number };
  readonly #timer: NodeJS.Timeout;

  constructor(totals: () => { in: number; out: number }) {
    this.#totals = totals;
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), SAMPLE_MS).unref();
    this.hooks = {
      onRequestEnd: (session: Session, record: RequestRecord) => {
        if (record.status < 400 && record.outcome !== 'CONNECTION_LOST') return;
        this.#errors.push({
          at: new Date(),
          peer: session.peer,
          user: session.user,
          command: record.command ?? 'invalid',
          bucket: record.bucket,
          name: record.name,
          status: record.status,
          code: record.outcome,
        });
        if (this.#errors.length > KEPT_ERRORS) this.#errors.shift();
      },
    };
  }

  /** The last failed requests, newest first. */
  recentErrors(): RecentError[] {
    return [...this.#errors].reverse();
  }

  /** Bytes a second received and sent, over about the last minute. */
  rate(): { in: number; out: number; seconds: number } {
    const now = { at: Date.now(), ...this.#totals() };
    const oldest = this.#samples[0]!;
    const seconds = Math.max(1, (now.at - oldest.at) / 1000);
    return { in: (now.in - oldest.in) / seconds, out: (now.out - oldest.out) / seconds, seconds };
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #sample(): void {
    this.#samples.push({ at: Date.now(), ...this.#totals() });
    if (this.#samples.length > WINDOW_SAMPLES + 1) this.#samples.shift();
  }
}
