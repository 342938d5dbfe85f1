/** The lock file around access-file changes: exclusive, waited for, broken when stale. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { LockTimeoutError, withFileLock } from '../../src/server/users/file-lock.js';
import { tempDir } from '../helpers/server.js';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function lockPath(): Promise<string> {
  const dir = await tempDir('bucketd-lock-');
  dirs.push(dir);
  return path.join(dir, 'access.lock');
}

/** A PID that was alive a moment ago and is not now. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

test('holders run one at a time, and the lock is gone after', async () => {
  const lock = await lockPath();
  let inside = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: 10 }, () =>
      withFileLock(lock, async () => {
        inside++;
        most = Math.max(most, inside);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inside--;
      }),
    ),
  );
  assert.equal(most, 1);
  assert.deepEqual(await readdir(path.dirname(lock)), []);
});

test('a lock held by a live process is waited for, then given up with who holds it', async () => {
  const lock = await lockPath();
  await writeFile(lock, `${process.pid}\n${Date.now()}\n`);
  const started = Date.now();
  await assert.rejects(
    withFileLock(lock, async () => undefined, { timeoutMs: 200 }),
    (error: unknown) => error instanceof LockTimeoutError && error.holder === process.pid,
  );
  assert.ok(Date.now() - started >= 200);
});

test('a lock left by a dead process, or older than the stale age, is broken', async () => {
  const lock = await lockPath();
  await writeFile(lock, `${deadPid()}\n${Date.now()}\n`);
  assert.equal(await withFileLock(lock, async () => 'ran', { timeoutMs: 1000 }), 'ran');

  await writeFile(lock, `${process.pid}\n${Date.now() - 60_000}\n`);
  const old = new Date(Date.now() - 60_000);
  await utimes(lock, old, old);
  assert.equal(await withFileLock(lock, async () => 'ran', { timeoutMs: 1000 }), 'ran');

  await writeFile(lock, 'garbage');
  assert.equal(await withFileLock(lock, async () => 'ran', { timeoutMs: 1000 }), 'ran');
  assert.deepEqual(await readdir(path.dirname(lock)), []);
});

test('a link or a folder in place of the lock is refused, not followed', async () => {
  const lock = await lockPath();
  await symlink('/etc/passwd', lock);
  await assert.rejects(withFileLock(lock, async () => undefined, { timeoutMs: 200 }), /not a lock file/);
  await rm(lock);
  await mkdir(lock);
  await assert.rejects(withFileLock(lock, async () => undefined, { timeoutMs: 200 }), /not a lock file/);
});
