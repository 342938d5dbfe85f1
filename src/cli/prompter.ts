/**
 * Line input for the shell, the same whether a person types at a terminal
 * or a script pipes lines in: every line is kept until it is asked for, so
 * piped answers are never lost. Prompts are shown on a terminal only.
 */
import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { complete, type Completion } from './completion.js';

export class Prompter {
  readonly interactive: boolean;
  readonly #rl: readline.Interface;
  readonly #lines: AsyncIterator<string>;
  #interruptHandler: (() => void) | undefined;
  #completion: Completion = 'none';
  #ended = false;

  constructor(input: Readable, output: Writable, interactive: boolean) {
    this.interactive = interactive;
    this.#rl = readline.createInterface({
      input,
      output: interactive ? output : undefined,
      terminal: interactive,
      crlfDelay: Infinity,
      completer: (line: string) => complete(this.#completion, line),
    });
    this.#lines = this.#rl[Symbol.asyncIterator]();
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

  /**
   * The next line, after showing `prompt` on a terminal; undefined at end of
   * input. Tab completes what `completion` says.
   */
  async ask(prompt: string, completion: Completion = 'none'): Promise<string | undefined> {
    if (this.#ended) return undefined;
    this.#completion = completion;
    if (this.interactive) {
      this.#rl.setPrompt(prompt);
      this.#rl.prompt();
    }
    const result = await this.#lines.next();
    if (result.done) {
      this.#ended = true;
      return undefined;
    }
    return result.value;
  }

  /** A yes/no question; only y or yes (any case) is yes. */
  async confirm(question: string): Promise<boolean> {
    const answer = await this.ask(`${question} [y/N] `);
    return answer !== undefined && /^(y|yes)$/i.test(answer.trim());
  }

  /** Drops what was typed at the prompt and shows the prompt afresh. */
  clearLine(): void {
    if (!this.interactive) return;
    this.#rl.write(null, { ctrl: true, name: 'e' });
    this.#rl.write(null, { ctrl: true, name: 'u' });
    this.#rl.prompt();
  }

  close(): void {
    this.#rl.close();
  }
}
