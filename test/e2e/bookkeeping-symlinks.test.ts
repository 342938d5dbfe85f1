/**
 * The bookkeeping folder ROOT/.bucketd is never followed through a symlink.
 * A store is made, then one of its bookkeeping paths is replaced by a
 * symlink to a folder (or file) outside ROOT. The server may refuse to start
 * (exit code 1, one line on stderr naming the path) or repair the link with
 * a log line saying so; either way nothing outside ROOT is created, changed
 * or deleted, however the store is then used.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import { BucketClient } from '../../src/client/index.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

interface Case {
  /** The path under ROOT replaced by a symlink. */
  rel: string;
  /** Where the symlink points, relative to the outside folder ('' = the folder itself). */
  target: string;
  /** A bookkeeping folder the server meets at start: a repair must be logged. */
  checkedAtStart: boolean;
}

const CASES: Case[] = [
  { rel: '.bucketd', target: '', checkedAtStart: true },
  { rel: '.bucketd/tmp', target: '', checkedAtStart: true },
  { rel: '.bucketd/trash', target: '', checkedAtStart: true },
  { rel: '.bucketd/sums', target: '', checkedAtStart: true },
  { rel: '.bucketd/sums/box', target: '', checkedAtStart: false },
  { rel: '.bucketd/sums/box/f.txt', target: 'sentinel.txt', checkedAtStart: false },
];

/**
 * The outside folder: a sentinel, and look-alikes of what the server keeps
 * (a tmp folder, a trash folder, checksum records, a stored file's name), so
 * that any creation, overwrite or removal there shows.
 */
async function makeOutside(dir: string): Promise<void> {
  const files: Record<string, string> = {
    'sentinel.txt': 'outside ROOT: must never change\n',
    'f.txt': 'a sentinel with the name of a stored file\n',
    'box/f.txt': 'a sentinel where a checksum record would go\n',
    'tmp/keep.upload': 'a sentinel in a folder named like the upload area\n',
    'trash/keep.txt': 'a sentinel in a folder named like the trash\n',
    'sums/box/f.txt': '{"sentinel":true}\n',
  };
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), text);
  }
}

/** Every entry under `dir`, with its kind and content (files) or target (links). */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(path.join(dir, rel))).sort()) {
      const entryRel = path.join(rel, name);
      const full = path.join(dir, entryRel);
      const stats = await lstat(full);
      if (stats.isSymbolicLink()) out[entryRel] = `link -> ${await readlink(full)}`;
      else if (stats.isDirectory()) {
        out[entryRel] = `dir mode ${stats.mode.toString(8)}`;
        await walk(entryRel);
      } else out[entryRel] = `file mode ${stats.mode.toString(8)} ${(await readFile(full)).toString('base64')}`;
    }
  };
  await walk('');
  return out;
}

type Started = { server: RunningServer } | { code: string; stderr: string };

/** Starts bucketd on `root`, or reports how it refused. */
async function startOrRefusal(root: string): Promise<Started> {
  try {
    // info: a repair may be logged at info level or above.
    return { server: await startServer({ root, args: ['--log-level', 'info'] }) };
  } catch (error) {
    const match = /^bucketd exited with (\S+): ([\s\S]*)$/.exec(error instanceof Error ? error.message : String(error));
    if (!match) throw error;
    return { code: match[1]!, stderr: match[2]! };
  }
}

async function upload(client: BucketClient, bucket: string, name: string, data: Buffer): Promise<void> {
  const stored = await client.upload(bucket, name, Readable.from([data]), data.length);
  assert.equal(stored.sha256, sha(data));
}

async function download(client: BucketClient, bucket: string, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (chunks.push(chunk), done()) });
  await client.download(bucket, name, sink);
  return Buffer.concat(chunks);
}

/** Every kind of change the store makes: create, upload, replace, delete, force-delete. */
async function useTheStore(port: number): Promise<void> {
  const client = await BucketClient.connect({ port });
  try {
    assert.deepEqual((await client.listBuckets()).map((b) => b.name), ['box']);
    await client.listFiles('box');
    await upload(client, 'box', 'f.txt', Buffer.from('second version of f\n')); // replaces
    await upload(client, 'box', 'g.txt', Buffer.from('g\n'));
    assert.equal((await download(client, 'box', 'f.txt')).toString(), 'second version of f\n');
    const files = await client.listFiles('box');
    assert.deepEqual(files.map((f) => [f.name, f.sha256]), [
      ['f.txt', sha(Buffer.from('second version of f\n'))],
      ['g.txt', sha(Buffer.from('g\n'))],
    ]);
    await client.deleteFile('box', 'g.txt');
    await client.createBucket('other');
    await client.deleteBucket('other');
    assert.deepEqual(await client.deleteBucket('box', { force: true }), { deletedFiles: 1 });
    await client.createBucket('box');
    await upload(client, 'box', 'f.txt', Buffer.from('third\n'));
    await upload(client, 'box', 'f.txt', Buffer.from('fourth\n'));
    assert.deepEqual(await client.deleteBucket('box', { force: true }), { deletedFiles: 1 });
    assert.deepEqual(await client.listBuckets(), []);
  } finally {
    await client.exit();
  }
}

for (const c of CASES) {
  test(`${c.rel} replaced by a symlink out of ROOT: nothing outside ROOT changes`, async () => {
    const base = await tempDir();
    const root = path.join(base, 'root');
    const outside = path.join(base, 'outside');
    let server: RunningServer | undefined;
    try {
      // A store in use: a bucket with a file and its checksum record.
      const first = await startServer({ root });
      const setup = await BucketClient.connect({ port: first.port });
      await setup.createBucket('box');
      await upload(setup, 'box', 'f.txt', Buffer.from('first version of f\n'));
      await setup.exit();
      assert.equal(await first.stop(), 0);

      // Then the path is replaced by a symlink to outside ROOT.
      await makeOutside(outside);
      const planted = path.join(root, c.rel);
      await rm(planted, { recursive: true, force: true });
      await mkdir(path.dirname(planted), { recursive: true });
      await symlink(path.join(outside, c.target), planted);
      const before = await snapshot(outside);

      const started = await startOrRefusal(root);
      let stderr: string;
      if ('server' in started) {
        server = started.server;
        try {
          await useTheStore(server.port);
        } finally {
          stderr = server.stderr();
          assert.equal(await server.stop(), 0);
          server = undefined;
        }
      } else {
        stderr = started.stderr;
      }

      // First what matters most: nothing outside ROOT changed.
      assert.deepEqual(await snapshot(outside), before, `the folder outside ROOT changed; server stderr: ${stderr}`);
      assert.deepEqual((await readdir(base)).sort(), ['outside', 'root'], 'something was created beside ROOT');

      if ('server' in started) {
        if (c.checkedAtStart) {
          const logged = stderr.split('\n').filter((line) => line.includes(c.rel));
          assert.ok(logged.length > 0, `the server ran on a symlinked ${c.rel} without a log line naming it; stderr: ${stderr}`);
        }
      } else {
        assert.equal(started.code, '1', `refused with exit code ${started.code}; stderr: ${stderr}`);
        const lines = stderr.trim().split('\n');
        assert.equal(lines.length, 1, `one line on stderr, got: ${stderr}`);
        assert.ok(lines[0]!.includes(c.rel), `the refusal names ${c.rel}: ${lines[0]}`);
      }
    } finally {
      await server?.stop();
      await rm(base, { recursive: true, force: true });
    }
  });
}
