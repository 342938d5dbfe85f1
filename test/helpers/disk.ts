/** A tiny real filesystem (tmpfs) for tests of a full disk; root only. */
import { execFileSync } from 'node:child_process';

/** Mounts a tmpfs of `size` (e.g. '3m') on `dir`; false when that is not possible here. */
export function mountTinyDisk(dir: string, size: string): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function unmountTinyDisk(dir: string): void {
  execFileSync('umount', [dir], { stdio: 'ignore' });
}
