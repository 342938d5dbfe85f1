/** The bucket program driven through piped input, as scripts use it. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runBucket, spawnBucket } from '../helpers/cli.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

describe('bucket with piped input', () => {
  let server: RunningServer;
  let work: string;
  let args: string[];
  const bucket = (input: string[], cwd?: string) => runBucket(args, input.map((line) => `${line}\n`).join(''), { cwd });

  before(async () => {
    server = await startServer();
    args = ['--port', String(server.port)];
    work = await tempDir();
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
    await rm(work, { recursive: true, force: true });
  });

  test('a whole session: every command, asked for in the seed order', async () => {
    const name = 'mi foto, día 1 🎉.jpg';
    const data = randomBytes(200_000);
    await writeFile(path.join(work, name), data);
    await writeFile(path.join(work, 'notes.txt'), 'some notes\n');
    await mkdir(path.join(work, 'downloads'));
    const result = await bucket([
      'HELLO',
      'NEW_BUCKET', 'photos',
      'LIST_BUCKET',
      // UPLOAD_FILE: the folder that holds the file, its name, the bucket
      'UPLOAD_FILE', work, name, 'photos',
      // UPLOAD_FILE: the file itself, a name to store it under, the bucket
      'UPLOAD_FILE', path.join(work, 'notes.txt'), 'renamed notes.txt', 'photos',
      'LIST_FILE', 'photos',
      // DOWNLOAD_FILE: the bucket, the file's name, where to save it
      'DOWNLOAD_FILE', 'photos', name, path.join(work, 'downloads'),
      'DELETE_FILE', 'photos', 'renamed notes.txt',
      'LIST_FILE', 'photos',
      'EXIT',
    ]);
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
    const out = result.stdout;
    assert.match(out, /^bucketd \d+\.\d+\.\d+ \(protocol 5\) at 127\.0\.0\.1:\d+$/m);
    assert.match(out, /^created bucket "photos"$/m);
    assert.match(out, /^CREATED +NAME$/m);
    assert.match(out, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  photos$/m);
    assert.match(out, /^1 bucket$/m);
    assert.match(out, /^uploaded "mi foto, día 1 🎉\.jpg" to bucket "photos" \(195 KiB, sha256 [0-9a-f]{64}\)$/m);
    assert.match(out, /^uploaded "renamed notes\.txt" to bucket "photos" \(11 B, sha256 [0-9a-f]{64}\)$/m);
    // Fixed-width columns first, the name last, so that rows stream.
    assert.match(out, /^    SIZE  MODIFIED {13}SHA-256 {11}NAME$/m);
    assert.match(out, /^ 195 KiB  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  [0-9a-f]{16}  mi foto, día 1 🎉\.jpg$/m);
    assert.match(out, /^    11 B  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  [0-9a-f]{16}  renamed notes\.txt$/m);
    assert.match(out, /^2 files, 195 KiB$/m);
    assert.match(out, /^downloaded "mi foto, día 1 🎉\.jpg" to .*downloads\/mi foto, día 1 🎉\.jpg \(195 KiB, sha256 verified\)$/m);
    assert.match(out, /^deleted "renamed notes\.txt" from bucket "photos"$/m);
    assert.match(out, /^1 file, 195 KiB$/m);
    assert.match(out, /^goodbye$/m);
    assert.deepEqual(await readFile(path.join(work, 'downloads', name)), data);
  });

  test('the seed example works as it stands', async () => {
    const result = await runBucket(args, 'NEW_BUCKET\nseed-example\nEXIT\n');
    assert.equal(result.code, 0);
    assert.equal(result.stdout, 'created bucket "seed-example"\ngoodbye\n');
  });

  test('a command that is not exactly one of the nine gets an error and a new prompt', async () => {
    const result = await bucket(['hello', ' HELLO', 'HELLO ', 'Hello', 'HELP', 'HELLO', 'EXIT']);
    assert.equal(result.code, 1); // piped, and commands failed
    const errors = result.stderr.trim().split('\n');
    assert.equal(errors.length, 5);
    for (const line of errors) assert.match(line, /^error: unknown command ".*"/);
    assert.match(errors[0]!, /type HELLO/);
    assert.match(result.stdout, /^bucketd /m);
  });

  test('server errors are one line each, and the session goes on', async () => {
    // UPLOAD_FILE asks nothing more once its local path is not there.
    const result = await bucket(['NEW_BUCKET', 'Bad_Name', 'LIST_FILE', 'nosuchbucket', 'DELETE_FILE', 'photos', 'nosuchfile', 'UPLOAD_FILE', path.join(work, 'missing.txt'), 'HELLO']);
    assert.equal(result.code, 1);
    const errors = result.stderr.trim().split('\n');
    assert.equal(errors.length, 4, result.stderr);
    assert.match(errors[0]!, /^error: bucket names have 3-63 characters/);
    assert.match(errors[1]!, /^error: no bucket "nosuchbucket"$/);
    assert.match(errors[2]!, /^error: no file "nosuchfile" in bucket "photos"$/);
    assert.match(errors[3]!, /^error: no such local file or folder: .*missing\.txt$/);
    assert.match(result.stdout, /^bucketd /m);
  });

  test('DELETE_BUCKET asks before deleting files too', async () => {
    await writeFile(path.join(work, 'a.txt'), 'a');
    const setup = await bucket(['NEW_BUCKET', 'full', 'UPLOAD_FILE', path.join(work, 'a.txt'), '', 'full', 'EXIT']);
    assert.equal(setup.code, 0, setup.stderr);
    const declined = await bucket(['DELETE_BUCKET', 'full', 'n', 'LIST_BUCKET']);
    assert.match(declined.stdout, /^kept bucket "full"$/m);
    assert.match(declined.stdout, / full$/m);
    const accepted = await bucket(['DELETE_BUCKET', 'full', 'y', 'LIST_BUCKET']);
    assert.match(accepted.stdout, /^deleted bucket "full" and 1 file$/m);
    assert.doesNotMatch(accepted.stdout, / full$/m);
  });

  test('DOWNLOAD_FILE asks before replacing a local file; empty = the current folder', async () => {
    await writeFile(path.join(work, 'b.txt'), 'server copy');
    await bucket(['NEW_BUCKET', 'docs', 'UPLOAD_FILE', path.join(work, 'b.txt'), '', 'docs']);
    const here = path.join(work, 'here');
    await mkdir(here);
    const first = await bucket(['DOWNLOAD_FILE', 'docs', 'b.txt', ''], here);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(await readFile(path.join(here, 'b.txt'), 'utf8'), 'server copy');
    await writeFile(path.join(here, 'b.txt'), 'local edits');
    const declined = await bucket(['DOWNLOAD_FILE', 'docs', 'b.txt', '', 'n'], here);
    assert.match(declined.stdout, /^not downloaded$/m);
    assert.equal(await readFile(path.join(here, 'b.txt'), 'utf8'), 'local edits');
    const accepted = await bucket(['DOWNLOAD_FILE', 'docs', 'b.txt', '', 'y'], here);
    assert.match(accepted.stdout, /^downloaded /m);
    assert.equal(await readFile(path.join(here, 'b.txt'), 'utf8'), 'server copy');
    assert.deepEqual(await readdir(here), ['b.txt']);
  });

  test('end of input closes the session with exit code 0', async () => {
    const result = await runBucket(args, 'HELLO\n');
    assert.equal(result.code, 0);
    const empty = await runBucket(args, '');
    assert.equal(empty.code, 0);
  });

  test('input ending half-way through a command\'s questions is a failure: the command never ran', async () => {
    const half = await runBucket(args, 'UPLOAD_FILE\n/tmp\n');
    assert.equal(half.code, 1);
    assert.equal(half.stderr, 'error: input ended before UPLOAD_FILE had all it needs\n');
  });

  test('a refused connection is one clear line and a non-zero exit', async () => {
    const result = await runBucket(['--port', '1'], 'HELLO\n');
    assert.notEqual(result.code, 0);
    assert.equal(result.stderr, 'error: cannot connect to 127.0.0.1:1: connection refused (is bucketd running?)\n');
    assert.equal(result.stdout, '');
  });

  test('a bad option is a usage error, exit 2', async () => {
    const result = await runBucket(['--port', 'abc'], '');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^bucket: invalid port "abc"/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });
});

describe('bucket when the server goes away', () => {
  test('one clear line and a non-zero exit, never a stack trace', async () => {
    const server = await startServer();
    const live = spawnBucket(['--port', String(server.port)]);
    live.child.stdin!.write('HELLO\n');
    await live.waitFor('bucketd');
    await server.stop('SIGKILL');
    live.child.stdin!.end('LIST_BUCKET\nHELLO\n');
    assert.notEqual(await live.exited, 0);
    assert.match(live.stderr, /^error: (lost the connection to the server at|cannot connect to) 127\.0\.0\.1:\d+/);
    assert.equal(live.stderr.trim().split('\n').length, 1, live.stderr);
  });
});

describe('bucket after the server closed an idle connection', () => {
  test('reconnects by itself and runs the command', async () => {
    const server = await startServer({ args: ['--idle-timeout', '0.3'] });
    const live = spawnBucket(['--port', String(server.port)]);
    live.child.stdin!.write('HELLO\n');
    await live.waitFor('bucketd');
    await new Promise((resolve) => setTimeout(resolve, 800)); // idle past the server's timeout
    live.child.stdin!.end('LIST_BUCKET\nEXIT\n');
    assert.equal(await live.exited, 0);
    assert.equal(live.stderr, '');
    assert.match(live.stdout, /no buckets yet/);
    assert.match(live.stdout, /goodbye/);
    assert.equal(await server.stop(), 0);
  });
});
