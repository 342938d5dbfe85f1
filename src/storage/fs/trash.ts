/**
 * What is being thrown away: replaced files and force-deleted buckets are
 * first moved (or linked) into the trash, so they vanish for clients at
 * once, then freed in the background. What a stop leaves, the next start
 * removes.
 */
import { randomHex } from '../../util/random-hex.js';
import { link, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { assertRealFolders } from './layout.js';

export class Trash {
  readonly #dir: string;
  readonly #guarded: string[];
  readonly #background = new Set<Promise<void>>();

  /** `guarded`: folders that must still be real before each use (the trash's parent and itself). */
  constructor(dir: string, guarded: string[]) {
    this.#dir = dir;
    this.#guarded = guarded;
  }

  /**
   * Gives the file at `filePath` (if any) a second name in the trash, so a
   * replace does not wait for its blocks to be freed. Returns that name,
   * or undefined (nothing there, or no hard links on this filesystem).
   */
  async keepAside(filePath: string): Promise<string | undefined> {
    const aside = path.join(this.#dir, `${randomHex(8)}.replaced`);
    try {
      await assertRealFolders(...this.#guarded);
      await link(filePath, aside);
      return aside;
    } catch {
      return undefined;
    }
  }

  /** Moves a folder or file into the trash; rejects as rename does. */
  async moveIn(from: string, label: string): Promise<string> {
    const to = path.join(this.#dir, `${label}-${randomHex(6)}`);
    await assertRealFolders(...this.#guarded);
    await rename(from, to);
    return to;
  }

  /** Frees something in the trash without anyone waiting for it. */
  discard(trashPath: string): void {
    const work: Promise<void> = rm(trashPath, { recursive: true, force: true }).then(
      () => undefined,
      () => undefined,
    );
    this.#background.add(work);
    void work.then(() => this.#background.delete(work));
  }

  /** Resolves when no background removal is running. */
  async settled(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
  }
}
