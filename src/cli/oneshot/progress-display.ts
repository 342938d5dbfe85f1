/**
 * Where a progress board shows, on standard error. On a terminal: a total
 * line (bytes, files, rate, ETA) with a bar for each of the largest files
 * in flight, redrawn a few times a second and cleared at the end, so only
 * the result records remain. Off a terminal, with --progress: one plain
 * line about every second and a last one (with --json, one JSON object
 * each). Otherwise nothing at all. Rendering runs on an unref'd timer;
 * moving bytes only adds numbers.
 *
 * The terminal display is drawn by hand rather than with cli-progress's
 * MultiBar: records go to standard output, often the same terminal, and a
 * display that knows how many lines it drew can take them away before
 * each record and draw them again below it.
 */
import { humanSize, printable } from '../format.js';
import { ProgressTally, type ProgressBoard, type ProgressSnapshot, type TransferHandle } from './progress-board.js';
import type { Reporter } from './report.js';

export type ProgressMode = 'off' | 'terminal' | 'lines' | 'json';

/**
 * `flag`: --progress (true), --no-progress (false), or neither. A terminal
 * shows bars unless told not to; elsewhere there is output only when asked
 * for, as JSON with --json.
 */
export function progressMode(flag: boolean | undefined, json: boolean, stream: NodeJS.WritableStream, env: NodeJS.ProcessEnv): ProgressMode {
  if (flag === false) return 'off';
  if (flag === true && json) return 'json';
  if ((stream as NodeJS.WriteStream).isTTY === true && env.TERM !== 'dumb') return 'terminal';
  return flag === true ? 'lines' : 'off';
}

export interface DisplayOptions {
  mode: ProgressMode;
  stream: NodeJS.WritableStream;
  /** Milliseconds; performance.now by default. */
  now?: () => number;
  /** How often a line is printed off a terminal (default 1000 ms). */
  lineEveryMs?: number;
}

const TERMINAL_EVERY_MS = 200;
// A run this short shows no bars at all: they would only flash.
const TERMINAL_AFTER_MS = 500;
const BAR_WIDTH = 24;
const MIN_BAR_WIDTH = 8;

const NO_HANDLE: TransferHandle = { advance: () => undefined, resize: () => undefined, done: () => undefined, failed: () => undefined };
export const NO_BOARD: ProgressBoard = {
  expect: () => undefined,
  start: () => NO_HANDLE,
  finish: async () => undefined,
  aside: (write) => write(),
};

export function openProgress(options: DisplayOptions): ProgressBoard {
  if (options.mode === 'off') return NO_BOARD;
  const now = options.now ?? (() => performance.now());
  const tally = new ProgressTally({ now });
  const stream = options.stream;
  let finished = false;

  if (options.mode === 'terminal') {
    // The lines on the screen now; drawing again first moves up over them.
    let shown: string[] = [];
    const draw = (lines: string[]): void => {
      const up = shown.length > 0 ? `\x1b[${shown.length}A\r\x1b[J` : '';
      if (up !== '' || lines.length > 0) stream.write(`${up}${lines.map((line) => `${line}\n`).join('')}`);
      shown = lines;
    };
    const timer = setInterval(() => {
      const snapshot = tally.snapshot();
      if (snapshot.elapsedSeconds * 1000 < TERMINAL_AFTER_MS) return;
      draw(terminalLines(snapshot, (stream as NodeJS.WriteStream).columns || 80));
    }, TERMINAL_EVERY_MS);
    timer.unref();
    return {
      expect: (files, bytes) => tally.expect(files, bytes),
      start: (label, size) => tally.start(label, size),
      // Away, the line, and back below it at once, so that the display does not flicker.
      aside(write) {
        const lines = shown;
        draw([]);
        const result = write();
        if (!finished) draw(lines);
        return result;
      },
      async finish() {
        if (finished) return;
        finished = true;
        clearInterval(timer);
        draw([]);
      },
    };
  }

  const line = options.mode === 'json' ? (snapshot: ProgressSnapshot, final: boolean) => `${JSON.stringify(jsonRecord(snapshot, final))}\n` : (snapshot: ProgressSnapshot, final: boolean) => `${plainLine(snapshot, final)}\n`;
  const timer = setInterval(() => stream.write(line(tally.snapshot(), false)), options.lineEveryMs ?? 1000);
  timer.unref();
  return {
    expect: (files, bytes) => tally.expect(files, bytes),
    start: (label, size) => tally.start(label, size),
    aside: (write) => write(),
    async finish() {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      stream.write(line(tally.final(), true));
    },
  };
}

/**
 * A reporter whose lines the display steps aside for: its failures (on
 * standard error, beside the display), and its records when standard
 * output is the terminal too (`outIsTerminal`).
 */
