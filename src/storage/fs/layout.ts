/**
 * Where things live under ROOT, and the checks that keep them there.
 * Buckets are real folders directly under ROOT; bookkeeping lives in
 * ROOT/.bucketd (never a bucket: bucket names cannot start with '.'):
 * tmp/ for uploads in flight, trash/ for what is being freed, sums/ for
 * recorded checksums. Nothing under ROOT is ever followed through a
 * symbolic link: a planted link in the bookkeeping area stops the start.
 */
import { lstat, mkdir, realpath, rm, stat } from 'node:fs/promises';
import * as meta from './meta.js';
import path from 'node:path';
import { BucketError } from '../../errors.js';
import { checkBucketName } from '../names.js';
import { errnoOf } from './os-errors.js';

export const HIDDEN_DIR = '.bucketd';

/** ROOT cannot be used as it is; the message says why, for the operator. */
export class UnsafeRootError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeRootError';
  }
}

export class FsLayout {
  readonly root: string;
  readonly hiddenDir: string;
  readonly tmpDir: string;
  readonly trashDir: string;
  readonly sumsDir: string;
  /** Unfinished uploads, kept across restarts (staging.ts). */
  readonly uploadsDir: string;

  private constructor(root: string) {
    this.root = root;
    this.hiddenDir = path.join(root, HIDDEN_DIR);
    this.tmpDir = path.join(this.hiddenDir, 'tmp');
    this.trashDir = path.join(this.hiddenDir, 'trash');
    this.sumsDir = path.join(this.hiddenDir, 'sums');
    this.uploadsDir = path.join(this.hiddenDir, 'uploads');
  }

  /**
   * Creates ROOT (parents included) if absent, checks that the bookkeeping
   * folders are real folders, and empties what an earlier run left
   * half-done (uploads in flight, removals in progress). `hold` runs once
   * .bucketd is a real folder, before anything in it is made or cleared
   * (see FsStorageOptions).
   */
  static async prepare(root: string, hold?: (bookkeepingDir: string) => Promise<void>): Promise<FsLayout> {
    await mkdir(path.resolve(root), { recursive: true }).catch(async (error: unknown) => {
      // Made at the same moment by another server starting on a new ROOT:
      // a folder is fine (and no second server gets past the hold below).
      if (errnoOf(error) !== 'EEXIST' || !(await stat(path.resolve(root)).then((stats) => stats.isDirectory(), () => false))) throw error;
    });
    // ROOT itself may be a link the operator chose; nothing under it may be.
    const layout = new FsLayout(await realpath(path.resolve(root)));
    await realFolder(layout.root, 'the root');
    await ensureRealFolder(layout.hiddenDir);
    // Held before anything in .bucketd is touched: a second server making
    // its folders while the first clears them would be in its way too.
    await hold?.(layout.hiddenDir);
    for (const dir of [layout.tmpDir, layout.trashDir, layout.sumsDir, layout.uploadsDir]) {
      await ensureRealFolder(dir);
    }
    // Both are real folders (checked above), so rm cannot reach outside.
    await rm(layout.tmpDir, { recursive: true, force: true });
    await rm(layout.trashDir, { recursive: true, force: true });
    await mkdir(layout.tmpDir);
    await mkdir(layout.trashDir);
    return layout;
  }

  /** The bucket's folder, if it is a real one; NO_SUCH_BUCKET otherwise. */
  async bucketDir(bucket: string): Promise<string> {
    checkBucketName(bucket);
    const dir = path.join(this.root, bucket);
    const stats = await meta.lstatIfAny(dir).catch(() => undefined);
    if (!stats?.isDirectory()) throw new BucketError('NO_SUCH_BUCKET', `no bucket "${bucket}"`);
    return dir;
  }

  bucketPath(bucket: string): string {
    return path.join(this.root, checkBucketName(bucket));
  }

  /** Fails unless `.bucketd` and the named subfolders are still real folders. */
  async assertBookkeeping(...dirs: string[]): Promise<void> {
    await assertRealFolders(this.hiddenDir, ...dirs);
  }
}

async function realFolder(dir: string, what: string): Promise<void> {
  const stats = await lstat(dir);
  if (!stats.isDirectory()) throw new UnsafeRootError(`${dir} is not a folder, so it cannot be ${what}`);
}

/** Makes `dir` if absent; refuses a symbolic link or a file in its place. */
async function ensureRealFolder(dir: string): Promise<void> {
  let stats = await meta.lstatIfAny(dir);
  if (stats === undefined) {
    try {
      await mkdir(dir);
      return;
    } catch (error) {
      if (errnoOf(error) !== 'EEXIST') throw error;
    }
    // Made in between by another process (two servers started at once on a
    // new ROOT): what is there now is checked like anything found.
    stats = await meta.lstatIfAny(dir);
    if (stats === undefined) throw new UnsafeRootError(`${dir} appeared and vanished while bucketd was making it; start again`);
  }
  if (stats.isSymbolicLink()) {
    throw new UnsafeRootError(`${dir} is a symbolic link; bucketd never follows links in its bookkeeping folder. Remove it (and check who put it there), then start again`);
  }
  if (!stats.isDirectory()) throw new UnsafeRootError(`${dir} is not a folder; remove it, then start again`);
}

/**
 * Checks, before a use, that bookkeeping folders are still real folders: a
 * link planted while the server runs makes the operation fail
 * (STORAGE_FAILED), never reach outside ROOT.
 */
export async function assertRealFolders(...dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    const stats = await meta.lstat(dir).catch(() => undefined);
    if (!stats?.isDirectory()) {
      throw new BucketError('STORAGE_FAILED', `the server could not complete the storage operation: its bookkeeping folder ${path.basename(dir)} is ${stats?.isSymbolicLink() ? 'a symbolic link' : 'missing'}`);
    }
  }
}

/** fsyncs a folder, so that a rename into it or out of it survives a crash. */
export const syncDir = meta.syncDir;
