/**
 * Where an upload's SHA-256 stood now and then while its bytes went out,
 * so that a resume in the same process need not hash the whole prefix
 * again: it starts from the last mark at or before the server's offset and
 * hashes only the bytes after it. A mark is a copy of the hash's state, a
 * few hundred bytes.
 */
import type { Hash } from 'node:crypto';

const MIN_SPACING = 16 * 1024 * 1024;
const MAX_MARKS = 1024;

export class HashMarks {
  readonly #spacing: number;
  readonly #marks: Array<{ offset: number; hash: Hash }> = [];

  /** For a file of `size` bytes: a mark every 16 MiB, or fewer for a huge one. */
  constructor(size: number) {
    this.#spacing = Math.max(MIN_SPACING, Math.ceil(size / MAX_MARKS));
  }

  /** The hash after the first `offset` bytes: kept if far enough past the last mark. */
  offer(offset: number, hash: Hash): void {
    const last = this.#marks.at(-1)?.offset ?? 0;
    if (offset - last >= this.#spacing) this.#marks.push({ offset, hash: hash.copy() });
  }

  /** The last mark at or before `offset` (a fresh copy, to go on from), if any. */
  before(offset: number): { offset: number; hash: Hash } | undefined {
    for (let i = this.#marks.length - 1; i >= 0; i--) {
      const mark = this.#marks[i]!;
      if (mark.offset <= offset) return { offset: mark.offset, hash: mark.hash.copy() };
    }
    return undefined;
  }
}
