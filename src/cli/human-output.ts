/**
 * Output for people: one-line messages on stdout, errors as one
 * `error: ...` line on stderr, and listings as columns that stream: the
 * fixed-width columns first and the name last (like `ls -l`), so no row
 * needs to be seen before another is printed.
 */
import { once } from 'node:events';
import type { RemoteBucket, RemoteFile, RemoteUpload } from '../client/client.js';
import { humanSize, humanTime, plural, printable, resumedLine } from './format.js';
import type { Failure, Outcome, Output } from './output.js';
import { assertNever } from './verbs.js';

export interface HumanOutputOptions {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  /** The server's address, as people know it, for messages about the connection. */
  server: string;
}

// Listing lines are written in chunks of about this many characters.
const CHUNK_CHARS = 64 * 1024;

const SIZE_WIDTH = 8; // "1023 KiB", "99.9 MiB"
const TIME_WIDTH = 19; // "2026-11-23 22:49:19"
const SHA256_PREFIX = 16;
const UPLOAD_ID_WIDTH = 32;
const HELD_WIDTH = 2 * SIZE_WIDTH + 3; // "1.5 GiB / 4.0 GiB"

export class HumanOutput implements Output {
  readonly #out: NodeJS.WritableStream;
  readonly #err: NodeJS.WritableStream;
  readonly #server: string;

  constructor(options: HumanOutputOptions) {
    this.#out = options.out;
    this.#err = options.err;
    this.#server = options.server;
  }

  show(outcome: Outcome): void {
    this.#out.write(`${this.#describe(outcome)}\n`);
  }

  #describe(outcome: Outcome): string {
    switch (outcome.kind) {
      case 'hello': {
        const { server } = outcome;
        return `${printable(server.name)} ${printable(server.version)} (protocol ${server.protocol}) at ${this.#server}`;
      }
      case 'bucket-created':
        return `created bucket "${printable(outcome.bucket.name)}"`;
      case 'bucket-deleted':
        return outcome.deletedFiles === undefined
          ? `deleted bucket "${printable(outcome.bucket)}"`
          : `deleted bucket "${printable(outcome.bucket)}" and ${plural(outcome.deletedFiles, 'file')}`;
      case 'bucket-kept':
        return `kept bucket "${printable(outcome.bucket)}"`;
      case 'uploaded': {
        const { file } = outcome;
        return `uploaded "${printable(file.name)}" to bucket "${printable(outcome.bucket)}" (${humanSize(file.size)}, sha256 ${file.sha256})`;
      }
      case 'downloaded': {
        const { file } = outcome;
        return `downloaded "${printable(file.name)}" to ${printable(file.path)} (${humanSize(file.size)}, sha256 verified)`;
      }
      case 'not-downloaded':
        return 'not downloaded';
      case 'file-deleted':
        return `deleted "${printable(outcome.name)}" from bucket "${printable(outcome.bucket)}"`;
      case 'upload-aborted':
        return `aborted upload ${outcome.id} (${humanSize(outcome.released)} released)`;
      case 'goodbye':
        return 'goodbye';
      default:
        return assertNever(outcome);
    }
  }

  async buckets(rows: AsyncIterable<RemoteBucket>): Promise<void> {
    let count = 0;
    await this.#listing(
      rows,
      () => 'no buckets yet (create one with NEW_BUCKET)',
      `${'CREATED'.padEnd(TIME_WIDTH)}  NAME`,
      (bucket) => {
        count++;
        return `${humanTime(bucket.createdAt).padEnd(TIME_WIDTH)}  ${printable(bucket.name)}`;
      },
      () => plural(count, 'bucket'),
    );
  }

  async files(bucket: string, rows: AsyncIterable<RemoteFile>): Promise<void> {
    let count = 0;
    let total = 0;
    await this.#listing(
      rows,
      () => `bucket "${printable(bucket)}" is empty`,
      `${'SIZE'.padStart(SIZE_WIDTH)}  ${'MODIFIED'.padEnd(TIME_WIDTH)}  ${'SHA-256'.padEnd(SHA256_PREFIX)}  NAME`,
      (file) => {
        count++;
        total += file.size;
        const sha256 = file.sha256?.slice(0, SHA256_PREFIX) ?? '-';
        return `${humanSize(file.size).padStart(SIZE_WIDTH)}  ${humanTime(file.modifiedAt).padEnd(TIME_WIDTH)}  ${sha256.padEnd(SHA256_PREFIX)}  ${printable(file.name)}`;
      },
      () => `${plural(count, 'file')}, ${humanSize(total)}`,
    );
  }

  async uploads(rows: AsyncIterable<RemoteUpload>): Promise<void> {
    let count = 0;
    await this.#listing(
      rows,
      () => 'no unfinished uploads',
      `${'ID'.padEnd(UPLOAD_ID_WIDTH)}  ${'HELD / SIZE'.padStart(HELD_WIDTH)}  ${'STARTED'.padEnd(TIME_WIDTH)}  BUCKET/NAME`,
      (upload) => {
        count++;
        return `${upload.id}  ${`${humanSize(upload.held)} / ${humanSize(upload.size)}`.padStart(HELD_WIDTH)}  ${humanTime(upload.startedAt).padEnd(TIME_WIDTH)}  ${printable(upload.bucket)}/${printable(upload.name)}`;
      },
      () => plural(count, 'unfinished upload'),
    );
  }

  resumed(info: { direction: 'upload' | 'download'; offset: number; attempt: number }): void {
    this.#err.write(`${resumedLine(info)}\n`);
  }

  /**
   * Header, rows, summary; or one line when there are no rows. The header
   * waits for the first row, so a listing that fails at once (no such
   * bucket) prints only its error.
   */
  async #listing<T>(rows: AsyncIterable<T>, empty: () => string, header: string, line: (row: T) => string, summary: () => string): Promise<void> {
    let chunk = '';
    let started = false;
    try {
      for await (const row of rows) {
        if (!started) {
          chunk = `${header}\n`;
          started = true;
        }
        chunk += `${line(row)}\n`;
        if (chunk.length >= CHUNK_CHARS) {
          await this.#write(chunk);
          chunk = '';
        }
      }
    } catch (error) {
      // The rows that came before the failure are shown; then its error.
      if (chunk !== '') await this.#write(chunk);
      throw error;
    }
    await this.#write(started ? `${chunk}${summary()}\n` : `${empty()}\n`);
  }

  /** Writes, then waits while the reader is behind. */
  async #write(text: string): Promise<void> {
    if (!this.#out.write(text)) await once(this.#out, 'drain');
  }

  failure(failure: Failure): void {
    this.#err.write(`error: ${this.#explain(failure)}\n`);
  }

  #explain(failure: Failure): string {
    switch (failure.code) {
      case 'CONNECTION_LOST':
        return `lost the connection to the server at ${this.#server}`;
      case 'SHUTTING_DOWN':
        return `the server at ${this.#server} is shutting down`;
      case 'CANCELLED':
        return 'transfer cancelled; nothing was kept';
      default:
        return failure.message;
    }
  }
}