export function besideProgress(reporter: Reporter, board: ProgressBoard, outIsTerminal: boolean): Reporter {
  if (board === NO_BOARD) return reporter;
  return {
    emit: (record) => (outIsTerminal ? board.aside(() => reporter.emit(record)) : reporter.emit(record)),
    failure: (failure, about) => board.aside(() => reporter.failure(failure, about)),
    resumed: (record) => board.aside(() => reporter.resumed(record)),
    flush: () => reporter.flush(),
  };
}

/** `progress: 1.2 GiB / 4.0 GiB, 120 / 10000 files, 85 MiB/s, ETA 34s`; the last line ends `done in 48s`. */
export function plainLine(snapshot: ProgressSnapshot, final: boolean): string {
  const failed = snapshot.filesFailed > 0 ? `, ${snapshot.filesFailed} failed` : '';
  const end = final ? `done in ${snapshot.elapsedSeconds < 10 ? `${snapshot.elapsedSeconds.toFixed(1)}s` : duration(snapshot.elapsedSeconds)}` : `ETA ${eta(snapshot.etaSeconds)}`;
  return `progress: ${humanSize(snapshot.bytesDone)} / ${humanSize(snapshot.bytesTotal)}, ${snapshot.filesDone} / ${snapshot.filesTotal} files${failed}, ${humanSize(snapshot.bytesPerSecond)}/s, ${end}`;
}

/** A snapshot as `--json --progress` prints it: whole numbers, no files in flight, null for no ETA. */
export type ProgressRecord = { type: 'progress' } & Omit<ProgressSnapshot, 'etaSeconds' | 'largest'> & { etaSeconds: number | null; final: boolean };

export function jsonRecord(snapshot: ProgressSnapshot, final: boolean): ProgressRecord {
  return {
    type: 'progress',
    bytesDone: snapshot.bytesDone,
    bytesTotal: snapshot.bytesTotal,
    filesDone: snapshot.filesDone,
    filesFailed: snapshot.filesFailed,
    filesTotal: snapshot.filesTotal,
    bytesPerSecond: Math.round(snapshot.bytesPerSecond),
    etaSeconds: snapshot.etaSeconds === undefined ? null : Math.ceil(snapshot.etaSeconds),
    elapsedSeconds: Math.round(snapshot.elapsedSeconds * 1000) / 1000,
    final,
  };
}

/** The terminal display: the total line, then one line per large file in flight; none wider than the terminal. */
export function terminalLines(snapshot: ProgressSnapshot, columns: number): string[] {
  const width = Math.max(1, columns - 1);
  const failed = snapshot.filesFailed > 0 ? `, ${snapshot.filesFailed} failed` : '';
  const totals = `${percent(snapshot.bytesDone, snapshot.bytesTotal)} ${humanSize(snapshot.bytesDone)} / ${humanSize(snapshot.bytesTotal)}, ${snapshot.filesDone} / ${snapshot.filesTotal} files${failed}, ${humanSize(snapshot.bytesPerSecond)}/s, ETA ${eta(snapshot.etaSeconds)}`;
  // The bar takes what the numbers leave, within limits.
  const barWidth = Math.max(MIN_BAR_WIDTH, Math.min(BAR_WIDTH, width - totals.length - 1));
  const total = `${bar(snapshot.bytesDone, snapshot.bytesTotal, barWidth)} ${totals}`;
  const files = snapshot.largest.map((file) => `${bar(file.moved, file.size, barWidth)} ${percent(file.moved, file.size)} ${humanSize(file.moved).padStart(9)} / ${humanSize(file.size).padEnd(9)} ${printable(file.label)}`);
  return [total, ...files].map((text) => fit(text, width));
}

function bar(done: number, total: number, width: number): string {
  const filled = total > 0 ? Math.min(width, Math.floor((done / total) * width)) : 0;
  return `${'\u2588'.repeat(filled)}${'\u2591'.repeat(width - filled)}`;
}

function percent(done: number, total: number): string {
  return `${String(total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0).padStart(3)}%`;
}

/** 34s, 5m02s, 1h02m; "?" while there is no rate to go by. */
function eta(seconds: number | undefined): string {
  return seconds === undefined ? '?' : duration(seconds);
}

export function duration(seconds: number): string {
  const whole = Math.ceil(seconds);
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`;
}

// Characters that take two columns: CJK, Hangul, full-width forms, emoji.
const WIDE = /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{1f300}-\u{1faff}\u{20000}-\u{3fffd}]/u;

/** `text` cut to `columns` terminal columns, so a line never wraps (which would break the redraw). */
export function fit(text: string, columns: number): string {
  let width = 0;
  let out = '';
  for (const char of text) {
    const w = WIDE.test(char) ? 2 : 1;
    if (width + w > columns) return out;
    width += w;
    out += char;
  }
  return out;
}
