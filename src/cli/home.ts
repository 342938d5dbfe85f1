import os from 'node:os';
import path from 'node:path';

/** `~` and `~/...` as a shell would read them, since people type them at prompts too. */
export function expandHome(typed: string): string {
  if (typed === '~') return os.homedir();
  return typed.startsWith('~/') ? path.join(os.homedir(), typed.slice(2)) : typed;
}
