/**
 * What the one-shot verbs report: one record per result, rendered for
 * people (aligned columns, human sizes) or for programs (`--json`: one
 * JSON object per line on stdout, errors as JSON objects on stderr).
 * Writes wait while the reader is behind, so a listing of any length
 * streams in bounded memory.
 */
import { once } from 'node:events';
import { humanSize, humanTime, plural, printable, resumedLine } from '../format.js';
import type { Failure } from '../output.js';
import { assertNever } from '../verbs.js';
import { exitCodeOf } from './exit-codes.js';

export type VerbRecord =
  | { type: 'server'; name: string; version: string; protocol: number; address: string }
  | { type: 'bucket'; name: string; created: Date }
  | { type: 'bucket-created'; bucket: string; created: Date }
  | { type: 'bucket-deleted'; bucket: string; deletedFiles: number }
  | { type: 'file'; bucket: string; name: string; size: number; modified: Date; sha256: string | null }
  | { type: 'folder'; bucket: string; name: string }
  | { type: 'deleted'; bucket: string; name: string }
  /** `reason` only from sync. */
  | { type: 'uploaded'; bucket: string; name: string; path: string; size: number; sha256: string; reason?: SyncReason }
  | { type: 'downloaded'; bucket: string; name: string; path: string; size: number; sha256: string; reason?: SyncReason }
  | { type: 'deleted-local'; path: string }
  | { type: 'would-upload'; bucket: string; name: string; path: string; size: number; reason: SyncReason }
  | { type: 'would-download'; bucket: string; name: string; path: string; size: number; reason: SyncReason }
  | { type: 'would-delete'; bucket: string; name: string }
  | { type: 'would-delete-local'; path: string }
  | { type: 'summary'; verb: string; done: number; failed: number; bytes: number }
  /** An unfinished upload the server holds; `expires` null when it never does. */
  | { type: 'upload'; id: string; bucket: string; name: string; size: number; held: number; started: Date; expires: Date | null }
  | { type: 'upload-aborted'; id: string; released: number }
  | SyncSummary;

/**
 * A transfer going on after a break (on stderr, as it is no result):
 * `offset` bytes were already in place; `attempt` 0 is an upload an
 * earlier run left unfinished; `cause` the code of the failure that
 * broke it, or null.
 */
export interface ResumedRecord {
  type: 'resumed';
  direction: 'upload' | 'download';
  about: string;
  offset: number;
  size: number;
  attempt: number;
  cause: string | null;
}

/** Why sync copies a file: the destination lacks it, or its size or SHA-256 differs. */
export type SyncReason = 'new' | 'size' | 'content';

/** sync's last record: `done` is copied + deleted; with --dry-run, the counts are what would be. */
export interface SyncSummary {
  type: 'summary';
  verb: 'sync';
  done: number;
  failed: number;
  bytes: number;
  copied: number;
  skipped: number;
  deleted: number;
  hashed: number;
  dryRun: boolean;
}

export interface ReportOptions {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  /** `ls -l`: sizes, times and SHA-256 too. */
  long?: boolean;
}

export interface Reporter {
  emit(record: VerbRecord): Promise<void>;
  /** Writes out what emit() gathered; called before the program ends. */
  flush(): Promise<void>;
  /** One failure; `about` names what it concerns (a path, a key) when not the whole command. */
  failure(failure: Failure | { code: string; message: string }, about?: string): void;
  /** A transfer resumed after a break. */
  resumed(record: ResumedRecord): void;
}

export class JsonReporter implements Reporter {
  readonly #out: Lines;
  readonly #err: NodeJS.WritableStream;

  constructor(options: ReportOptions) {
    this.#out = new Lines(options.out);
    this.#err = options.err;
  }

  async emit(record: VerbRecord): Promise<void> {
    await this.#out.add(`${JSON.stringify(record)}\n`);
  }

  flush(): Promise<void> {
    return this.#out.flush();
  }

  failure(failure: { code: string; message: string }, about?: string): void {
    void this.#out.flush();
    const line: Record<string, unknown> = { type: 'error', code: failure.code, message: failure.message, exit: exitCodeOf(failure.code) };
    if (about !== undefined) line.about = about;
    this.#err.write(`${JSON.stringify(line)}\n`);
  }

  resumed(record: ResumedRecord): void {
    void this.#out.flush();
    this.#err.write(`${JSON.stringify(record)}\n`);
  }
}

const SIZE_WIDTH = 8;
const TIME_WIDTH = 19;
const SHA256_WIDTH = 64;

export class HumanReporter implements Reporter {
  readonly #out: Lines;
  readonly #err: NodeJS.WritableStream;
  readonly #long: boolean;

  constructor(options: ReportOptions) {
    this.#out = new Lines(options.out);
    this.#err = options.err;
    this.#long = options.long === true;
  }

  async emit(record: VerbRecord): Promise<void> {
    await this.#out.add(`${this.#line(record)}\n`);
  }

  flush(): Promise<void> {
    return this.#out.flush();
  }

