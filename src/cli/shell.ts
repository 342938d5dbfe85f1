/**
 * The interactive shell of the `bucket` program: reads a command word,
 * asks for what the command needs (in the seed's order), then runs it
 * through the actions and shows the outcome through the output. Prompting
 * is all it does.
 */
import path from 'node:path';
import type { ResumeInfo } from '../client/retry.js';
import type { UploadJournal } from '../client/upload-journal.js';
import { BucketError } from '../errors.js';
import * as actions from './actions.js';
import type { ServerConnection } from './connection.js';
import { CliError } from './errors.js';
import { plural, printable } from './format.js';
import { downloadTarget, fileInFolder, findUploadSource } from './local-paths.js';
import { isFailure, type Failure, type Output } from './output.js';
import { createProgress, type Progress } from './progress.js';
import { QuestionCancelled, type Prompter } from './prompter.js';
import { assertNever, isShellVerb, SHELL_VERBS, type ShellVerb } from './verbs.js';

export interface ShellOptions {
  connection: ServerConnection;
  prompter: Prompter;
  output: Output;
  /** Where progress bars go (shown only if it is a terminal). */
  progress: NodeJS.WriteStream;
  /** Where upload ids in flight are remembered, so that a killed session's upload resumes. */
  journal?: UploadJournal;
}

const PROMPT = 'bucket> ';

// After these the session cannot go on.
const SESSION_ENDING: ReadonlySet<Failure['code']> = new Set([
  'CONNECTION_REFUSED',
  'CONNECT_TIMEOUT',
  'CONNECTION_LOST',
  'PROTOCOL_ERROR',
  'SHUTTING_DOWN',
  'TLS_UNTRUSTED',
  'TLS_NOT_AVAILABLE',
  'TLS_REQUIRED',
]);

// Not a failure of the session: the person chose to stop the transfer.
const NOT_COUNTED: ReadonlySet<Failure['code']> = new Set(['CANCELLED']);

type TransferOptions = { signal: AbortSignal; onProgress: (done: number, total: number) => void; onResume: (info: ResumeInfo) => void };

export class Shell {
  readonly #connection: ServerConnection;
  readonly #prompter: Prompter;
  readonly #output: Output;
  readonly #progress: NodeJS.WriteStream;
  readonly #journal: UploadJournal | undefined;
  #transfer: AbortController | undefined;
  #failed = false;
  #shutdownShown = false;

  constructor(options: ShellOptions) {
    this.#connection = options.connection;
    this.#prompter = options.prompter;
    this.#output = options.output;
    this.#progress = options.progress;
    this.#journal = options.journal;
  }

