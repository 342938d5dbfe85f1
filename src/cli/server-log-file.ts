/**
 * The log file behind --log-file: lines gather in memory and reach the file
 * in one write per batch, as nginx's buffered access log does, so a busy
 * server pays one system call for many requests, not one each. A batch is
 * written when it holds BATCH_BYTES or FLUSH_EVERY_MS after its first
 * line, whichever comes first, and at exit.
 *
 * Writes are synchronous on purpose: a batch is written whole, in order,
 * with nothing in flight when the file is reopened or the process exits,
 * and a full disk is seen at the write that failed, not as a later event.
 * The price is that a write blocks the server while the kernel takes it:
 * microseconds on a local disk (the README asks for one), longer on a
 * disk that stalls.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileErrorReason } from '../util/file-errors.js';

// A line reaches the file within this long, or sooner on a busy server.
export const FLUSH_EVERY_MS = 200;
const BATCH_BYTES = 64 * 1024;
const NEWLINE = Buffer.from('\n');

export class LogFile {
  private fd: number;
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
  ) {
    try {
      this.fd = openForAppend(file);
    } catch (error) {
      throw new Error(`cannot write the log file ${file}: ${reasonOf(error)}`);
    }
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
    try {
      // A line cut short by a failed write is ended before anything else,
      // so that what follows is a line of its own a parser can read.
      if (this.cutLine && writeSync(this.fd, NEWLINE) === 1) this.cutLine = false;
      while (offset < data.length) offset += writeSync(this.fd, data, offset);
      if (this.failing) {
        this.failing = false;
        this.complain(`writing the log file ${this.file} again`);
      }
    } catch (error) {
      if (offset > 0 && data[offset - 1] !== NEWLINE[0]) this.cutLine = true;
      // Dropped rather than kept: a log that cannot be written must not
      // grow the server's memory until it falls over.
      if (!this.failing) {
        this.failing = true;
        this.complain(`cannot write the log file ${this.file}: ${reasonOf(error)}; lines are lost until it can be written`);
      }
    }
  }

  /**
   * Opens the file by its name again (after logrotate moved it away). What
   * was logged before goes to the old file; if the new one cannot be
   * opened, logging goes on where it was and says why.
   */
  reopen(): void {
    if (this.closed) return;
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
