/**
 * The interactive shell of the `bucket` program: reads a command word,
 * asks for what the command needs (in the seed's order), runs it through
 * the client library and shows the answer in plain words.
 */
import { stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BucketClient } from '../client/client.js';
import { ClientError } from '../client/errors.js';
import { downloadFile, resolveDestination, uploadFile } from '../client/files.js';
import { BucketError } from '../errors.js';
import { COMMANDS, isCommand, type Command } from '../protocol/requests.js';
import { formatAddress } from './options.js';
import { humanSize, humanTime, plural, printable, table } from './format.js';
import { createProgress } from './progress.js';
import type { Prompter } from './prompter.js';

export interface ShellOptions {
  host: string;
  port: number;
  prompter: Prompter;
  out: NodeJS.WritableStream;
  err: NodeJS.WriteStream;
}

const PROMPT = 'bucket> ';

/** Ends the session with this exit code. */
class SessionEnd {
  constructor(readonly exitCode: number) {}
}

export class Shell {
  readonly #options: ShellOptions;
  readonly #where: string;
  #client: BucketClient | undefined;
  #transfer: AbortController | undefined;

  constructor(options: ShellOptions) {
    this.#options = options;
    this.#where = formatAddress(options.host, options.port);
  }

  /** Runs the session; resolves with the program's exit code. */
  async run(): Promise<number> {
    const { prompter } = this.#options;
    const restoreInterrupt = prompter.onInterrupt(() => this.interrupt());
    try {
      this.#client = await this.#connect();
      if (prompter.interactive) this.#say(`connected to bucketd at ${this.#where}; commands: ${COMMANDS.join(', ')}`);
      for (;;) {
        const line = await prompter.ask(PROMPT, 'command');
        if (line === undefined) {
          await this.#client?.exit();
          return 0;
        }
        if (line === '') continue;
        if (!isCommand(line)) {
          this.#fail(unknownCommand(line));
          continue;
        }
        if (line === 'EXIT') {
          await this.#client?.exit();
          this.#say('goodbye');
          return 0;
        }
        const run = await this.#gather(line);
        if (run === undefined) {
          await this.#client?.exit();
          return 0; // input ended half-way through a command's questions
        }
        await this.#execute(run);
      }
    } catch (error) {
      if (error instanceof SessionEnd) return error.exitCode;
      throw error;
    } finally {
      restoreInterrupt();
      this.#client?.close();
    }
  }

  /** Ctrl-C: cancels a transfer in flight; at the prompt, clears the line. */
  interrupt(): boolean {
    if (this.#transfer) {
      this.#transfer.abort();
      return true;
    }
    if (this.#options.prompter.interactive) {
      this.#options.err.write('\n(type EXIT or press Ctrl-D to leave)\n');
      this.#options.prompter.clearLine();
      return true;
    }
    return false;
  }

