/**
 * Asking for a password: at a terminal without showing what is typed, or
 * one line of piped input. Nothing here keeps the password any longer
 * than it takes to hand it back.
 */
import readline from 'node:readline';
import { Writable, type Readable } from 'node:stream';
import { Interrupted } from './main.js';

/**
 * Asks `question` at a terminal and reads the answer without echoing it.
 * Ctrl-C is Interrupted; Ctrl-D (or the end of input) resolves undefined.
 */
export async function askHidden(input: Readable, output: Writable, question: string): Promise<string | undefined> {
  let muted = false;
  // readline echoes what is typed to its output: this one shows only the question.
  const screen = new Writable({
    write(chunk: Buffer | string, encoding: BufferEncoding, callback: () => void) {
      if (!muted) output.write(chunk, encoding);
      callback();
    },
  });
  const rl = readline.createInterface({ input, output: screen, terminal: true, historySize: 0, crlfDelay: Infinity });
  try {
    return await new Promise<string | undefined>((resolve, reject) => {
      rl.once('SIGINT', () => reject(new Interrupted()));
      rl.once('close', () => resolve(undefined));
      rl.question(question, resolve);
      muted = true;
    });
  } finally {
    muted = false;
    rl.close();
    output.write('\n');
  }
}

/** Lines of piped input, read one at a time by whoever needs the next. */
export class LineReader {
  readonly #rl: readline.Interface;
  readonly #lines: AsyncIterator<string>;

  constructor(input: Readable) {
    this.#rl = readline.createInterface({ input, terminal: false, crlfDelay: Infinity });
    this.#lines = this.#rl[Symbol.asyncIterator]();
  }

  /** The next line, without its line end; undefined at the end of input. */
  async next(): Promise<string | undefined> {
    const line = await this.#lines.next();
    return line.done ? undefined : line.value;
  }

  close(): void {
    this.#rl.close();
  }
}

export type SecretSource = { terminal: true; input: Readable; output: Writable } | { terminal: false; lines: LineReader };

/** The one line a problem with the password is reported as. */
export class PasswordError extends Error {}

/**
 * A new password: typed twice at a terminal (the two must match), or the
 * next line of piped input (taken as it is, spaces included).
 */
export async function readNewPassword(source: SecretSource, whose: string): Promise<string> {
  if (!source.terminal) {
    const line = await source.lines.next();
    if (line === undefined || line === '') throw new PasswordError(`no password for ${whose} on standard input (one line is read)`);
    return line;
  }
  const first = await askHidden(source.input, source.output, `Password for ${whose}: `);
  if (first === undefined || first === '') throw new PasswordError('no password given; nothing changed');
  const second = await askHidden(source.input, source.output, 'The same again: ');
  if (second !== first) throw new PasswordError('the two passwords differ; nothing changed');
  return first;
}
