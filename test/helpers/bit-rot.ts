/**
 * Bit rot, as a failing disk does it: a file's bytes change while its
 * size, inode and modification time (to the nanosecond) stay as they were,
 * so that everything that identifies its version still matches. The time
 * is put back with GNU touch, which takes nanoseconds (Node's utimes
 * rounds them).
 */
import { execFileSync } from 'node:child_process';
import { open, stat } from 'node:fs/promises';

export async function rot(file: string, bytes: Buffer): Promise<void> {
  const before = await stat(file, { bigint: true });
  if (BigInt(bytes.length) !== before.size) throw new Error(`bit rot keeps the size: ${bytes.length} bytes given for a file of ${before.size}`);
  const handle = await open(file, 'r+');
  try {
    await handle.write(bytes, 0, bytes.length, 0);
  } finally {
    await handle.close();
  }
  const seconds = before.mtimeNs / 1_000_000_000n;
  const nanos = (before.mtimeNs % 1_000_000_000n).toString().padStart(9, '0');
  try {
    execFileSync('touch', ['-m', '-d', `@${seconds}.${nanos}`, file], { stdio: 'pipe' });
  } catch (error) {
    throw new Error(`bit rot needs GNU touch (coreutils), which takes nanoseconds: ${String(error)}`);
  }
  const after = await stat(file, { bigint: true });
  if (after.mtimeNs !== before.mtimeNs || after.ino !== before.ino) throw new Error(`could not keep ${file}'s identity while changing its bytes`);
}
