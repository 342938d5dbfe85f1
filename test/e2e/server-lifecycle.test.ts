/** How bucketd starts, refuses, times out and stops. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { BucketClient } from '../../src/client/index.js';
import { RawPeer } from '../helpers/raw.js';
import { BUCKETD, startServer, tempDir } from '../helpers/server.js';

function runBucketd(args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string; child: ReturnType<typeof spawn> }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BUCKETD, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => {
      stdout += t;
      // A server that started is stopped at once: this only checks startup.
      if (stdout.includes('listening on')) child.kill('SIGTERM');
    });
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.once('exit', (code) => resolve({ code, stdout, stderr, child }));
    child.stdin.end(input);
  });
}

test('without ROOT, bucketd reads it from standard input and creates it with its parents', async () => {
  const base = await tempDir();
  try {
    const root = path.join(base, 'deep', 'er', 'root');
    const result = await runBucketd(['--port', '0'], `${root}\n`);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^bucketd \S+ listening on 127\.0\.0\.1:\d+ \(root .*root\)\n$/);
    assert.ok((await stat(root)).isDirectory());
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('with no ROOT at all, bucketd exits 2 with a usage line', async () => {
  const result = await runBucketd(['--port', '0'], '');
  assert.equal(result.code, 2);
  assert.match(result.stderr, /no ROOT folder given\nusage: bucketd/);
  assert.equal(result.stdout, '');
});

test('a ROOT that is a file is refused in one line', async () => {
  const base = await tempDir();
  try {
    const file = path.join(base, 'not-a-folder');
    await writeFile(file, 'x');
    const result = await runBucketd(['--port', '0', file], '');
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `bucketd: cannot use ${file} as the root folder: it is not a folder\n`);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('bad options and a port in use are one line each, never a stack trace', async () => {
  const badPort = await runBucketd(['--port', '99999', '/tmp/x'], '');
  assert.equal(badPort.code, 2);
  assert.match(badPort.stderr, /^bucketd: invalid port "99999"/);
  const unknown = await runBucketd(['--frobnicate', '/tmp/x'], '');
  assert.equal(unknown.code, 2);
  const server = await startServer();
  const root = await tempDir();
  try {
    const busy = await runBucketd(['--port', String(server.port), root], '');
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /^bucketd: cannot listen on 127\.0\.0\.1:\d+: address already in use\n$/);
  } finally {
    await server.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('idle connections are closed with IDLE_TIMEOUT after the configured time', async () => {
  const server = await startServer({ args: ['--idle-timeout', '0.3'] });
  const peer = await RawPeer.connect(server.port);
  peer.send('HELLO\n');
  assert.match(await peer.line(), /^200,/);
  assert.match(await peer.line(2000), /^408,IDLE_TIMEOUT /);
  await peer.closedByPeer();
  // The library's next call reports it; a new connection works.
  const client = await BucketClient.connect({ port: server.port });
  await new Promise((resolve) => setTimeout(resolve, 600));
  await assert.rejects(client.hello(), (error: { code?: string }) => error.code === 'IDLE_TIMEOUT' || error.code === 'CONNECTION_LOST');
  const fresh = await BucketClient.connect({ port: server.port });
  assert.equal((await fresh.hello()).name, 'bucketd');
  fresh.close();
  assert.equal(await server.stop(), 0);
});

test('an upload left idle is closed with IDLE_TIMEOUT, stores nothing, and logs no error', async () => {
  const server = await startServer({ args: ['--idle-timeout', '0.3', '--log-level', 'info'] });
  const peer = await RawPeer.connect(server.port);
  peer.send('NEW_BUCKET,box\nUPLOAD_FILE,box,stalled.bin,1000\n');
  assert.match(await peer.line(), /^201,/);
  assert.match(await peer.line(), /^150,/);
  peer.send(Buffer.alloc(10)); // then nothing
  assert.match(await peer.line(2000), /^408,IDLE_TIMEOUT /);
  await peer.closedByPeer();
  const client = await BucketClient.connect({ port: server.port });
  assert.deepEqual(await client.listFiles('box'), []);
  await client.exit();
  assert.equal(await server.stop(), 0);
  assert.doesNotMatch(server.stderr(), / error /, server.stderr());
});

test('connections past --max-connections are refused with TOO_MANY_CONNECTIONS', async () => {
  const server = await startServer({ args: ['--max-connections', '2'] });
  const first = await RawPeer.connect(server.port);
  const second = await RawPeer.connect(server.port);
  first.send('HELLO\n');
  second.send('HELLO\n');
  await first.line();
  await second.line();
  const third = await RawPeer.connect(server.port);
  assert.match(await third.line(), /^503,TOO_MANY_CONNECTIONS /);
  await third.closedByPeer();
  first.close();
  second.close();
  assert.equal(await server.stop(), 0);
});

test('SIGTERM lets an upload in flight finish, closes idle clients, and exits 0', async () => {
  const server = await startServer();
  const setup = await BucketClient.connect({ port: server.port });
  await setup.createBucket('box');
  const idle = await RawPeer.connect(server.port);
  const size = 8 * 1024 * 1024;
  let pushed = 0;
  const source = new Readable({
    read() {
      if (pushed === 0) server.child.kill('SIGTERM'); // mid-upload
      if (pushed >= size) {
        this.push(null);
        return;
      }
      pushed += 256 * 1024;
      setTimeout(() => this.push(Buffer.alloc(256 * 1024, 1)), 5);
    },
  });
  const stored = await setup.upload('box', 'late.bin', source, size);
  assert.equal(stored.size, size);
  assert.match(await idle.line(), /^503,SHUTTING_DOWN /);
  const code = await new Promise<number | null>((resolve) => {
    if (server.child.exitCode !== null) resolve(server.child.exitCode);
    else server.child.once('exit', resolve);
  });
  assert.equal(code, 0);
  assert.equal((await stat(path.join(server.root, 'box', 'late.bin'))).size, size);
  await server.stop();
});

test('an upload that stalls mid-body is timed out and leaves nothing behind', async () => {
  const server = await startServer({ args: ['--idle-timeout', '0.3'] });
  const peer = await RawPeer.connect(server.port);
  peer.send('NEW_BUCKET,box\n');
  assert.match(await peer.line(), /^201,/);
  peer.send('UPLOAD_FILE,box,stalled.bin,1000000\n');
  assert.match(await peer.line(), /^150,/);
  peer.send(Buffer.alloc(300_000, 1)); // ...and then nothing more
  assert.match(await peer.line(3000), /^408,IDLE_TIMEOUT /);
  await peer.closedByPeer();
  const deadline = Date.now() + 3000;
  const { readdir } = await import('node:fs/promises');
  while ((await readdir(path.join(server.root, '.bucketd', 'tmp'))).length > 0) {
    assert.ok(Date.now() < deadline, 'the temporary file was not removed');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.deepEqual(await readdir(path.join(server.root, 'box')), []);
  assert.equal(await server.stop(), 0);
});