  /**
   * Runs the session; resolves with the program's exit code: 1 if the
   * session could not go on, or if input is piped and any command failed.
   */
  async run(): Promise<number> {
    const restoreInterrupt = this.#prompter.onInterrupt(() => this.interrupt());
    // Said at once, even while the person is still typing: the next command will fail.
    const stopNotices = this.#connection.onNotice((notice) => {
      if (notice.code !== 'SHUTTING_DOWN') return;
      this.#output.failure(notice);
      this.#shutdownShown = true;
    });
    try {
      if ((await this.#attempt(() => this.#connection.open())) !== 'next') return 1;
      this.#prompter.note(`connected to bucketd at ${this.#connection.address}; commands: ${SHELL_VERBS.join(', ')}`);
      for (;;) {
        const line = await this.#prompter.askCommand(PROMPT);
        if (line === undefined) break;
        if (line === '') continue;
        if (!isShellVerb(line)) {
          this.#report(new CliError('UNKNOWN_COMMAND', unknownCommand(line)));
          continue;
        }
        if (line === 'EXIT') {
          await this.#connection.exit();
          this.#output.show({ kind: 'goodbye' });
          break;
        }
        const after = await this.#attempt(() => this.#perform(line));
        if (after === 'fatal') return 1;
        if (after === 'input-ended') break;
      }
      await this.#connection.exit();
      return this.#failed && !this.#prompter.interactive ? 1 : 0;
    } finally {
      stopNotices();
      restoreInterrupt();
      this.#connection.close();
    }
  }

  /** Ctrl-C: cancels a transfer or a question; at the prompt, clears the line. */
  interrupt(): boolean {
    if (this.#transfer) {
      this.#transfer.abort();
      return true;
    }
    if (this.#prompter.cancelQuestion()) return true;
    if (!this.#prompter.interactive) return false;
    if (this.#prompter.waitingForCommand) {
      this.#prompter.note('\n(type EXIT or press Ctrl-D to leave)');
      this.#prompter.clearLine();
    }
    return true; // a request in flight that is no transfer ends soon by itself
  }

  /** Runs one step, turning its failure into one line; then what the session does next. */
  async #attempt(step: () => Promise<void>): Promise<'next' | 'input-ended' | 'fatal'> {
    try {
      await step();
      return 'next';
    } catch (error) {
      if (error instanceof QuestionCancelled) {
        this.#prompter.note('cancelled');
        return 'next';
      }
      if (!isFailure(error)) throw error;
      this.#report(error);
      if (error.code === 'INPUT_ENDED') return 'input-ended';
      return SESSION_ENDING.has(error.code) ? 'fatal' : 'next';
    }
  }

  #report(failure: Failure): void {
    if (!(failure.code === 'SHUTTING_DOWN' && this.#shutdownShown)) this.#output.failure(failure);
    if (!NOT_COUNTED.has(failure.code)) this.#failed = true;
  }

  /** Asks what the command needs, in the seed's order, and runs it. */
  async #perform(verb: Exclude<ShellVerb, 'EXIT'>): Promise<void> {
    const use = this.#connection.use.bind(this.#connection);
    const output = this.#output;
    switch (verb) {
      case 'HELLO':
        output.show({ kind: 'hello', server: await use((client) => actions.hello(client)) });
        return;
      case 'LIST_BUCKET':
        await use((client) => output.buckets(actions.listBuckets(client)));
        return;
      case 'NEW_BUCKET': {
        const bucket = await this.#ask(verb, 'bucket name: ');
        output.show({ kind: 'bucket-created', bucket: await use((client) => actions.createBucket(client, bucket)) });
        return;
      }
      case 'DELETE_BUCKET':
        return this.#deleteBucket(await this.#ask(verb, 'bucket name: '));
      case 'LIST_FILE': {
        const bucket = await this.#ask(verb, 'bucket name: ');
        await use((client) => output.files(bucket, actions.listFiles(client, bucket)));
        return;
      }
      case 'UPLOAD_FILE': {
        // The path is checked as soon as it is given: nothing more is asked for one that is not there.
        const source = await findUploadSource(await this.#ask(verb, 'local path (the file, or the folder that holds it): ', 'local-path'));
        let file: { path: string; size: number };
        let name: string;
        if (source.kind === 'file') {
          const ownName = path.basename(source.path);
          name = (await this.#ask(verb, `store as (empty = ${printable(ownName)}): `)) || ownName;
          file = source;
        } else {
          name = await this.#ask(verb, 'file name: ');
          file = await fileInFolder(source.path, name);
        }
        const bucket = await this.#ask(verb, 'bucket name: ');
        const journal = this.#journal;
        const uploaded = await this.#withTransfer(`upload ${printable(name)}`, file.size, 'upload', (options) =>
          use((client) => actions.upload(client, file.path, bucket, name, journal === undefined ? options : { ...options, journal })),
        );
        output.show({ kind: 'uploaded', bucket, file: uploaded });
        return;
      }
      case 'DOWNLOAD_FILE': {
        const bucket = await this.#ask(verb, 'bucket name: ');
        const name = await this.#ask(verb, 'file name: ');
        const target = await downloadTarget(await this.#ask(verb, 'save to (a folder or a file path; empty = current folder): ', 'local-path'), name);
        if (target.exists) {
          const answer = await this.#prompter.confirm(`${printable(target.path)} already exists: replace it?`);
          if (answer === 'no') {
            output.show({ kind: 'not-downloaded', path: target.path });
            return;
          }
          if (answer === 'unanswered') throw new CliError('UNANSWERED', `not downloaded: ${printable(target.path)} already exists (answer y to replace it)`);
        }
        const downloaded = await this.#withTransfer(`download ${printable(name)}`, 0, 'download', (options) =>
          use((client) => actions.download(client, bucket, name, target.path, { ...options, overwrite: target.exists })),
        );
        output.show({ kind: 'downloaded', file: downloaded });
        return;
      }
      case 'DELETE_FILE': {
        const bucket = await this.#ask(verb, 'bucket name: ');
        const name = await this.#ask(verb, 'file name: ');
        await use((client) => actions.deleteFile(client, bucket, name));
        output.show({ kind: 'file-deleted', bucket, name });
        return;
      }
      case 'LIST_UPLOADS': {
        const bucket = await this.#ask(verb, 'bucket name (empty = every bucket): ');
        await use((client) => output.uploads(iterate(actions.listUploads(client, bucket === '' ? undefined : bucket))));
        return;
      }
      case 'ABORT_UPLOAD': {
        const id = await this.#ask(verb, 'upload id: ');
        const aborted = await use((client) => actions.abortUpload(client, id));
        output.show({ kind: 'upload-aborted', id: aborted.id, released: aborted.released });
        return;
      }
      default:
        return assertNever(verb);
    }
  }

  async #deleteBucket(bucket: string): Promise<void> {
    const use = this.#connection.use.bind(this.#connection);
    try {
      await use((client) => actions.deleteBucket(client, bucket));
      this.#output.show({ kind: 'bucket-deleted', bucket });
      return;
    } catch (error) {
      if (!(error instanceof BucketError && error.code === 'BUCKET_NOT_EMPTY')) throw error;
      const files = plural(Number(error.details[0] ?? 0), 'file');
      const answer = await this.#prompter.confirm(`bucket "${printable(bucket)}" is not empty: delete ${files} too?`);
      if (answer === 'no') {
        this.#output.show({ kind: 'bucket-kept', bucket });
        return;
      }
      if (answer === 'unanswered') throw new CliError('UNANSWERED', `kept bucket "${printable(bucket)}": it holds ${files} (answer y to delete them too)`);
    }
    const { deletedFiles } = await use((client) => actions.deleteBucket(client, bucket, { force: true }));
    this.#output.show({ kind: 'bucket-deleted', bucket, deletedFiles });
  }

  /** The answer to one of a command's questions; the session ends if input ends first. */
  async #ask(verb: ShellVerb, question: string, completion: 'local-path' | 'none' = 'none'): Promise<string> {
    const answer = await this.#prompter.ask(question, completion);
    if (answer === undefined) throw new CliError('INPUT_ENDED', `input ended before ${verb} had all it needs`);
    return answer;
  }

  /** Runs a transfer with a progress bar and Ctrl-C to cancel it. */
  async #withTransfer<T>(label: string, knownSize: number, direction: 'upload' | 'download', work: (options: TransferOptions) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    this.#transfer = controller;
    let progress: Progress | undefined;
    const onProgress = (done: number, total: number): void => {
      progress ??= createProgress(label, total || knownSize, this.#progress);
      progress.update(done, total);
    };
    const onResume = (info: ResumeInfo): void => {
      // The line goes where the bar was; a new bar picks up from the offset.
      progress?.stop();
      progress = undefined;
      this.#output.resumed({ direction, offset: info.offset, attempt: info.attempt });
    };
    try {
      return await work({ signal: controller.signal, onProgress, onResume });
    } finally {
      progress?.stop();
      this.#transfer = undefined;
    }
  }
}

async function* iterate<T>(rows: Promise<T[]>): AsyncGenerator<T> {
  yield* await rows;
}

function unknownCommand(line: string): string {
  const trimmed = line.trim();
  const hint = isShellVerb(trimmed)
    ? ` (no spaces may stand before or after the command: type ${trimmed})`
    : isShellVerb(trimmed.toUpperCase())
      ? ` (commands are upper case: type ${trimmed.toUpperCase()})`
      : '';
  return `unknown command "${printable(line)}"${hint}; commands are ${SHELL_VERBS.join(', ')}`;
}
