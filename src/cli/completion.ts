/** Tab completion at the shell's prompts: command words, and local paths. */
import { readdirSync } from 'node:fs';
import { expandHome } from './home.js';
import { assertNever, SHELL_VERBS } from './verbs.js';

export type Completion = 'command' | 'local-path' | 'none';

export type CompleterResult = [string[], string];

export function completeCommand(line: string): CompleterResult {
  return [SHELL_VERBS.filter((verb) => verb.startsWith(line)), line];
}

/** Entries of the folder being typed whose names start with what was typed. */
export function completeLocalPath(line: string): CompleterResult {
  const expanded = line.startsWith('~/') ? expandHome(line) : line;
  const slash = expanded.lastIndexOf('/');
  const folder = slash >= 0 ? expanded.slice(0, slash + 1) : '';
  const partial = slash >= 0 ? expanded.slice(slash + 1) : expanded;
  let entries: { name: string; isDirectory(): boolean }[];
  try {
    entries = readdirSync(folder === '' ? '.' : folder, { withFileTypes: true });
  } catch {
    return [[], line];
  }
  const typedFolder = line.slice(0, line.length - partial.length);
  const hits = entries
    .filter((entry) => entry.name.startsWith(partial) && (partial.startsWith('.') || !entry.name.startsWith('.')))
    .map((entry) => typedFolder + entry.name + (entry.isDirectory() ? '/' : ''))
    .sort();
  return [hits, line];
}

export function complete(kind: Completion, line: string): CompleterResult {
  switch (kind) {
    case 'command':
      return completeCommand(line);
    case 'local-path':
      return completeLocalPath(line);
    case 'none':
      return [[], line];
    default:
      return assertNever(kind);
  }
}
