/**
 * Piped sessions end with exit code 1 if any command failed, 0 if all
 * succeeded (as sftp -b, mc, aws and rclone do); and a [y/N] question never
 * eats the next command.
 */
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runBucket } from '../helpers/cli.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

describe('the exit code of a piped session', () => {
  let server: RunningServer;
  let work: string;
  const bucket = (lines: string[]) => runBucket(['--port', String(server.port)], lines.map((line) => `${line}\n`).join(''), { cwd: work });

  before(async () => {
    server = await startServer();
    work = await tempDir();
    await writeFile(path.join(work, 'notes.txt'), 'server copy');
    const setup = await bucket(['NEW_BUCKET', 'docs', 'UPLOAD_FILE', 'notes.txt', '', 'docs']);
    assert.equal(setup.code, 0, setup.stderr);
  });
  after(async () => {
    await server.stop();
    await rm(work, { recursive: true, force: true });
  });

  test('every command succeeded: 0, at EXIT and at end of input', async () => {
    assert.equal((await bucket(['HELLO', 'LIST_FILE', 'docs', 'EXIT'])).code, 0);
    assert.equal((await bucket(['HELLO', 'LIST_BUCKET'])).code, 0);
  });

  test('a command failed, and later ones succeeded: 1, at EXIT and at end of input', async () => {
    const atExit = await bucket(['LIST_FILE', 'nosuchbucket', 'HELLO', 'EXIT']);
    assert.equal(atExit.code, 1);
    assert.match(atExit.stdout, /^bucketd .*\ngoodbye\n$/);
    assert.equal(atExit.stderr, 'error: no bucket "nosuchbucket"\n');
    const atEnd = await bucket(['HELLO', 'NEW_BUCKET', 'docs', 'HELLO']);
    assert.equal(atEnd.code, 1);
    assert.equal(atEnd.stderr, 'error: bucket "docs" already exists\n');
  });

  test('an unknown command is a failure too', async () => {
    const result = await bucket(['hello', 'HELLO']);
    assert.equal(result.code, 1);
  });

  test('DOWNLOAD_FILE onto an existing file, then HELLO: the question does not eat HELLO', async () => {
    await writeFile(path.join(work, 'local.txt'), 'local edits');
    const result = await bucket(['DOWNLOAD_FILE', 'docs', 'notes.txt', 'local.txt', 'HELLO', 'EXIT']);
    assert.match(result.stdout, /^bucketd \S+ \(protocol 5\) at /m, 'HELLO ran');
    assert.match(result.stdout, /^goodbye$/m);
    assert.equal(result.stderr, 'error: not downloaded: local.txt already exists (answer y to replace it)\n');
    assert.equal(result.code, 1, 'the download the script asked for did not happen');
    assert.equal(await readFile(path.join(work, 'local.txt'), 'utf8'), 'local edits');
  });

  test('an explicit n keeps the local file and is no failure', async () => {
    await writeFile(path.join(work, 'kept.txt'), 'local edits');
    const result = await bucket(['DOWNLOAD_FILE', 'docs', 'notes.txt', 'kept.txt', 'n', 'HELLO']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^not downloaded\nbucketd /m);
    assert.equal(await readFile(path.join(work, 'kept.txt'), 'utf8'), 'local edits');
  });

  test('DELETE_BUCKET on a non-empty bucket, then LIST_BUCKET: the bucket is kept and LIST_BUCKET runs', async () => {
    const result = await bucket(['DELETE_BUCKET', 'docs', 'LIST_BUCKET']);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'error: kept bucket "docs": it holds 1 file (answer y to delete them too)\n');
    assert.match(result.stdout, / docs\n1 bucket\n$/);
  });
});
