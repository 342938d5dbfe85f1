/**
 * The peers bench:peers measures bucketd against, from Debian's packages:
 * installed when missing and we are root, or else reported missing so the
 * rows that need them are skipped out loud (never faked).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';

/** The programs each peer needs, and the Debian package that brings each. */
const PROGRAMS: Record<string, string> = {
  vsftpd: 'vsftpd',
  lftp: 'lftp',
  curl: 'curl',
  'redis-server': 'redis-server',
  'redis-benchmark': 'redis-tools',
};

/** The full path of a program on the PATH or in the sbin folders (vsftpd lives in /usr/sbin), or undefined. */
export function which(program: string): string | undefined {
  const folders = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const folder of folders) {
    const candidate = `${folder}/${program}`;
    if (folder && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Installs whatever of PROGRAMS is missing, with apt-get (update once, then
 * one install), when we are root. Returns the programs found afterwards.
 */
export function ensurePeers(log: (line: string) => void): Map<string, string> {
  const missing = Object.keys(PROGRAMS).filter((program) => !which(program));
  if (missing.length > 0) {
    const root = process.getuid?.() === 0;
    if (root && which('apt-get')) {
      const packages = [...new Set(missing.map((program) => PROGRAMS[program]!))];
      log(`installing ${packages.join(' ')} from Debian's packages (missing: ${missing.join(', ')})`);
      // Installing a server package must not start its service: the bench starts its own, by PID.
      const policy = '/usr/sbin/policy-rc.d';
      const ownPolicy = !existsSync(policy);
      if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
      try {
        const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
        execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
        execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { stdio: ['ignore', 'ignore', 'inherit'], env });
      } catch (error) {
        log(`!!! apt-get failed (${(error as Error).message.split('\n')[0]}); the rows that need the missing programs are skipped`);
      } finally {
        if (ownPolicy) rmSync(policy, { force: true });
      }
    } else {
      log(`!!! not root (or no apt-get): cannot install ${missing.join(', ')}; the rows that need them are SKIPPED`);
    }
  }
  const found = new Map<string, string>();
  for (const program of Object.keys(PROGRAMS)) {
    const full = which(program);
    if (full) found.set(program, full);
    else log(`!!! ${program} is missing: the rows that need it are SKIPPED`);
  }
  return found;
}
