/** Tab completion at the shell's prompts: command words, and local paths. */
import { readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { COMMANDS } from '../protocol/requests.js';

export type Completion = 'command' | 'local-path' | 'none';

export type CompleterResult = [string[], string];

export function completeCommand(line: string): CompleterResult {
  const hits = COMMANDS.filter((command) => command.startsWith(line));
  return [hits.length > 0 ? [...hits] : [], line];
}

/** Entries of the folder being typed whose names start with what was typed. */
export function completeLocalPath(line: string): CompleterResult {
  const expanded = line.startsWith('~/') ? path.join(os.homedir(), line.slice(2)) : line;
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
  if (kind === 'command') return completeCommand(line);
  if (kind === 'local-path') return completeLocalPath(line);
  return [[], line];
}
