/**
 * UPLOAD_FILE checks its local path as soon as it is given: the file
 * itself, or the folder that holds it (then the file's name is asked, and
 * checked). Nothing more is asked for a path that is not there.
 */
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runBucket } from '../helpers/cli.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

describe('UPLOAD_FILE and its local path', () => {
  let server: RunningServer;
  let work: string;
  const bucket = (lines: string[]) => runBucket(['--port', String(server.port)], lines.map((line) => `${line}\n`).join(''), { cwd: work });

  before(async () => {
    server = await startServer();
    work = await tempDir();
    await mkdir(path.join(work, 'photos', 'holiday'), { recursive: true });
    await writeFile(path.join(work, 'photos', 'cat.jpg'), 'meow');
    await writeFile(path.join(work, 'top.txt'), 'top');
    assert.equal((await bucket(['NEW_BUCKET', 'box'])).code, 0);
  });
  after(async () => {
    await server.stop();
    await rm(work, { recursive: true, force: true });
  });

  test('a path that is not there: one error, and the next line is the next command', async () => {
    const result = await bucket(['UPLOAD_FILE', 'nowhere/cat.jpg', 'HELLO']);
    assert.equal(result.stderr, 'error: no such local file or folder: nowhere/cat.jpg\n');
    assert.match(result.stdout, /^bucketd /);
    assert.equal(result.code, 1);
  });

  test('a folder is asked for the file name, never called "no such local file"', async () => {
    const result = await bucket(['UPLOAD_FILE', 'photos', 'cat.jpg', 'box']);
    assert.equal(result.stderr, '');
    assert.match(result.stdout, /^uploaded "cat\.jpg" to bucket "box" \(4 B, /);
    const here = await bucket(['UPLOAD_FILE', '.', 'top.txt', 'box']);
    assert.equal(here.stderr, '', 'the current folder is a folder too');
    assert.match(here.stdout, /^uploaded "top\.txt" to bucket "box"/);
  });

  test('a folder, then a name that is not in it: the error names the file; the bucket is not asked', async () => {
    const result = await bucket(['UPLOAD_FILE', 'photos', 'dog.jpg', 'HELLO']);
    assert.equal(result.stderr, `error: no such local file: ${path.join('photos', 'dog.jpg')}\n`);
    assert.match(result.stdout, /^bucketd /);
  });

  test('a folder, then a name that is a folder inside it: said as it is', async () => {
    const result = await bucket(['UPLOAD_FILE', 'photos', 'holiday', 'HELLO']);
    assert.equal(result.stderr, `error: ${path.join('photos', 'holiday')} is a folder, not a file\n`);
    assert.match(result.stdout, /^bucketd /);
  });

  test('the file itself: asks the name to store it under (empty = its own), then the bucket', async () => {
    const result = await bucket(['UPLOAD_FILE', 'photos/cat.jpg', '', 'box', 'UPLOAD_FILE', 'photos/cat.jpg', 'kitten.jpg', 'box']);
    assert.equal(result.stderr, '');
    assert.match(result.stdout, /^uploaded "cat\.jpg" to bucket "box"/m);
    assert.match(result.stdout, /^uploaded "kitten\.jpg" to bucket "box"/m);
  });
});
