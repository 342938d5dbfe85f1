/** Ctrl-C during a transfer cancels it and returns to the prompt; nothing half-stored. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { BucketClient } from '../../src/client/index.js';
import { spawnBucket } from '../helpers/cli.js';
import { startServer, tempDir } from '../helpers/server.js';

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

    const live = spawnBucket(['--port', String(server.port)]);
    const stdin = live.child.stdin!;
    stdin.write('NEW_BUCKET\nbox\n');
    await live.waitFor('created bucket');
    stdin.write(`UPLOAD_FILE\n${big}\n\nbox\n`);
    // Wait until bytes are arriving on the server, then press Ctrl-C.
    const tmp = path.join(server.root, '.bucketd', 'uploads');
    const deadline = Date.now() + 10_000;
    while ((await readdir(tmp)).length === 0) {
      assert.ok(Date.now() < deadline, 'the upload never started');
      await new Promise((r) => setTimeout(r, 5));
    }
    live.child.kill('SIGINT');
    await live.waitFor('cancelled');
    stdin.end('LIST_FILE\nbox\nEXIT\n');
    assert.equal(await live.exited, 0);
    assert.match(live.stderr, /^error: transfer cancelled; nothing was kept$/m);
    assert.match(live.stdout, /bucket "box" is empty/);
    assert.match(live.stdout, /goodbye/);
    assert.doesNotMatch(live.stdout, /uploaded/);
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
