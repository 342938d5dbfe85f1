/**
 * Folders inside a bucket: a name such as `2026/trip/img.jpg` is the file
 * `img.jpg` in the folders `2026/trip` under the bucket's folder. Every
 * folder on the way is checked to be a real folder, never a link, before
 * it is used; commits make the folders they need, and a delete removes
 * the folders it leaves empty. The two never race: making folders and
 * moving a file in holds the bucket's folder lock shared, removing
 * folders holds it exclusively (FsStorage passes the lock).
 */
import { lstat, rmdir } from 'node:fs/promises';
import * as meta from './meta.js';
import path from 'node:path';
import { BucketError } from '../../errors.js';
import { FOLDER_SEPARATOR } from '../names.js';
import { syncDir } from './layout.js';
import { errnoOf } from './os-errors.js';

/** The folders on the way to `name`, outermost first, relative to the bucket (`a`, `a/b`). */
export function parentsOf(name: string): string[] {
  const segments = name.split(FOLDER_SEPARATOR);
  const parents: string[] = [];
  for (let i = 1; i < segments.length; i++) parents.push(segments.slice(0, i).join(FOLDER_SEPARATOR));
  return parents;
}

export type PathState = 'ready' | 'missing' | 'conflict';

/**
 * Whether the folders on the way to `name` are real folders ('ready'),
 * some are not there yet ('missing'), or a file or a link stands in the
 * way ('conflict').
 */
export async function parentsState(bucketDir: string, name: string): Promise<PathState> {
  for (const parent of parentsOf(name)) {
    const stats = await meta.lstatIfAny(path.join(bucketDir, parent));
    if (stats === undefined) return 'missing';
    if (!stats.isDirectory()) return 'conflict';
  }
  return 'ready';
}

/** PATH_CONFLICT: `name` is a folder's (`isFolder`), or a file or link stands where it needs a folder. */
export function pathConflict(name: string, isFolder = false): BucketError {
  return new BucketError('PATH_CONFLICT', isFolder ? `"${name}" is a folder; a file cannot take its name` : `a file stands where "${name}" needs a folder`);
}

/**
 * Makes the folders on the way to `name` that are missing, each made
 * durable in its parent; a file or link in the way is PATH_CONFLICT.
 */
export async function makeParents(bucketDir: string, name: string): Promise<void> {
  let parentDir = bucketDir;
  for (const parent of parentsOf(name)) {
    const dir = path.join(bucketDir, parent);
    // Most often it is there already: looked at first, as a failed mkdir costs more.
    const there = await meta.lstatIfAny(dir).catch(() => undefined);
    if (there?.isDirectory()) {
      parentDir = dir;
      continue;
    }
    let made = true;
    try {
      await meta.mkdir(dir);
    } catch (error) {
      const code = errnoOf(error);
      if (code === 'ENOTDIR') throw pathConflict(name);
      if (code !== 'EEXIST') throw error;
      made = false;
    }
    if (!made) {
      const stats = await meta.lstat(dir);
      if (!stats.isDirectory()) throw pathConflict(name);
    } else {
      await syncDir(parentDir);
    }
    parentDir = dir;
  }
}

/**
 * Removes the folders on the way to `name` that are left empty, innermost
 * first, and stops at the first that is not. A folder that holds anything
 * (a file, a link, another folder) stays.
 */
export async function removeEmptyParents(bucketDir: string, name: string): Promise<void> {
  const parents = parentsOf(name);
  for (let i = parents.length - 1; i >= 0; i--) {
    const dir = path.join(bucketDir, parents[i]!);
    const stats = await lstat(dir).catch(() => undefined);
    if (!stats?.isDirectory()) return;
    try {
      await rmdir(dir);
    } catch {
      return; // not empty (or gone): the folders above it are not empty either
    }
    await syncDir(path.dirname(dir));
  }
}
