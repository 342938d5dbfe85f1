/**
 * Which of `sync SRC DST` is the local folder and which the remote
 * `BUCKET[/PREFIX]`. A word written as a local path (`.`, `..`, or
 * starting with `/`, `./`, `../`, `~`) is local, and then the other is
 * the remote. Otherwise the one that exists on disk is local. Two local
 * paths, or two words neither of which can be told local, are a usage
 * error: write the local folder as `./NAME`.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { expandHome } from '../home.js';
import { UsageError } from '../options.js';
import { parseRemote, showRemote } from './remote.js';

export interface SyncEnds {
  /** up: from the local folder to the remote; down: the other way. */
  direction: 'up' | 'down';
  /** The local folder, as typed (with `~` expanded). */
  local: string;
  bucket: string;
  /** '' for the whole bucket, else ending in "/" (NFC, as the server keeps names). */
  prefix: string;
}

const WRITTEN_LOCAL = /^(?:\.\.?|~)(?:\/|$)|^\//;

export async function syncEnds(source: string, destination: string): Promise<SyncEnds> {
  const written = [source, destination].map((word) => WRITTEN_LOCAL.test(word) || path.isAbsolute(word));
  let localIndex: number;
  if (written[0] && written[1]) {
    throw new UsageError(`sync needs one local folder and one remote BUCKET[/PREFIX], and "${source}" and "${destination}" are both local paths`);
  } else if (written[0] || written[1]) {
    localIndex = written[0] ? 0 : 1;
  } else {
    const exists = await Promise.all([source, destination].map(async (word) => (await stat(word).catch(() => undefined)) !== undefined));
    if (exists[0] === exists[1]) {
      const why = exists[0] ? 'both exist as local paths' : 'neither exists as a local path';
      throw new UsageError(`sync cannot tell which of "${source}" and "${destination}" is the local folder (${why}): write the local one as ./PATH or an absolute path`);
    }
    localIndex = exists[0] ? 0 : 1;
  }
  const localText = localIndex === 0 ? source : destination;
  const remote = parseRemote(localIndex === 0 ? destination : source);
  const key = remote.key.normalize('NFC');
  const prefix = key === '' || key.endsWith('/') ? key : `${key}/`;
  if (prefix.startsWith('/') || prefix.includes('//')) throw new UsageError(`"${showRemote(remote.bucket, remote.key)}" is not a remote folder: write BUCKET or BUCKET/PREFIX/`);
  return { direction: localIndex === 0 ? 'up' : 'down', local: expandHome(localText), bucket: remote.bucket, prefix };
}
