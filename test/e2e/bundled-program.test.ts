/**
 * The bucket program is built as one file (scripts/bundle-cli.mjs), so a
 * command starts without loading our modules one by one. It must need no
 * module of ours beside it, and what it starts from files of its own (the
 * worker thread that hashes a large upload) must still be found from where
 * the bundle lives.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runBucket } from '../helpers/cli.js';
import { BUCKET, startServer, tempDir, type RunningServer } from '../helpers/server.js';

let server: RunningServer;
let work: string;

before(async () => {
  server = await startServer();
  work = await tempDir();
});

after(async () => {
  await server.stop();
  await rm(work, { recursive: true, force: true });
});

test('the bucket program imports packages and Node modules only, none of our files', async () => {
  const program = await readFile(BUCKET, 'utf8');
  const specifiers = [...program.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g)].map((match) => match[1]!);
  assert.ok(specifiers.length > 0, 'no imports found: the pattern no longer matches the bundle');
  const relative = specifiers.filter((specifier) => specifier.startsWith('.') || specifier.startsWith('/'));
  assert.deepEqual(relative, [], `the program loads files of ours one by one: ${relative.join(', ')}`);
});

test('a file large enough to be hashed in a worker thread goes up whole through the bundled program', async () => {
  // 64 MiB: from this size the upload's SHA-256 is computed in a worker (client/files.ts).
  const data = randomBytes(64 * 1024 * 1024);
  const local = path.join(work, 'large.bin');
  await writeFile(local, data);
  const bucket = (...args: string[]): ReturnType<typeof runBucket> => runBucket(['--port', String(server.port), ...args], '', { cwd: work, timeoutMs: 120_000 });
  assert.equal((await bucket('mb', 'bundle')).code, 0);
  const put = await bucket('put', local, 'bundle/large.bin');
  assert.equal(put.code, 0, put.stderr);
  const stat = await bucket('stat', 'bundle/large.bin');
  assert.equal(stat.code, 0, stat.stderr);
  assert.match(stat.stdout, new RegExp(createHash('sha256').update(data).digest('hex')));
});