  /** Asks what the command needs; the work to do, or undefined at end of input. */
  async #gather(command: Exclude<Command, 'EXIT'>): Promise<((client: BucketClient) => Promise<void>) | undefined> {
    const ask = (question: string): Promise<string | undefined> => this.#options.prompter.ask(question);
    const askLocalPath = (question: string): Promise<string | undefined> => this.#options.prompter.ask(question, 'local-path');
    switch (command) {
      case 'HELLO':
        return (client) => this.#hello(client);
      case 'LIST_BUCKET':
        return (client) => this.#listBuckets(client);
      case 'NEW_BUCKET': {
        const bucket = await ask('bucket name: ');
        return bucket === undefined ? undefined : (client) => this.#newBucket(client, bucket);
      }
      case 'DELETE_BUCKET': {
        const bucket = await ask('bucket name: ');
        return bucket === undefined ? undefined : (client) => this.#deleteBucket(client, bucket);
      }
      case 'LIST_FILE': {
        const bucket = await ask('bucket name: ');
        return bucket === undefined ? undefined : (client) => this.#listFiles(client, bucket);
      }
      case 'UPLOAD_FILE': {
        const typedPath = await askLocalPath('local path (the file, or the folder that holds it): ');
        if (typedPath === undefined) return undefined;
        const localPath = expandHome(typedPath);
        const stats = await stat(localPath).catch(() => undefined);
        const isFile = stats?.isFile() === true;
        const fileName = await ask(isFile ? `store as (empty = ${printable(path.basename(localPath))}): ` : 'file name: ');
        if (fileName === undefined) return undefined;
        const bucket = await ask('bucket name: ');
        if (bucket === undefined) return undefined;
        const source = isFile ? localPath : path.join(localPath, fileName);
        const storeAs = isFile ? fileName || path.basename(localPath) : fileName;
        return (client) => this.#upload(client, source, bucket, storeAs);
      }
      case 'DOWNLOAD_FILE': {
        const bucket = await ask('bucket name: ');
        if (bucket === undefined) return undefined;
        const name = await ask('file name: ');
        if (name === undefined) return undefined;
        const destination = await askLocalPath('save to (a folder or a file path; empty = current folder): ');
        if (destination === undefined) return undefined;
        return (client) => this.#download(client, bucket, name, expandHome(destination));
      }
      case 'DELETE_FILE': {
        const bucket = await ask('bucket name: ');
        if (bucket === undefined) return undefined;
        const name = await ask('file name: ');
        return name === undefined ? undefined : (client) => this.#deleteFile(client, bucket, name);
      }
    }
  }

  /** Runs one command's work, turning every failure into one line. */
  async #execute(work: (client: BucketClient) => Promise<void>, retried = false): Promise<void> {
    try {
      if (!this.#client || this.#client.closed) this.#client = await this.#connect();
      await work(this.#client);
    } catch (error) {
      if (error instanceof SessionEnd) throw error;
      if (error instanceof BucketError && error.code === 'IDLE_TIMEOUT' && !retried) {
        // The server closed a connection left idle; a fresh one will do.
        this.#client = await this.#connect();
        return this.#execute(work, true);
      }
      if (error instanceof BucketError && error.code === 'SHUTTING_DOWN') {
        this.#fail(`the server at ${this.#where} is shutting down`);
        throw new SessionEnd(1);
      }
      if (error instanceof ClientError && (error.code === 'CONNECTION_LOST' || error.code === 'PROTOCOL_ERROR')) {
        this.#fail(error.code === 'CONNECTION_LOST' ? `lost the connection to the server at ${this.#where}` : error.message);
        throw new SessionEnd(1);
      }
      if (error instanceof ClientError && error.code === 'CANCELLED') {
        this.#fail('transfer cancelled; nothing was kept');
        return;
      }
      if (error instanceof BucketError || error instanceof ClientError) {
        this.#fail(error.message);
        return;
      }
      throw error;
    }
  }

  async #connect(): Promise<BucketClient> {
    try {
      return await BucketClient.connect({ host: this.#options.host, port: this.#options.port });
    } catch (error) {
      this.#fail(error instanceof Error ? error.message : String(error));
      throw new SessionEnd(1);
    }
  }

  async #hello(client: BucketClient): Promise<void> {
    const hello = await client.hello();
    this.#say(`${printable(hello.name)} ${printable(hello.version)} (protocol ${hello.protocol}) at ${this.#where}`);
  }

  async #newBucket(client: BucketClient, bucket: string): Promise<void> {
    const created = await client.createBucket(bucket);
    this.#say(`created bucket "${created.name}"`);
  }

  async #listBuckets(client: BucketClient): Promise<void> {
    const buckets = await client.listBuckets();
    if (buckets.length === 0) {
      this.#say('no buckets yet (create one with NEW_BUCKET)');
      return;
    }
    this.#say(table(['NAME', 'CREATED'], buckets.map((bucket) => [bucket.name, humanTime(bucket.createdAt)])));
    this.#say(plural(buckets.length, 'bucket'));
  }

  async #deleteBucket(client: BucketClient, bucket: string): Promise<void> {
    try {
      await client.deleteBucket(bucket);
      this.#say(`deleted bucket "${printable(bucket)}"`);
    } catch (error) {
      if (!(error instanceof BucketError && error.code === 'BUCKET_NOT_EMPTY')) throw error;
      const count = Number(error.details[0] ?? 0);
      const files = plural(count, 'file');
      if (!(await this.#options.prompter.confirm(`bucket "${printable(bucket)}" is not empty: delete ${files} too?`))) {
        this.#say(`kept bucket "${printable(bucket)}"`);
        return;
      }
      const { deletedFiles } = await client.deleteBucket(bucket, { force: true });
      this.#say(`deleted bucket "${printable(bucket)}" and ${plural(deletedFiles, 'file')}`);
    }
  }

  async #listFiles(client: BucketClient, bucket: string): Promise<void> {
    const files = await client.listFiles(bucket);
    if (files.length === 0) {
      this.#say(`bucket "${printable(bucket)}" is empty`);
      return;
    }
    const rows = files.map((file) => [printable(file.name), humanSize(file.size), humanTime(file.modifiedAt), file.sha256?.slice(0, 16) ?? '-']);
    this.#say(table(['NAME', 'SIZE', 'MODIFIED', 'SHA-256'], rows, ['left', 'right', 'left', 'left']));
    const total = files.reduce((sum, file) => sum + file.size, 0);
    this.#say(`${plural(files.length, 'file')}, ${humanSize(total)}`);
  }

  async #upload(client: BucketClient, localPath: string, bucket: string, name: string): Promise<void> {
    const stats = await stat(localPath).catch(() => undefined);
    if (!stats?.isFile()) {
      this.#fail(`no such local file: ${localPath}`);
      return;
    }
    const result = await this.#withTransfer(`upload ${printable(name)}`, stats.size, (options) => uploadFile(client, localPath, bucket, name, options));
    this.#say(`uploaded "${printable(result.name)}" to bucket "${printable(bucket)}" (${humanSize(result.size)}, sha256 ${result.sha256})`);
  }

  async #download(client: BucketClient, bucket: string, name: string, destination: string): Promise<void> {
    const target = await resolveDestination(destination, name);
    const existing = await stat(target).catch(() => undefined);
    // A folder where the file would go: replacing it is never what was meant
    // (and downloadFile would otherwise look inside it).
    if (existing?.isDirectory()) {
      this.#fail(`${printable(target)} is a folder; give a file path or another folder`);
      return;
    }
    let overwrite = false;
    if (existing) {
      overwrite = await this.#options.prompter.confirm(`${printable(target)} already exists: replace it?`);
      if (!overwrite) {
        this.#say('not downloaded');
        return;
      }
    }
    const result = await this.#withTransfer(`download ${printable(name)}`, 0, (options) => downloadFile(client, bucket, name, target, { ...options, overwrite }));
    this.#say(`downloaded "${printable(result.name)}" to ${printable(result.path)} (${humanSize(result.size)}, sha256 verified)`);
  }

  async #deleteFile(client: BucketClient, bucket: string, name: string): Promise<void> {
    await client.deleteFile(bucket, name);
    this.#say(`deleted "${printable(name)}" from bucket "${printable(bucket)}"`);
  }

  /** Runs a transfer with a progress bar and Ctrl-C to cancel it. */
  async #withTransfer<T>(label: string, knownSize: number, work: (options: { signal: AbortSignal; onProgress: (done: number, total: number) => void }) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    this.#transfer = controller;
    let progress: ReturnType<typeof createProgress> | undefined;
    const onProgress = (done: number, total: number): void => {
      progress ??= createProgress(label, total || knownSize, this.#options.err);
      progress.update(done, total);
    };
    try {
      return await work({ signal: controller.signal, onProgress });
    } finally {
      progress?.stop();
      this.#transfer = undefined;
    }
  }

  #say(text: string): void {
    this.#options.out.write(`${text}\n`);
  }

  #fail(message: string): void {
    this.#options.err.write(`error: ${message}\n`);
  }
}

/** `~` and `~/...` as a shell would read them, since people type them. */
function expandHome(localPath: string): string {
  if (localPath === '~') return os.homedir();
  return localPath.startsWith('~/') ? path.join(os.homedir(), localPath.slice(2)) : localPath;
}

function unknownCommand(line: string): string {
  const trimmed = line.trim();
  const hint = isCommand(trimmed)
    ? ` (no spaces may stand before or after the command: type ${trimmed})`
    : isCommand(trimmed.toUpperCase())
      ? ` (commands are upper case: type ${trimmed.toUpperCase()})`
      : '';
  return `unknown command "${printable(line)}"${hint}; commands are ${COMMANDS.join(', ')}`;
}
