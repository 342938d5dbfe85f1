/**
 * The server's seams, through an embedded BucketServer: every request ends
 * at one point that tells the hooks its command, outcome, status, bytes
 * and duration; a check before dispatch can refuse a request outright.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { BucketClient } from '../../src/client/client.js';
import { BucketError } from '../../src/errors.js';
import { BucketServer } from '../../src/server/server.js';
import type { CloseReason, RequestRecord, Session } from '../../src/server/session.js';
import { FsStorage } from '../../src/storage/fs/fs-storage.js';
import { RawPeer } from '../helpers/raw.js';
import { tempDir } from '../helpers/server.js';

test('every request ends at one point that knows what it did', async () => {
  const base = await tempDir();
  const records: Array<{ session: Session; record: RequestRecord }> = [];
  const closed: CloseReason[] = [];
  const opened: number[] = [];
  const server = new BucketServer({
    storage: await FsStorage.open(path.join(base, 'root')),
    port: 0,
    hooks: {
      onConnectionOpen: (session) => opened.push(session.id),
      onRequestEnd: (session, record) => records.push({ session, record }),
      onConnectionClose: (_session, reason) => closed.push(reason),
      beforeRequest: (_session, request) => {
        if (request.command === 'DELETE_BUCKET' && request.bucket === 'guarded') throw new BucketError('NO_SUCH_BUCKET', 'no bucket "guarded"');
      },
    },
  });
  const { port } = await server.listen();
  try {
    const client = await BucketClient.connect({ port });
    await client.createBucket('photos');
    await client.createBucket('guarded');
    await client.upload('photos', 'a.bin', Readable.from([Buffer.alloc(100_000, 1)]), 100_000);
    const sink: Buffer[] = [];
    const { Writable } = await import('node:stream');
    await client.download('photos', 'a.bin', new Writable({ write: (chunk: Buffer, _e, done) => (sink.push(chunk), done()) }));
    await assert.rejects(client.deleteBucket('guarded'), (error: unknown) => error instanceof BucketError && error.code === 'NO_SUCH_BUCKET');
    await client.listFiles('guarded'); // the hook refused the delete: the bucket is still there
    await assert.rejects(client.listFiles('nosuch'));
    await client.exit();
    const raw = await RawPeer.connect(port);
    raw.send('hello\r\n');
    await raw.line();
    raw.socket.end();
    const trailer = await RawPeer.connect(port);
    trailer.send('UPLOAD_FILE,photos,t.txt,3\n');
    await trailer.line();
    trailer.send('abcnot a trailer\n');
    await trailer.line();
    await trailer.closedByPeer();
    const big = await BucketClient.connect({ port });
    await big.upload('photos', 'big.bin', Readable.from([Buffer.alloc(16 * 1024 * 1024, 2)]), 16 * 1024 * 1024);
    await big.exit();
    const dropped = await RawPeer.connect(port);
    dropped.send('DOWNLOAD_FILE,photos,big.bin\n');
    await dropped.line();
    dropped.socket.destroy(); // gone mid-body
    // Hooks run as requests end; give the last connections a moment to close.
    for (let i = 0; i < 100 && closed.length < 5; i++) await new Promise((resolve) => setTimeout(resolve, 20));

    const summary = records.map(({ record }) => [record.command ?? '-', record.outcome, record.status]);
    assert.deepEqual(summary, [
      ['NEW_BUCKET', 'OK', 201],
      ['NEW_BUCKET', 'OK', 201],
      ['UPLOAD_FILE', 'OK', 201],
      ['DOWNLOAD_FILE', 'OK', 200],
      ['DELETE_BUCKET', 'NO_SUCH_BUCKET', 404],
      ['LIST_FILE', 'OK', 200],
      ['LIST_FILE', 'NO_SUCH_BUCKET', 404],
      ['EXIT', 'OK', 221],
      ['-', 'UNKNOWN_COMMAND', 400],
      ['UPLOAD_FILE', 'BAD_TRAILER', 400],
      ['UPLOAD_FILE', 'OK', 201],
      ['EXIT', 'OK', 221],
      ['DOWNLOAD_FILE', 'CONNECTION_LOST', 0],
    ]);
    assert.equal(records[8]!.record.bytesIn, 'hello\r\n'.length);
    assert.equal(records[12]!.record.bytesIn, 'DOWNLOAD_FILE,photos,big.bin\n'.length);
    const upload = records[2]!.record;
    assert.equal(upload.bucket, 'photos');
    assert.equal(upload.name, 'a.bin');
    assert.ok(upload.bytesIn > 100_000 && upload.bytesIn < 100_300, `upload bytes in: ${upload.bytesIn}`);
    const download = records[3]!.record;
    assert.ok(download.bytesOut > 100_000 && download.bytesOut < 100_300, `download bytes out: ${download.bytesOut}`);
    assert.ok(records.every(({ record }) => record.durationMs >= 0));
    assert.equal(records[0]!.session.id, records[7]!.session.id);
    assert.notEqual(records[0]!.session.id, records[8]!.session.id);
    assert.equal(records[7]!.session.requests, 8);
    assert.deepEqual(opened.length, 5);
    assert.deepEqual(closed.sort(), ['after-error', 'error', 'exit', 'exit', 'peer-closed']);
  } finally {
    await server.close();
    await rm(base, { recursive: true, force: true });
  }
});

test('a server closed before or while it starts to listen never takes its port, and lets the process end', async () => {
  const base = await tempDir();
  const listeningSockets = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'TCPServerWrap').length;
  try {
    for (const when of ['before', 'during'] as const) {
      const before = listeningSockets();
      const server = new BucketServer({ storage: await FsStorage.open(path.join(base, when)), port: 0 });
      let listening: Promise<unknown>;
      if (when === 'before') {
        await server.close();
        listening = server.listen();
      } else {
        // A stop asked for while it tidies the unfinished uploads of an earlier run.
        listening = server.listen();
        await server.close();
      }
      await assert.rejects(listening, /closed before it listened/, when);
      await server.close();
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(listeningSockets(), before, `closed ${when} listen: no port left open`);
    }
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});
