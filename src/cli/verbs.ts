/**
 * The shell's own command words. They are the seed's nine and the two
 * for unfinished uploads, spelled as the protocol spells them, but kept
 * apart from the protocol's COMMANDS so that a command added to the
 * protocol never becomes a shell word by accident.
 */

export const SHELL_VERBS = [
  'HELLO',
  'EXIT',
  'NEW_BUCKET',
  'LIST_BUCKET',
  'DELETE_BUCKET',
  'UPLOAD_FILE',
  'LIST_FILE',
  'DOWNLOAD_FILE',
  'DELETE_FILE',
  'LIST_UPLOADS',
  'ABORT_UPLOAD',
] as const;

export type ShellVerb = (typeof SHELL_VERBS)[number];

export function isShellVerb(word: string): word is ShellVerb {
  return (SHELL_VERBS as readonly string[]).includes(word);
}

/** Ends an exhaustive switch: the compiler refuses a case left out. */
export { assertNever } from '../util/never.js';
