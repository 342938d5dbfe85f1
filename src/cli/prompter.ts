/**
 * Line input for the shell, the same whether a person types at a terminal
 * or a script pipes lines in: every line is kept until it is asked for, so
 * piped answers are never lost. Prompts are shown on a terminal only.
 *
 * Command lines and answers to questions are told apart: only command
 * lines go into the history the arrow keys recall; Ctrl-C at a question
 * cancels it; and a piped line that is not an answer to a [y/N] question
 * is left for the command prompt instead of being eaten.
 */
import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { complete, type Completion } from './completion.js';

/** Thrown by a question that Ctrl-C cancelled. */
export class QuestionCancelled extends Error {
  constructor() {
    super('cancelled');
    this.name = 'QuestionCancelled';
  }
}

/** `unanswered`: the input ended, or (piped) its next line was no answer. */
export type Answer = 'yes' | 'no' | 'unanswered';

// Piped lines read ahead of the questions, at most (then input pauses).
const MAX_QUEUED_LINES = 1024;

interface Waiting {
  resolve(line: string | undefined): void;
  reject(error: Error): void;
}

export class Prompter {
  readonly interactive: boolean;
  readonly #rl: readline.Interface;
  readonly #output: Writable;
  readonly #queued: string[] = [];
  // The array readline recalls with the arrow keys; it holds command lines only.
  readonly #history: string[] = [];
  #waiting: Waiting | undefined;
  #asking: 'command' | 'question' | undefined;
  #interruptHandler: (() => void) | undefined;
  #completion: Completion = 'none';
  #paused = false;
  #ended = false;

  constructor(input: Readable, output: Writable, interactive: boolean) {
    this.interactive = interactive;
    this.#output = output;
    this.#rl = readline.createInterface({
      input,
      output: interactive ? output : undefined,
      terminal: interactive,
      crlfDelay: Infinity,
      history: this.#history,
      completer: (line: string) => complete(this.#completion, line),
    });
    this.#rl.on('line', (line: string) => this.#arrived(line));
    this.#rl.on('close', () => {
      this.#ended = true;
      this.#take()?.resolve(undefined);
    });
    // Ctrl-C at a terminal arrives here (readline holds the keyboard).
    this.#rl.on('SIGINT', () => this.#interruptHandler?.());
  }

  /** Calls `handler` on Ctrl-C at a terminal; returns a function that undoes it. */
  onInterrupt(handler: () => void): () => void {
    const previous = this.#interruptHandler;
    this.#interruptHandler = handler;
    return () => {
      this.#interruptHandler = previous;
    };
  }

  /** The next command line (Tab completes command words); undefined at end of input. */
  askCommand(prompt: string): Promise<string | undefined> {
    return this.#read(prompt, 'command', 'command');
  }

  /**
   * The answer to a question, after showing `prompt` on a terminal;
   * undefined at end of input. Rejects with QuestionCancelled on Ctrl-C.
   */
  ask(prompt: string, completion: 'local-path' | 'none' = 'none'): Promise<string | undefined> {
    return this.#read(prompt, completion, 'question');
  }

  /**
   * A yes/no question: y or yes is yes; n, no or an empty line is no (any
   * case). Piped, any other line is not consumed: it is left to be read as
   * the next command, and the question counts as unanswered. At a terminal
   * the question is asked again.
   */
  async confirm(question: string): Promise<Answer> {
    for (;;) {
      const line = await this.ask(`${question} [y/N] `);
      if (line === undefined) return 'unanswered';
      const answer = line.trim();
      if (/^(y|yes)$/i.test(answer)) return 'yes';
      if (/^(n|no|)$/i.test(answer)) return 'no';
      if (!this.interactive) {
        this.#queued.unshift(line);
        return 'unanswered';
      }
      this.note('please answer y or n');
    }
  }

  /** True while the command prompt waits for a line. */
  get waitingForCommand(): boolean {
    return this.#asking === 'command';
  }

  /** Cancels the question being asked, if one is (Ctrl-C); true if there was one. */
  cancelQuestion(): boolean {
    if (!this.interactive || this.#asking !== 'question' || this.#waiting === undefined) return false;
    this.#discardTyped();
    this.#output.write('\n');
    this.#take()?.reject(new QuestionCancelled());
    return true;
  }

  /** A line for the person at the terminal (nothing when input is piped). */
  note(text: string): void {
    if (this.interactive) this.#output.write(`${text}\n`);
  }

  /** Drops what was typed at the prompt and shows the prompt afresh. */
  clearLine(): void {
    if (!this.interactive) return;
    this.#discardTyped();
    this.#rl.prompt();
  }

  close(): void {
    this.#rl.close();
  }

  async #read(prompt: string, completion: Completion, kind: 'command' | 'question'): Promise<string | undefined> {
    this.#completion = completion;
    this.#asking = kind;
    // While a question is open the arrow keys recall nothing.
    const commands = kind === 'question' ? this.#history.splice(0) : undefined;
    try {
      if (this.interactive) {
        this.#rl.setPrompt(prompt);
        this.#rl.prompt();
      }
      return await this.#next();
    } finally {
      this.#asking = undefined;
      if (commands) this.#history.splice(0, this.#history.length, ...commands);
    }
  }

  #next(): Promise<string | undefined> {
    const line = this.#queued.shift();
    if (line !== undefined) {
      if (this.#paused && this.#queued.length < MAX_QUEUED_LINES / 2) {
        this.#paused = false;
        this.#rl.resume();
      }
      return Promise.resolve(line);
    }
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }

  #arrived(line: string): void {
    const waiting = this.#take();
    if (waiting) {
      waiting.resolve(line);
      return;
    }
    this.#queued.push(line);
    if (!this.#paused && this.#queued.length >= MAX_QUEUED_LINES) {
      this.#paused = true;
      this.#rl.pause();
    }
  }

  #take(): Waiting | undefined {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    return waiting;
  }

  #discardTyped(): void {
    this.#rl.write(null, { ctrl: true, name: 'e' });
    this.#rl.write(null, { ctrl: true, name: 'u' });
  }
}
