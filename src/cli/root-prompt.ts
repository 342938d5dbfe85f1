/** Asking bucketd's ROOT folder of the person who started it without one. */
import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { expandHome } from './home.js';
import { Interrupted } from './main.js';

const QUESTION = 'Folder for the buckets: ';

/**
 * On a terminal, asks until given a folder (Ctrl-C: Interrupted); piped,
 * reads one line. `~` means the home folder. Undefined if none was given.
 */
export async function askForRoot(input: Readable, output: Writable, terminal: boolean): Promise<string | undefined> {
  const rl = readline.createInterface({ input, output: terminal ? output : undefined, terminal, crlfDelay: Infinity });
  try {
    return await new Promise<string | undefined>((resolve, reject) => {
      rl.once('close', () => resolve(undefined));
      rl.once('SIGINT', () => reject(new Interrupted()));
      rl.setPrompt(QUESTION);
      rl.on('line', (line: string) => {
        const answer = line.trim();
        if (answer !== '') resolve(expandHome(answer));
        else if (terminal) rl.prompt();
        else resolve(undefined);
      });
      if (terminal) rl.prompt();
    });
  } finally {
    rl.close();
  }
}
