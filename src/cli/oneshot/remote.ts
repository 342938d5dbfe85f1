/**
 * Remote paths as the verbs write them: `BUCKET`, `BUCKET/KEY` or
 * `BUCKET/PREFIX/`; and the local path a key lands at in a recursive
 * download, checked so that no name from a server reaches outside it.
 */
import path from 'node:path';
import { CliError } from '../errors.js';
import { UsageError } from '../options.js';

export interface RemotePath {
  bucket: string;
  /** What follows `BUCKET/`: a key, a prefix, or '' for the whole bucket. */
  key: string;
}

export function parseRemote(text: string): RemotePath {
  const slash = text.indexOf('/');
  const bucket = slash < 0 ? text : text.slice(0, slash);
  if (bucket === '') throw new UsageError(`"${text}" is not a remote path: write BUCKET, BUCKET/KEY or BUCKET/PREFIX/`);
  return { bucket, key: slash < 0 ? '' : text.slice(slash + 1) };
}

/** Shows a bucket and key the way they are typed. */
export function showRemote(bucket: string, key: string): string {
  return key === '' ? bucket : `${bucket}/${key}`;
}

/**
 * Where `relative` (a key with its prefix taken off, e.g. `trip/a.jpg`)
 * lands under `folder`: each part must be a plain name, never empty, "."
 * or "..", so a name a server sends can never reach outside `folder`.
 */
export function localPathOf(folder: string, relative: string): string {
  const parts = relative.split('/');
  if (parts.some((part) => part === '' || part === '.' || part === '..' || part.includes('\0'))) {
    throw new CliError('UNSAFE_NAME', `refusing the remote name "${relative}": it cannot be a local path inside ${folder}`);
  }
  return path.join(folder, ...parts);
}
