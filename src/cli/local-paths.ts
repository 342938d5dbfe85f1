/** Local paths as people type them, checked before anything is sent. */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { resolveDestination } from '../client/files.js';
import { CliError } from './errors.js';
import { printable } from './format.js';
import { expandHome } from './home.js';

export type UploadSource = { kind: 'file'; path: string; size: number } | { kind: 'folder'; path: string };

/**
 * What an upload's local path names: the file itself, or the folder that
 * holds it (whose file name is asked next). Throws NO_SUCH_LOCAL_FILE.
 */
export async function findUploadSource(typed: string): Promise<UploadSource> {
  const localPath = expandHome(typed);
  const stats = await stat(localPath === '' ? '.' : localPath).catch(() => undefined);
  if (typed === '' || stats === undefined) throw new CliError('NO_SUCH_LOCAL_FILE', `no such local file or folder: ${printable(typed)}`);
  if (stats.isDirectory()) return { kind: 'folder', path: localPath };
  if (!stats.isFile()) throw new CliError('NOT_A_FILE', `${printable(localPath)} is not a file`);
  return { kind: 'file', path: localPath, size: stats.size };
}

/** The file `name` inside `folder`, which must be a file. */
export async function fileInFolder(folder: string, name: string): Promise<{ path: string; size: number }> {
  const localPath = path.join(folder, name);
  const stats = await stat(localPath).catch(() => undefined);
  if (name === '' || stats === undefined) throw new CliError('NO_SUCH_LOCAL_FILE', `no such local file: ${printable(localPath)}`);
  if (!stats.isFile()) throw new CliError('NOT_A_FILE', stats.isDirectory() ? `${printable(localPath)} is a folder, not a file` : `${printable(localPath)} is not a file`);
  return { path: localPath, size: stats.size };
}

/**
 * Where a download of `name` to the typed destination lands, and whether a
 * file is already there. A folder in its place is refused: replacing it is
 * never what was meant.
 */
export async function downloadTarget(typed: string, name: string): Promise<{ path: string; exists: boolean }> {
  const target = await resolveDestination(expandHome(typed), name);
  const existing = await stat(target).catch(() => undefined);
  if (existing?.isDirectory()) throw new CliError('DESTINATION_IS_FOLDER', `${printable(target)} is a folder; give a file path or another folder`);
  return { path: target, exists: existing !== undefined };
}
