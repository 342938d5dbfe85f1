/**
 * The log writer behind --log-file, and behind standard error when no
 * person watches it: lines gather in memory and reach the file in one
 * write per batch, as nginx's buffered access log does, so a busy server
 * pays one system call for many requests, not one each. A batch is
 * written when it holds BATCH_BYTES or FLUSH_EVERY_MS after its first
 * line, whichever comes first, and at exit.
 *
 * Writes are synchronous on purpose: a batch is written whole, in order,
 * with nothing in flight when the file is reopened or the process exits,
 * and a full disk is seen at the write that failed, not as a later event.
 * The price is that a write blocks the server while the kernel takes it:
 * microseconds on a local disk (the README asks for one), longer on a
 * disk that stalls, or while a pipe's reader (journald, a container's
 * log driver) catches up.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { errnoOf, fileErrorReason } from '../util/file-errors.js';
import path from 'node:path';

// A line reaches the file within this long, or sooner on a busy server.
export const FLUSH_EVERY_MS = 200;
const BATCH_BYTES = 64 * 1024;
const NEWLINE = Buffer.from('\n');
// A pipe whose reader lags (EAGAIN) is waited for in steps this long, at
// most PIPE_PATIENCE_MS a batch; then the batch is given up as failed, and
// later batches are tried once each until one goes through.
const PIPE_WAIT_MS = 2;
const PIPE_PATIENCE_MS = 5000;
const pause = new Int32Array(new SharedArrayBuffer(4));

export class LogFile {
  private fd: number;
  /** What the complaints call the destination: "the log file FILE", or "standard error". */
  private readonly label: string;
  /** A file opened by name (reopened on SIGHUP, closed at the end), not a descriptor given. */
  private readonly owned: boolean;
  // Lines are copied into this buffer as they come, so that each line's
  // string dies young: kept in a list until the write, every line lived
  // through garbage collections and cost the server more than making it.
  private readonly batch = Buffer.allocUnsafe(BATCH_BYTES);
  private batchLength = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Set while writes fail: complained about once, not on every batch. */
  private failing = false;
  /** Set when a write stopped part-way through a line: the next one starts on a line of its own. */
  private cutLine = false;
  private closed = false;

  /**
   * Opens (creating it and its folder) the file for appending; throws
   * `cannot write the log file FILE: reason` when it cannot.
   * @param complain where a failure to write says so (standard error).
   */
  constructor(
    readonly file: string,
    private readonly complain: (message: string) => void,
    descriptor?: number,
  ) {
    this.owned = descriptor === undefined;
    this.label = this.owned ? `the log file ${file}` : file;
    if (descriptor !== undefined) {
      this.fd = descriptor;
      return;
    }
    try {
      this.fd = openForAppend(file);
    } catch (error) {
      throw new Error(`cannot write the log file ${file}: ${reasonOf(error)}`);
    }
  }

  /**
   * Standard error, batched the same way. A failure to write there cannot
   * be said anywhere else, so it is not said: the lines are dropped.
   */
  static standardError(): LogFile {
    return new LogFile('standard error', () => undefined, 2);
  }

  /** Takes one or more whole lines; they reach the file with the batch. */
  write(text: string): boolean {
    if (this.closed) return false;
    // A UTF-8 character takes at most three bytes per UTF-16 unit.
    const room = BATCH_BYTES - this.batchLength;
    const bytes = text.length * 3 > room ? Buffer.byteLength(text) : 0;
    if (bytes > room) {
      this.flush();
      if (bytes > BATCH_BYTES) {
        this.writeOut(Buffer.from(text));
        return true;
      }
    }
    this.batchLength += this.batch.write(text, this.batchLength);
    if (this.timer === undefined) this.timer = setTimeout(() => this.flush(), FLUSH_EVERY_MS).unref();
    return true;
  }

  /** Writes out the batch now. */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.batchLength === 0) return;
    const length = this.batchLength;
    this.batchLength = 0;
    this.writeOut(this.batch.subarray(0, length));
  }

  private writeOut(data: Buffer): void {
    let offset = 0;
    // A reader that lags is waited for, within one deadline for the whole
    // batch; while writes fail, not at all (each batch tries once), so that
    // a reader stuck for good cannot hold the server up batch after batch.
    const deadline = this.failing ? 0 : performance.now() + PIPE_PATIENCE_MS;
    try {
      // A line cut short by a failed write is ended before anything else,
      // so that what follows is a line of its own a parser can read.
      if (this.cutLine && this.writeSome(NEWLINE, 0, deadline) === 1) this.cutLine = false;
      while (offset < data.length) offset += this.writeSome(data, offset, deadline);
      if (this.failing) {
        this.failing = false;
        this.complain(`writing ${this.label} again`);
      }
    } catch (error) {
      if (offset > 0 && data[offset - 1] !== NEWLINE[0]) this.cutLine = true;
      // Dropped rather than kept: a log that cannot be written must not
      // grow the server's memory until it falls over.
      if (!this.failing) {
        this.failing = true;
        this.complain(`cannot write ${this.label}: ${reasonOf(error)}; lines are lost until it can be written`);
      }
    }
  }

  /**
   * One write of what is left from `offset`. A non-blocking pipe that is
   * full (its reader lags) is waited for until `deadline`, as a blocking
   * write would.
   */
  private writeSome(data: Buffer, offset: number, deadline: number): number {
    for (;;) {
      try {
        return writeSync(this.fd, data, offset);
      } catch (error) {
        if (errnoOf(error) !== 'EAGAIN' || performance.now() >= deadline) throw error;
        Atomics.wait(pause, 0, 0, PIPE_WAIT_MS);
      }
    }
  }

  /**
   * Opens the file by its name again (after logrotate moved it away). What
   * was logged before goes to the old file; if the new one cannot be
   * opened, logging goes on where it was and says why.
   */
  reopen(): void {
    if (this.closed || !this.owned) return;
    this.flush();
    let fd: number;
    try {
      fd = openForAppend(this.file);
    } catch (error) {
      this.complain(`cannot reopen the log file ${this.file}: ${reasonOf(error)}; still writing to the file it was`);
      return;
    }
    const old = this.fd;
    this.fd = fd;
    // A new file starts with whole lines whatever the old one ended with.
    this.cutLine = false;
    try {
      closeSync(old);
    } catch (error) {
      this.complain(`cannot close the rotated log file ${this.file}: ${reasonOf(error)}`);
    }
  }

  /** Writes out the batch and closes the file; later lines are dropped. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (!this.owned) return;
    try {
      closeSync(this.fd);
    } catch {
      // Nothing is left to lose: the batch was written (or said lost) above.
    }
  }
}

function openForAppend(file: string): number {
  mkdirSync(path.dirname(file), { recursive: true });
  return openSync(file, 'a', 0o640);
}

// Opening FILE where a parent is a file fails with EEXIST from mkdir.
const reasonOf = (error: unknown): string => fileErrorReason(error, { EEXIST: 'a parent is not a folder' });