  #line(record: VerbRecord): string {
    switch (record.type) {
      case 'server':
        return `${printable(record.name)} ${printable(record.version)} (protocol ${record.protocol}) at ${record.address}`;
      case 'bucket':
        return this.#long ? `${humanTime(record.created).padEnd(TIME_WIDTH)}  ${printable(record.name)}` : printable(record.name);
      case 'bucket-created':
        return `created bucket "${printable(record.bucket)}"`;
      case 'bucket-deleted':
        return record.deletedFiles > 0 ? `deleted bucket "${printable(record.bucket)}" and ${plural(record.deletedFiles, 'file')}` : `deleted bucket "${printable(record.bucket)}"`;
      case 'file':
        return this.#long
          ? `${humanSize(record.size).padStart(SIZE_WIDTH)}  ${humanTime(record.modified).padEnd(TIME_WIDTH)}  ${(record.sha256 ?? '-').padEnd(SHA256_WIDTH)}  ${printable(record.name)}`
          : printable(record.name);
      case 'folder':
        return this.#long ? `${'DIR'.padStart(SIZE_WIDTH)}  ${''.padEnd(TIME_WIDTH)}  ${''.padEnd(SHA256_WIDTH)}  ${printable(record.name)}` : printable(record.name);
      case 'deleted':
        return `deleted ${printable(record.bucket)}/${printable(record.name)}`;
      case 'uploaded':
        return `uploaded ${printable(record.path)} -> ${printable(record.bucket)}/${printable(record.name)} (${humanSize(record.size)}, ${record.reason === undefined ? '' : `${REASONS[record.reason]}, `}sha256 ${record.sha256})`;
      case 'downloaded':
        return `downloaded ${printable(record.bucket)}/${printable(record.name)} -> ${printable(record.path)} (${humanSize(record.size)}, ${record.reason === undefined ? '' : `${REASONS[record.reason]}, `}sha256 verified)`;
      case 'deleted-local':
        return `deleted ${printable(record.path)}`;
      case 'would-upload':
        return `would upload ${printable(record.path)} -> ${printable(record.bucket)}/${printable(record.name)} (${humanSize(record.size)}, ${REASONS[record.reason]})`;
      case 'would-download':
        return `would download ${printable(record.bucket)}/${printable(record.name)} -> ${printable(record.path)} (${humanSize(record.size)}, ${REASONS[record.reason]})`;
      case 'would-delete':
        return `would delete ${printable(record.bucket)}/${printable(record.name)}`;
      case 'would-delete-local':
        return `would delete ${printable(record.path)}`;
      case 'upload':
        return `${record.id}  ${`${humanSize(record.held)} / ${humanSize(record.size)}`.padStart(SIZE_WIDTH * 2 + 3)}  ${humanTime(record.started).padEnd(TIME_WIDTH)}  ${printable(record.bucket)}/${printable(record.name)}`;
      case 'upload-aborted':
        return `aborted upload ${record.id} (${humanSize(record.released)} released)`;
      case 'summary':
        if ('copied' in record) return syncSummaryLine(record);
        return `${record.verb}: ${plural(record.done, 'file')}${record.verb === 'rm' ? ' deleted' : ` (${humanSize(record.bytes)})`}${record.failed > 0 ? `, ${record.failed} failed` : ''}`;
      default:
        return assertNever(record);
    }
  }

  resumed(record: ResumedRecord): void {
    void this.#out.flush();
    this.#err.write(`${resumedLine(record)} (${printable(record.about)})\n`);
  }

  failure(failure: { code: string; message: string }, about?: string): void {
    void this.#out.flush();
    this.#err.write(`error: ${about === undefined ? '' : `${printable(about)}: `}${printable(failure.message)}\n`);
  }
}

const REASONS: Record<SyncReason, string> = { new: 'new', size: 'size differs', content: 'content differs' };

/** sync: 3 copied (1.2 MiB), 40 skipped, 1 deleted, 2 hashed[, 1 failed] — or, dry, what would be. */
function syncSummaryLine(record: SyncSummary): string {
  const failed = record.failed > 0 ? `, ${record.failed} failed` : '';
  if (record.dryRun) return `sync (dry run): ${record.copied} to copy (${humanSize(record.bytes)}), ${record.skipped} skipped, ${record.deleted} to delete, ${record.hashed} hashed${failed}`;
  return `sync: ${record.copied} copied (${humanSize(record.bytes)}), ${record.skipped} skipped, ${record.deleted} deleted, ${record.hashed} hashed${failed}`;
}

// Gathered output is written once it reaches this size, or at the end of
// the event loop's turn.
const BLOCK_BYTES = 16 * 1024;

/**
 * Result lines for a pipe or a file, written in blocks: a listing of
 * thousands of names costs a few writes, not one per line. Lines for a
 * terminal go out one by one, as a person reads them (and the progress
 * display draws around them).
 */
class Lines {
  readonly #stream: NodeJS.WritableStream;
  readonly #gather: boolean;
  #pending: string[] = [];
  #bytes = 0;
  #scheduled = false;

  constructor(stream: NodeJS.WritableStream) {
    this.#stream = stream;
    this.#gather = (stream as NodeJS.WriteStream).isTTY !== true;
  }

  async add(text: string): Promise<void> {
    if (!this.#gather) return write(this.#stream, text);
    this.#pending.push(text);
    this.#bytes += text.length;
    if (this.#bytes >= BLOCK_BYTES) return this.flush();
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        void this.flush();
      });
    }
  }

  /** Writes what is gathered; resolves when the reader has room again. */
  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const text = this.#pending.join('');
    this.#pending = [];
    this.#bytes = 0;
    await write(this.#stream, text);
  }
}

/** Writes, then waits while the reader is behind. */
async function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}
