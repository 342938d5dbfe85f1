/**
 * A client that vanishes or cancels mid-transfer leaves nothing half-stored
 * on either side: what it sent waits, staged and invisible, for a resume.
 */
import assert from 'node:assert/strict';
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { BucketClient, ClientError, downloadFile } from '../../src/client/index.js';
import { RawPeer } from '../helpers/raw.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

/** An endless source of bytes that can be told when it has given some. */
function slowSource(onBytes: (total: number) => void): Readable {
  let total = 0;
  return new Readable({
    read() {
      setTimeout(() => {
        total += 64 * 1024;
        this.push(Buffer.alloc(64 * 1024, 0x61));
        onBytes(total);
      }, 2);
    },
  });
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A request's reply lines over a raw connection: a list's items, or (list = false) the one reply line. */
async function rawList(port: number, request: string, list = true): Promise<string[]> {
  const peer = await RawPeer.connect(port);
  try {
    peer.send(`${request}\n`);
    const head = await peer.line();
    if (!list) return [head];
    const count = Number(/^200,(\d+)/.exec(head)?.[1] ?? 'x');
    assert.ok(Number.isInteger(count), head);
    const items: string[] = [];
    for (let i = 0; i < count; i++) items.push(await peer.line());
    return items;
  } finally {
    peer.socket.destroy();
  }
}

function sinkOf(chunks: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
}

describe('interrupted transfers', () => {
  let server: RunningServer;
  let work: string;
  /** Staged uploads' parts: where an upload's bytes wait until it is committed. */
  const stagedParts = async (): Promise<string[]> => (await readdir(path.join(server.root, '.bucketd', 'uploads'))).filter((name) => name.endsWith('.part'));

  before(async () => {
    server = await startServer();
    work = await tempDir();
    const client = await BucketClient.connect({ port: server.port });
    await client.createBucket('box');
    await client.upload('box', 'keep.txt', Readable.from([Buffer.from('old content')]), 11);
    await client.exit();
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
    await rm(work, { recursive: true, force: true });
  });

  test('a client that disconnects mid-upload leaves its bytes staged for a resume, nothing visible, and the old file intact', async () => {
    const peer = await RawPeer.connect(server.port);
    peer.send('UPLOAD_FILE,box,keep.txt,10000000\n');
    const id = /^150,keep\.txt,10000000,([0-9a-f]{32}) /.exec(await peer.line())?.[1];
    assert.ok(id, 'the go-ahead names the upload');
    peer.send(Buffer.alloc(3_000_000, 7));
    await waitFor(async () => (await stagedParts()).length === 1);
    peer.socket.destroy(); // vanishes: no FIN courtesy, no trailer
    const client = await BucketClient.connect({ port: server.port });
    // Listed once the server has made its bytes durable at the break.
    let listed: { id: string; held: number } | undefined;
    await waitFor(async () => {
      const lines = await rawList(server.port, 'LIST_UPLOADS');
      listed = lines.map((line) => line.split(',')).map(([upload = '', , , , held = '0']) => ({ id: upload, held: Number(held) })).find((upload) => upload.id === id);
      return listed !== undefined;
    });
    assert.ok(listed!.held > 0 && listed!.held <= 3_000_000, `held ${listed!.held}`);
    const files = await client.listFiles('box');
    assert.deepEqual(files.map((f) => [f.name, f.size]), [['keep.txt', 11]]);
    assert.equal((await client.download('box', 'keep.txt', sinkOf([]))).size, 11);
    // Aborted, its bytes are gone.
    assert.match((await rawList(server.port, `ABORT_UPLOAD,${id}`, false))[0]!, new RegExp(`^200,${id},${listed!.held} `));
    await waitFor(async () => (await stagedParts()).length === 0);
    await client.exit();
  });

  test('cancelling an upload through its signal stores nothing; the server serves on', async () => {
    const client = await BucketClient.connect({ port: server.port });
    const controller = new AbortController();
    const source = slowSource((total) => {
      if (total >= 1_000_000) controller.abort();
    });
    await assert.rejects(client.upload('box', 'cancelled.bin', source, 50_000_000, { signal: controller.signal }), (error) => {
      assert.ok(error instanceof ClientError);
      assert.equal(error.code, 'CANCELLED');
      // Nothing is kept to resume, so no id is given for it.
      assert.equal(error.uploadId, undefined);
      return true;
    });
    // Cancelled on purpose, the upload's staged bytes are aborted too.
    await waitFor(async () => (await stagedParts()).length === 0);
    // The same client goes on, on a fresh connection.
    assert.ok(!client.closed);
    assert.deepEqual((await client.listFiles('box')).map((f) => f.name), ['keep.txt']);
    await client.exit();
  });

  test('a cancelled download leaves no local file, not even a temporary one', async () => {
    const client = await BucketClient.connect({ port: server.port });
    const big = Buffer.alloc(64 * 1024 * 1024, 0x62);
    await client.upload('box', 'big.bin', Readable.from([big]), big.length);
    const controller = new AbortController();
    const target = path.join(work, 'big.bin');
    await assert.rejects(
      downloadFile(client, 'box', 'big.bin', target, {
        signal: controller.signal,
        onProgress: (done) => {
          if (done > 1_000_000) controller.abort();
        },
      }),
      (error) => error instanceof ClientError && error.code === 'CANCELLED',
    );
    await assert.rejects(stat(target));
    assert.deepEqual(await readdir(work), []);
  });

  test('a download cut short by the server dying fails with CONNECTION_LOST, never succeeds', async () => {
    const other = await startServer();
    const client = await BucketClient.connect({ port: other.port });
    await client.createBucket('box');
    const big = Buffer.alloc(64 * 1024 * 1024, 0x63);
    await client.upload('box', 'big.bin', Readable.from([big]), big.length);
    let killed = false;
    const slowSink = new Writable({
      highWaterMark: 1024,
      write(_chunk, _encoding, done) {
        if (!killed) {
          killed = true;
          other.child.kill('SIGKILL');
        }
        setTimeout(done, 1);
      },
    });
    await assert.rejects(client.download('box', 'big.bin', slowSink), (error) => error instanceof ClientError && error.code === 'CONNECTION_LOST');
    await other.stop();
  });
});
