/**
 * One server per ROOT (root-lock.ts): a store refuses a ROOT that a
 * running process holds, takes over one whose holder is gone, shares the
 * hold between opens in one process, and lets go of it when closed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FsStorage } from '../../src/storage/fs/fs-storage.js';
import { LOCK_FILE, RootBusyError } from '../../src/storage/fs/root-lock.js';
import { tempDir } from '../helpers/server.js';

const STORE = fileURLToPath(new URL('../../src/storage/fs/fs-storage.js', import.meta.url));
const lockOf = (root: string): string => path.join(root, '.bucketd', LOCK_FILE);
const holderOf = async (root: string): Promise<{ pid: number }> => JSON.parse(await readFile(lockOf(root), 'utf8')) as { pid: number };

/** Another process that opens the store on `root` and keeps it. */
async function otherHolder(root: string): Promise<{ pid: number; kill(signal: NodeJS.Signals): Promise<void> }> {
  const code = `const { FsStorage } = await import(${JSON.stringify(STORE)}); await FsStorage.open(${JSON.stringify(root)}); console.log('held'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (text: string) => text.includes('held') && resolve());
    child.once('exit', (exitCode) => reject(new Error(`the holder exited ${exitCode}`)));
  });
  return {
    pid: child.pid!,
    kill: async (signal) => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await exited;
    },
  };
}

test('a ROOT another running process holds is refused with its pid; once it is gone (even killed), it is taken over', async () => {
  const root = path.join(await tempDir(), 'root');
  const other = await otherHolder(root);
  try {
    await assert.rejects(FsStorage.open(root), (error: unknown) => error instanceof RootBusyError && error.pid === other.pid && /another bucketd \(pid \d+\) serves it; run one server per ROOT/.test(error.message));
    // By another path to the same folder too.
    const alias = path.join(await tempDir(), 'alias');
    await symlink(root, alias);
    await assert.rejects(FsStorage.open(alias), RootBusyError);
  } finally {
    await other.kill('SIGKILL');
  }
  const storage = await FsStorage.open(root);
  assert.equal((await holderOf(root)).pid, process.pid);
  await storage.close();
  assert.ok(!(await readdir(path.join(root, '.bucketd'))).includes(LOCK_FILE), 'the hold outlived close');
});

test('opens in one process share the hold; the last close lets go of it', async () => {
  const root = path.join(await tempDir(), 'root');
  const first = await FsStorage.open(root);
  const second = await FsStorage.open(root);
  await first.close();
  await first.close(); // a second close changes nothing
  assert.equal((await holderOf(root)).pid, process.pid, 'the hold ended while a store still had it open');
  await second.close();
  assert.ok(!(await readdir(path.join(root, '.bucketd'))).includes(LOCK_FILE));
});

test('a stale, unreadable or linked lock file is taken over, and a link is not followed', async () => {
  const root = path.join(await tempDir(), 'root');
  await (await FsStorage.open(root)).close();
  for (const stale of [
    JSON.stringify({ pid: 2 ** 22 + 17, start: 1, boot: 'another boot' }), // no such process
    JSON.stringify({ pid: 1, start: -1 }), // pid 1 runs, but started at another time (or on another boot)
    'not json',
    '{"pid":"x"}',
  ]) {
    await writeFile(lockOf(root), stale);
    const storage = await FsStorage.open(root);
    assert.equal((await holderOf(root)).pid, process.pid, `not taken over: ${stale}`);
    await storage.close();
  }
  const outside = path.join(await tempDir(), 'precious');
  await writeFile(outside, 'keep me');
  await symlink(outside, lockOf(root));
  const storage = await FsStorage.open(root);
  assert.equal(await readFile(outside, 'utf8'), 'keep me');
  assert.equal((await holderOf(root)).pid, process.pid);
  await storage.close();
});
