/**
 * One progress display for a whole transfer of many files: the numbers
 * (bytes and files done out of the total, rate, ETA, the largest files
 * in flight), kept by adding numbers as bytes move, and read by a
 * renderer (progress-render.ts) on a timer. Any verb that moves files
 * (put, get, sync) feeds it the same way:
 *
 *   board.expect(files, bytes)          what the plan holds, when known
 *   const file = board.start(label, size)
 *   file.advance(bytes) ... file.done() or file.failed()
 *   await board.finish()
 */

/** A file in flight on the board. */
export interface TransferHandle {
  /** `bytes` more moved. */
  advance(bytes: number): void;
  /** The file's size, once known better (a download's go-ahead). */
  resize(size: number): void;
  done(): void;
  failed(): void;
}

export interface ProgressBoard {
  /** Adds planned files and bytes to the totals. Files started beyond those planned add themselves. */
  expect(files: number, bytes: number): void;
  start(label: string, size: number): TransferHandle;
  /** Stops rendering: a terminal display is cleared, a last line printed where lines are. */
  finish(): Promise<void>;
  /** Runs `write` (a line of output) so that it does not tear the display. */
  aside<T>(write: () => T): T;
}

/** What a renderer shows, at one moment. */
export interface ProgressSnapshot {
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesFailed: number;
  filesTotal: number;
  /** Bytes per second, lately (over the rate window). */
  bytesPerSecond: number;
  /** Seconds to go at that rate; undefined while there is no rate to go by. */
  etaSeconds: number | undefined;
  elapsedSeconds: number;
  /** The largest files in flight, largest first. */
  largest: InFlight[];
}

export interface InFlight {
  label: string;
  size: number;
  moved: number;
}

export interface TallyOptions {
  /** Milliseconds, e.g. performance.now or a fake clock in tests. */
  now: () => number;
  /** How far back the rate looks (default 5 s). */
  rateWindowMs?: number;
  /** How many of the largest files in flight to show (default 3). */
  largestCount?: number;
  /** Files smaller than this get no bar of their own (default 4 MiB). */
  largestMinBytes?: number;
}

const DEFAULT_RATE_WINDOW_MS = 5000;
const DEFAULT_LARGEST_COUNT = 3;
export const FILE_BAR_MIN_BYTES = 4 * 1024 * 1024;

/** The arithmetic of a board, with no output and no timers: a clock is passed in. */
export class ProgressTally {
  readonly #now: () => number;
  readonly #windowMs: number;
  readonly #largestCount: number;
  readonly #largestMinBytes: number;
  readonly #started: number;
  readonly #inFlight = new Set<InFlight>();
  /** (time, bytes moved) taken at each snapshot, oldest first, for the rate. */
  #samples: Array<{ at: number; moved: number }> = [];
  #expectedFiles = 0;
  #startedFiles = 0;
  bytesTotal = 0;
  /** Bytes moved by files done or in flight (a failed file's are taken back out). */
  bytesDone = 0;
  filesTotal = 0;
  filesDone = 0;
  filesFailed = 0;
  /** Every byte moved, failed files' too: what the rate is measured on. */
  #moved = 0;

  constructor(options: TallyOptions) {
    this.#now = options.now;
    this.#windowMs = options.rateWindowMs ?? DEFAULT_RATE_WINDOW_MS;
    this.#largestCount = options.largestCount ?? DEFAULT_LARGEST_COUNT;
    this.#largestMinBytes = options.largestMinBytes ?? FILE_BAR_MIN_BYTES;
    this.#started = this.#now();
    this.#samples.push({ at: this.#started, moved: 0 });
  }

  expect(files: number, bytes: number): void {
    this.#expectedFiles += files;
    this.filesTotal += files;
    this.bytesTotal += bytes;
  }

  start(label: string, size: number): TransferHandle {
    this.#startedFiles++;
    // A file nobody planned for makes the totals grow.
    if (this.#startedFiles > this.#expectedFiles) {
      this.#expectedFiles++;
      this.filesTotal++;
      this.bytesTotal += size;
    }
    const file: InFlight = { label, size, moved: 0 };
    this.#inFlight.add(file);
    let ended = false;
    return {
      advance: (bytes) => {
        file.moved += bytes;
        this.bytesDone += bytes;
        this.#moved += bytes;
      },
      resize: (size) => {
        if (ended) return;
        this.bytesTotal += size - file.size;
        file.size = size;
      },
      done: () => {
        if (ended) return;
        ended = true;
        this.#inFlight.delete(file);
        this.filesDone++;
        // What it turned out to be, whatever was planned.
        this.bytesTotal += file.moved - file.size;
      },
      failed: () => {
        if (ended) return;
        ended = true;
        this.#inFlight.delete(file);
        this.filesFailed++;
        this.bytesDone -= file.moved;
        this.bytesTotal -= file.size;
      },
    };
  }

  /** The numbers now; takes a sample for the rate. */
  snapshot(): ProgressSnapshot {
    const now = this.#now();
    this.#samples.push({ at: now, moved: this.#moved });
    // Keep the newest sample that is at least a window old, and those after it.
    while (this.#samples.length > 2 && now - this.#samples[1]!.at >= this.#windowMs) this.#samples.shift();
    const oldest = this.#samples[0]!;
    const seconds = (now - oldest.at) / 1000;
    const bytesPerSecond = seconds > 0 ? (this.#moved - oldest.moved) / seconds : 0;
    const left = Math.max(0, this.bytesTotal - this.bytesDone);
    return {
      bytesDone: this.bytesDone,
      bytesTotal: this.bytesTotal,
      filesDone: this.filesDone,
      filesFailed: this.filesFailed,
      filesTotal: this.filesTotal,
      bytesPerSecond,
      etaSeconds: left === 0 ? 0 : bytesPerSecond > 0 ? left / bytesPerSecond : undefined,
      elapsedSeconds: (now - this.#started) / 1000,
      largest: this.largestInFlight(),
    };
  }

  /** The numbers at the end: the rate is the whole run's. */
  final(): ProgressSnapshot {
    const now = this.#now();
    const elapsedSeconds = (now - this.#started) / 1000;
    return {
      ...this.snapshot(),
      bytesPerSecond: elapsedSeconds > 0 ? this.#moved / elapsedSeconds : 0,
      etaSeconds: 0,
      elapsedSeconds,
      largest: [],
    };
  }

  /** The largest files in flight of at least the minimum size, largest first (by label between equals). */
  largestInFlight(): InFlight[] {
    const big: InFlight[] = [];
    for (const file of this.#inFlight) if (file.size >= this.#largestMinBytes) big.push(file);
    big.sort((a, b) => b.size - a.size || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
    return big.slice(0, this.#largestCount).map((file) => ({ ...file }));
  }
}
