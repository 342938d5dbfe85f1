/**
 * The client's memory of uploads in flight, so that sending the same
 * local file again after the program was killed resumes the server's
 * unfinished upload instead of starting over. A small JSON file, keyed by
 * server, bucket, name and local path, each entry holding the upload id
 * and the file's size and modification time when it started (a file that
 * changed since is a new upload). Written whole to a temporary file and
 * renamed into place; a file that cannot be read or parsed counts as
 * empty, and one that cannot be written is skipped: at worst an upload
 * starts over.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** Which upload: the same file sent to the same place. */
export interface UploadKey {
  server: string;
  bucket: string;
  name: string;
  /** Absolute local path. */
  path: string;
}

/** What is remembered of it. */
export interface UploadMark {
  uploadId: string;
  size: number;
  mtimeMs: number;
}

/** Where a front end keeps its marks; FileUploadJournal is one. */
export interface UploadJournal {
  find(key: UploadKey): Promise<UploadMark | undefined>;
  save(key: UploadKey, mark: UploadMark): Promise<void>;
  remove(key: UploadKey): Promise<void>;
}

const VERSION = 1;
// An entry older than this is dropped: servers keep unfinished uploads for days, not months.
const MAX_AGE_MS = 30 * 24 * 3600 * 1000;

interface Entry extends UploadMark {
  savedAt: number;
}

/** `$XDG_STATE_HOME/bucket/uploads.json`, else `~/.local/state/bucket/uploads.json`. */
export function uploadJournalPath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_STATE_HOME !== undefined && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.join(env.HOME ?? os.homedir(), '.local', 'state');
  return path.join(base, 'bucket', 'uploads.json');
}

export class FileUploadJournal implements UploadJournal {
  readonly file: string;
  /** Changes in this process, one at a time (each reads the file afresh, for other processes' sake). */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(file: string) {
    this.file = file;
  }

  async find(key: UploadKey): Promise<UploadMark | undefined> {
    const entry = (await this.#read()).get(keyOf(key));
    return entry && { uploadId: entry.uploadId, size: entry.size, mtimeMs: entry.mtimeMs };
  }

  save(key: UploadKey, mark: UploadMark): Promise<void> {
    return this.#change((entries) => entries.set(keyOf(key), { ...mark, savedAt: Date.now() }));
  }

  remove(key: UploadKey): Promise<void> {
    return this.#change((entries) => entries.delete(keyOf(key)));
  }

  #change(edit: (entries: Map<string, Entry>) => unknown): Promise<void> {
    const next = this.#queue.then(async () => {
      const entries = await this.#read();
      edit(entries);
      await this.#write(entries);
    });
    this.#queue = next.catch(() => undefined);
    return next.catch(() => undefined);
  }

  async #read(): Promise<Map<string, Entry>> {
    const entries = new Map<string, Entry>();
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(this.file, 'utf8'));
    } catch {
      return entries;
    }
    if (typeof parsed !== 'object' || parsed === null || (parsed as { version?: unknown }).version !== VERSION) return entries;
    const uploads = (parsed as { uploads?: unknown }).uploads;
    if (typeof uploads !== 'object' || uploads === null) return entries;
    const now = Date.now();
    for (const [key, value] of Object.entries(uploads as Record<string, unknown>)) {
      const entry = value as Partial<Entry>;
      if (typeof entry.uploadId !== 'string' || typeof entry.size !== 'number' || typeof entry.mtimeMs !== 'number' || typeof entry.savedAt !== 'number') continue;
      if (now - entry.savedAt > MAX_AGE_MS) continue;
      entries.set(key, { uploadId: entry.uploadId, size: entry.size, mtimeMs: entry.mtimeMs, savedAt: entry.savedAt });
    }
    return entries;
  }

  async #write(entries: Map<string, Entry>): Promise<void> {
    const temp = `${this.file}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
      await writeFile(temp, `${JSON.stringify({ version: VERSION, uploads: Object.fromEntries(entries) })}\n`, { mode: 0o600 });
      await rename(temp, this.file);
    } catch {
      await unlink(temp).catch(() => undefined);
    }
  }
}

function keyOf(key: UploadKey): string {
  return JSON.stringify([key.server, key.bucket, key.name, key.path]);
}
