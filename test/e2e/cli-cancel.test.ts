/** Ctrl-C during a transfer cancels it and returns to the prompt; nothing half-stored. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { BucketClient } from '../../src/client/index.js';
import { BUCKET, startServer, tempDir } from '../helpers/server.js';

test('SIGINT during an upload cancels it, and the session goes on', async () => {
  const base = existsSync('/dev/shm') ? '/dev/shm' : undefined;
  const server = await startServer({ base });
  const work = await tempDir('bucketd-cancel-', base);
  try {
    // A large local file, so the upload is still running when interrupted.
    const big = path.join(work, 'big.bin');
    const handle = await open(big, 'w');
    const block = Buffer.alloc(1024 * 1024, 0x41);
    for (let i = 0; i < 1024; i++) await handle.write(block);
    await handle.close();

    const child = spawn(process.execPath, [BUCKET, '--port', String(server.port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.stdin.write('NEW_BUCKET\nbox\n');
    while (!stdout.includes('created bucket')) await new Promise((r) => setTimeout(r, 10));
    child.stdin.write(`UPLOAD_FILE\n${big}\n\nbox\n`);
    // Wait until bytes are arriving on the server, then press Ctrl-C.
    const tmp = path.join(server.root, '.bucketd', 'tmp');
    const deadline = Date.now() + 10_000;
    while ((await readdir(tmp)).length === 0) {
      assert.ok(Date.now() < deadline, 'the upload never started');
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGINT');
    while (!stderr.includes('cancelled')) {
      assert.ok(Date.now() < deadline + 10_000, `no cancel message; stdout: ${stdout} stderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    child.stdin.end('LIST_FILE\nbox\nEXIT\n');
    assert.equal(await exited, 0);
    assert.match(stderr, /^error: transfer cancelled; nothing was kept$/m);
    assert.match(stdout, /bucket "box" is empty/);
    assert.match(stdout, /goodbye/);
    assert.doesNotMatch(stdout, /uploaded/);
    const client = await BucketClient.connect({ port: server.port });
    assert.deepEqual(await client.listFiles('box'), []);
    await client.exit();
    // The server dropped the partial upload.
    while ((await readdir(tmp)).length > 0) {
      assert.ok(Date.now() < deadline + 15_000, 'the partial upload was not removed');
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    await server.stop();
    await rm(work, { recursive: true, force: true });
  }
});
