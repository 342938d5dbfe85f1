/**
 * A full disk: a real, tiny tmpfs mounted for the test (needs root; skipped
 * otherwise). Uploads that do not fit are refused up front or mid-body with
 * NO_SPACE, and nothing partial is left.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { BucketClient } from '../../src/client/index.js';
import { BucketError } from '../../src/errors.js';
import { mountTinyDisk, unmountTinyDisk } from '../helpers/disk.js';
import { RawPeer } from '../helpers/raw.js';
import { startServer, tempDir } from '../helpers/server.js';

const MiB = 1024 * 1024;


/** A source that gives its bytes slowly, so two uploads overlap. */
function trickle(size: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) {
        this.push(null);
        return;
      }
      const length = Math.min(64 * 1024, size - sent);
      sent += length;
      setTimeout(() => this.push(Buffer.alloc(length, 0x5a)), 3);
    },
  });
}

test('a full disk gives NO_SPACE and leaves nothing partial', async (t) => {
  const base = await tempDir();
  const disk = path.join(base, 'disk');
  await mkdir(disk);
  if (process.getuid?.() !== 0 || !mountTinyDisk(disk, '3m')) {
    t.skip('needs root to mount a small tmpfs');
    await rm(base, { recursive: true, force: true });
    return;
  }
  const server = await startServer({ root: path.join(disk, 'root') });
  try {
    const client = await BucketClient.connect({ port: server.port });
    await client.createBucket('box');

    // Refused before any byte moves: the declared size cannot fit.
    await assert.rejects(client.upload('box', 'huge.bin', trickle(10 * MiB), 10 * MiB), (error) => error instanceof BucketError && error.code === 'NO_SPACE');
    assert.equal((await client.hello()).name, 'bucketd');

    // Each fits alone, not both: the disk fills while the bodies arrive.
    const clients = await Promise.all([BucketClient.connect({ port: server.port }), BucketClient.connect({ port: server.port })]);
    const results = await Promise.allSettled(clients.map((c, i) => c.upload('box', `part-${i}.bin`, trickle(2 * MiB), 2 * MiB)));
    const failures = results.filter((r) => r.status === 'rejected');
    assert.ok(failures.length >= 1, 'at least one upload must fail');
    for (const failure of failures) {
      const reason = (failure as PromiseRejectedResult).reason as { code?: string };
      assert.ok(reason.code === 'NO_SPACE' || reason.code === 'CONNECTION_LOST', String(reason.code));
    }
    // What is listed is whole; nothing is left in the hidden area.
    const listed = await client.listFiles('box');
    for (const file of listed) assert.equal(file.size, 2 * MiB);
    assert.equal(listed.length, 2 - failures.length);
    assert.deepEqual(await readdir(path.join(server.root, '.bucketd', 'tmp')), []);
    for (const file of listed) assert.equal((await stat(path.join(server.root, 'box', file.name))).size, 2 * MiB);
    // The server still serves.
    assert.equal((await client.hello()).name, 'bucketd');
    await client.exit();
    for (const c of clients) c.close();
  } finally {
    await server.stop();
    unmountTinyDisk(disk);
    await rm(base, { recursive: true, force: true });
  }
});

test('an upload sent at once that fills the disk mid-body gets NO_SPACE, its rest is dropped, and the connection goes on', async (t) => {
  const base = await tempDir();
  const disk = path.join(base, 'disk');
  await mkdir(disk);
  if (process.getuid?.() !== 0 || !mountTinyDisk(disk, '4m')) {
    t.skip('needs root to mount a small tmpfs');
    await rm(base, { recursive: true, force: true });
    return;
  }
  const server = await startServer({ root: path.join(disk, 'root') });
  try {
    const peer = await RawPeer.connect(server.port);
    peer.send('NEW_BUCKET,box\n');
    assert.match(await peer.line(), /^201,/);
    const body = Buffer.alloc(2 * MiB, 0x61);
    peer.send(`UPLOAD_FILE,box,big.bin,${body.length},${createHash('sha256').update(body).digest('hex')}\n`);
    peer.send(body.subarray(0, MiB));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Someone else takes the room the upload was counting on.
    await writeFile(path.join(disk, 'filler.bin'), Buffer.alloc(3 * MiB - 64 * 1024)).catch(() => undefined);
    // The rest in pieces, so that the disk's refusal meets the body midway.
    for (let at = MiB; at < body.length; at += 64 * 1024) {
      peer.send(body.subarray(at, at + 64 * 1024));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    peer.send('HELLO\n');
    assert.match(await peer.line(10_000), /^507,NO_SPACE /);
    assert.match(await peer.line(), /^200,bucketd,/, 'the next request is read where it starts');
    peer.send('LIST_FILE,box\n');
    assert.equal(await peer.line(), '200,0 0 files in "box"');
    assert.deepEqual(await readdir(path.join(server.root, '.bucketd', 'uploads')), [], 'nothing is kept of it');
    peer.close();
  } finally {
    await server.stop();
    unmountTinyDisk(disk);
    await rm(base, { recursive: true, force: true });
  }
});
