/**
 * put -r and get -r of a tree of a few hundred files, with names in many
 * scripts, spaces, commas and emoji, over several connections: the copy
 * back is byte for byte the tree sent. A file the server refuses does not
 * stop the rest; the run ends non-zero with a summary.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runBucket, type CliResult } from '../helpers/cli.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

const WORDS = ['Ελληνικά', 'русский', '中文', '日本語', 'العربية', 'עברית', 'हिन्दी', 'ไทย', 'emoji 🎉🐈', 'spaces and, commas', 'café', 'plain'];

let server: RunningServer;
let work: string;
const bucket = (...args: string[]): Promise<CliResult> => runBucket(['--port', String(server.port), ...args], '', { cwd: work, timeoutMs: 120_000 });

/** Every file under `dir`, relative path -> bytes. */
async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    files.set(path.relative(dir, full), await readFile(full));
  }
  return files;
}

before(async () => {
  server = await startServer();
  work = await tempDir();
  const tree = path.join(work, 'tree');
  let n = 0;
  for (const first of WORDS) {
    for (const second of WORDS.slice(0, 5)) {
      const folder = path.join(tree, first, second);
      await mkdir(folder, { recursive: true });
      for (let i = 0; i < 5; i++) await writeFile(path.join(folder, `${WORDS[(n + i) % WORDS.length]} ${n++}.bin`), randomBytes(n % 7 === 0 ? 0 : (n * 131) % 9000));
    }
  }
  await writeFile(path.join(tree, 'top level, file.txt'), 'top');
  assert.equal((await bucket('mb', 'trees')).code, 0);
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

test('put -r then get -r: a tree of a few hundred files comes back byte for byte', async () => {
  const sent = await snapshot(path.join(work, 'tree'));
  assert.ok(sent.size > 300, `${sent.size} files`);
  const put = await bucket('--json', 'put', '-r', '--parallel', '3', 'tree', 'trees/backup/');
  assert.equal(put.code, 0, put.stderr);
  const lines = put.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.equal(lines.filter((line) => line.type === 'uploaded').length, sent.size);
  assert.deepEqual(lines.at(-1), { type: 'summary', verb: 'put', done: sent.size, failed: 0, bytes: [...sent.values()].reduce((sum, bytes) => sum + bytes.length, 0) });

  const listed = await bucket('ls', '-r', 'trees/backup/tree/');
  assert.equal(listed.stdout.trim().split('\n').length, sent.size);

  const get = await bucket('get', '-r', '--parallel', '4', 'trees/backup/tree/', 'copy');
  assert.equal(get.code, 0, get.stderr);
  assert.match(get.stdout, new RegExp(`get: ${sent.size} files \\(`));
  assert.deepEqual(await snapshot(path.join(work, 'copy')), sent);

  // Again, without --force: every file is in the way, nothing is replaced.
  const again = await bucket('get', '-r', 'trees/backup/tree/', 'copy');
  assert.equal(again.code, 5);
  assert.match(again.stdout, new RegExp(`get: 0 files \\(0 B\\), ${sent.size} failed`));
  const forced = await bucket('get', '-r', '--force', 'trees/backup/tree/Ελληνικά/', 'copy/Ελληνικά');
  assert.equal(forced.code, 0, forced.stderr);
});

test('a file the server refuses does not stop the others; the exit is non-zero with a summary', async () => {
  const partial = path.join(work, 'partial');
  await mkdir(partial);
  await writeFile(path.join(partial, 'good one.txt'), 'good');
  await writeFile(path.join(partial, 'bad\u0001name.txt'), 'refused: a control character');
  await writeFile(path.join(partial, 'good two.txt'), 'good too');
  const put = await bucket('put', '-r', 'partial', 'trees/');
  assert.equal(put.code, 2, 'INVALID_FILE_NAME is a usage-class failure');
  assert.match(put.stdout, /put: 2 files \(12 B\), 1 failed\n$/);
  assert.match(put.stderr, /^error: partial\/bad.name\.txt: file names are/);
  assert.equal((await bucket('ls', 'trees/partial/')).stdout, 'partial/good one.txt\npartial/good two.txt\n');
});
