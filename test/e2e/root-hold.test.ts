/**
 * One bucketd per ROOT: a second server on a root that one serves stops
 * with a line naming the first, and clears nothing of its work in flight;
 * the root is free again as soon as the first ends, however it ends; of
 * several started at once, exactly one serves; a lock file that is not a
 * plain file, or a flock(1) that fails, stops the server.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmod, chown, link, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { BucketClient } from '../../src/client/index.js';
import { BUCKETD, SERVER_NODE_FLAGS, startServer, tempDir } from '../helpers/server.js';

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** bucketd on `root` (port 0); a server that starts is stopped with SIGTERM once `keep` ms have passed. */
function runBucketd(root: string, options: { keep?: number; env?: NodeJS.ProcessEnv; uid?: number } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const user = options.uid === undefined ? {} : { uid: options.uid, gid: options.uid };
    const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, BUCKETD, '--port', '0', '--log-format', 'pretty', root], { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env, ...user });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      if (stdout.includes('listening on')) setTimeout(() => child.kill('SIGTERM'), options.keep ?? 0);
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The processes whose parent is `pid`, from /proc. */
async function childrenOf(pid: number): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) found.push(Number(entry));
  }
  return found;
}

test('a second server on a served root stops with one line naming the first, and clears nothing the first has in flight', async () => {
  const first = await startServer();
  try {
    // What the first has half-written (an upload being committed).
    const inFlight = path.join(first.root, '.bucketd', 'tmp', 'commit-in-flight');
    await writeFile(inFlight, 'half');
    const second = await runBucketd(first.root);
    assert.equal(second.code, 1);
    assert.equal(second.stdout, '');
    const lock = path.join(first.root, '.bucketd', 'server.lock');
    assert.equal(second.stderr, `bucketd: cannot use ${first.root} as the root folder: another bucketd serves it (pid ${first.child.pid}); one server per root (the lock: ${lock})\n`);
    assert.equal(await readFile(inFlight, 'utf8'), 'half');
    const client = await BucketClient.connect({ port: first.port });
    await client.createBucket('still-served');
    await client.exit();
  } finally {
    await first.stop();
  }
});

test('the root is free again once its server ends, even by SIGKILL', async () => {
  const root = await tempDir();
  try {
    const first = await startServer({ root });
    await first.stop('SIGKILL');
    const next = await runBucketd(root);
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stdout, /listening on/);
    const after = await runBucketd(root);
    assert.equal(after.code, 0, `after a SIGTERM too: ${after.stderr}`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('the lock is held while the server serves, and free once it has stopped', async () => {
  const root = await tempDir();
  const lock = path.join(root, '.bucketd', 'server.lock');
  const free = (): boolean => spawnSync('flock', ['--nonblock', '--conflict-exit-code', '75', lock, 'true']).status === 0;
  try {
    const server = await startServer({ root });
    assert.equal(free(), false, 'held while it serves');
    assert.equal(await server.stop(), 0);
    assert.equal(free(), true, 'free once it has exited');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('of several servers started at once on one new root, exactly one serves', async () => {
  const base = await tempDir();
  try {
    const root = path.join(base, 'fresh');
    // Each that starts keeps serving past the others' patience, so that none can start after it.
    const outcomes = await Promise.all(Array.from({ length: 4 }, () => runBucketd(root, { keep: 10_000 })));
    const served = outcomes.filter((each) => each.stdout.includes('listening on'));
    const refused = outcomes.filter((each) => each.code === 1 && /another bucketd serves it \(pid \d+\)/.test(each.stderr));
    assert.equal(served.length, 1, outcomes.map((each) => each.stderr).join(''));
    assert.equal(refused.length, 3, outcomes.map((each) => `${each.code}: ${each.stderr}`).join(''));
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('the lock is held by the server itself: no helper process runs beside it', async () => {
  const server = await startServer();
  try {
    const lock = path.join(server.root, '.bucketd', 'server.lock');
    assert.equal(spawnSync('flock', ['--nonblock', '--conflict-exit-code', '75', lock, 'true']).status, 75, 'held');
    assert.deepEqual(await childrenOf(server.child.pid!), [], 'no child process');
  } finally {
    await server.stop();
  }
});

test('a lock file that is a link, a pipe or a second name of a file is refused, never followed or waited on', async () => {
  const base = await tempDir();
  try {
    const root = path.join(base, 'root');
    const lock = path.join(root, '.bucketd', 'server.lock');
    await mkdir(path.dirname(lock), { recursive: true });
    const target = path.join(base, 'elsewhere');
    await symlink(target, lock);
    const linked = await runBucketd(root);
    assert.equal(linked.code, 1);
    assert.equal(linked.stderr, `bucketd: cannot use ${root} as the root folder: cannot open ${lock}: it is a symbolic link; if it is not bucketd's, remove it\n`);
    await assert.rejects(readFile(target), { code: 'ENOENT' });
    await rm(lock);
    execFileSync('mkfifo', [lock]);
    const fifo = await runBucketd(root);
    assert.equal(fifo.code, 1);
    assert.match(fifo.stderr, /cannot open \S+server\.lock: it is not a plain file of its own; if it is not bucketd's, remove it\n$/);
    await rm(lock);
    await writeFile(target, 'precious');
    await link(target, lock);
    const hardLinked = await runBucketd(root);
    assert.equal(hardLinked.code, 1);
    assert.match(hardLinked.stderr, /it is not a plain file of its own/);
    assert.equal(await readFile(target, 'utf8'), 'precious');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('a flock(1) that fails stops the server with its reason: no start without the lock but where flock is missing', async () => {
  const base = await tempDir();
  try {
    const bin = path.join(base, 'bin');
    await mkdir(bin);
    await writeFile(path.join(bin, 'flock'), '#!/bin/sh\necho "flock: cannot lock: No locks available" >&2\nexit 1\n', { mode: 0o755 });
    const result = await runBucketd(path.join(base, 'root'), { env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` } });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^bucketd: cannot use \S+ as the root folder: cannot lock \S+server\.lock: flock: cannot lock: No locks available\n$/);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test("a lock left by another user's server: locked through a read-only open if it can be read, else refused without advice to remove it", async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root, to run a server as another user');
    return;
  }
  const NOBODY = 65534;
  const base = await tempDir();
  try {
    await chmod(base, 0o755);
    const root = path.join(base, 'root');
    const lock = path.join(root, '.bucketd', 'server.lock');
    await mkdir(path.dirname(lock), { recursive: true });
    await writeFile(lock, '1\n', { mode: 0o644 }); // root's, as after a run with sudo
    execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, root]);
    await chown(lock, 0, 0);
    const readable = await runBucketd(root, { uid: NOBODY });
    assert.equal(readable.code, 0, readable.stderr);
    assert.match(readable.stdout, /listening on/);
    await chmod(lock, 0o600);
    const unreadable = await runBucketd(root, { uid: NOBODY });
    assert.equal(unreadable.code, 1);
    assert.equal(unreadable.stderr, `bucketd: cannot use ${root} as the root folder: cannot open ${lock}: permission denied (it belongs to another user, whose bucketd may serve this root); let this user read it, or stop that server\n`);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('where flock(1) is missing, the server starts and says it could not make sure it is alone', async () => {
  const root = await tempDir();
  try {
    const result = await runBucketd(root, { env: { ...process.env, PATH: path.join(root, 'nothing-here') } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /warn cannot make sure no other bucketd serves this root: flock\(1\) is not installed \(util-linux\); make sure yourself/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
