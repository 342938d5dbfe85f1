/** Every command and its errors, through the client library against the real bucketd. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { BucketClient, ClientError, downloadFile, uploadFile } from '../../src/client/index.js';
import { BucketError, type ErrorCode } from '../../src/errors.js';
import { rot } from '../helpers/bit-rot.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode | ClientError['code']): Promise<Error & { details?: readonly string[] }> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BucketError || error instanceof ClientError, String(error));
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('the client library against bucketd', () => {
  let server: RunningServer;
  let client: BucketClient;
  let work: string;

  before(async () => {
    server = await startServer({ args: ['--max-file-size', '10M'] });
    client = await BucketClient.connect({ port: server.port });
    work = await tempDir();
  });
  after(async () => {
    client.close();
    assert.equal(await server.stop(), 0);
    await rm(work, { recursive: true, force: true });
  });

  test('HELLO names the server, its version and protocol', async () => {
    const hello = await client.hello();
    assert.equal(hello.name, 'bucketd');
    assert.match(hello.version, /^\d+\.\d+\.\d+/);
    assert.equal(hello.protocol, 5);
    assert.equal(hello.login, 'none'); // no users: open, on loopback
    assert.deepEqual(hello.mechanisms, ['SCRAM-SHA-256']);
  });

  test('NEW_BUCKET, LIST_BUCKET and their errors', async () => {
    const created = await client.createBucket('photos');
    assert.equal(created.name, 'photos');
    assert.ok(Math.abs(created.createdAt.getTime() - Date.now()) < 60_000);
    await client.createBucket('archive');
    await rejectsWith(client.createBucket('photos'), 'BUCKET_EXISTS');
    await rejectsWith(client.createBucket('No_Way'), 'INVALID_BUCKET_NAME');
    const buckets = await client.listBuckets();
    assert.deepEqual(buckets.map((b) => b.name), ['archive', 'photos']);
  });

  test('UPLOAD_FILE, LIST_FILE, DOWNLOAD_FILE with names of every kind', async () => {
    const names = ['plain.txt', 'with space.txt', 'comma,name.txt', 'acentuación ñ.txt', '🎉 party.png', '100%.txt', 'x'.repeat(255)];
    const contents = new Map<string, Buffer>();
    for (const name of names) {
      const data = randomBytes(1000 + contents.size * 777);
      contents.set(name, data);
      const result = await client.upload('photos', name, Readable.from([data]), data.length);
      assert.deepEqual(result, { bucket: 'photos', name, size: data.length, sha256: sha(data) });
    }
    const listed = await client.listFiles('photos');
    assert.deepEqual(listed.map((f) => f.name), [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    for (const file of listed) {
      assert.equal(file.size, contents.get(file.name)!.length);
      assert.equal(file.sha256, sha(contents.get(file.name)!));
    }
    for (const [name, data] of contents) {
      const chunks: Buffer[] = [];
      const sink = new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done()) });
      const result = await client.download('photos', name, sink);
      assert.equal(result.sha256, sha(data));
      assert.deepEqual(Buffer.concat(chunks), data);
      // The file on the server's disk is exactly what was sent.
      assert.deepEqual(await readFile(path.join(server.root, 'photos', name)), data);
    }
  });

  test('an empty file travels too', async () => {
    const result = await client.upload('photos', 'empty', Readable.from([]), 0);
    assert.equal(result.size, 0);
    const target = path.join(work, 'empty-copy');
    await downloadFile(client, 'photos', 'empty', target);
    assert.equal((await readFile(target)).length, 0);
  });

  test('uploadFile and downloadFile move local files; downloads never overwrite silently', async () => {
    const local = path.join(work, 'local.bin');
    const data = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(local, data);
    const up = await uploadFile(client, local, 'archive');
    assert.equal(up.name, 'local.bin');
    await mkdir(path.join(work, 'copies'));
    const down = await downloadFile(client, 'archive', 'local.bin', path.join(work, 'copies'));
    assert.equal(down.path, path.join(work, 'copies', 'local.bin'));
    assert.deepEqual(await readFile(down.path), data);
    await rejectsWith(downloadFile(client, 'archive', 'local.bin', down.path), 'DESTINATION_EXISTS');
    await writeFile(down.path, 'something else');
    await downloadFile(client, 'archive', 'local.bin', down.path, { overwrite: true });
    assert.deepEqual(await readFile(down.path), data);
    // No temporary files are left beside the destination.
    assert.deepEqual(await readdir(path.join(work, 'copies')), ['local.bin']);
  });

  test('an upload whose source changes size is refused and stores nothing', async () => {
    const other = await BucketClient.connect({ port: server.port });
    await rejectsWith(other.upload('photos', 'liar.bin', Readable.from([Buffer.alloc(10)]), 20), 'SOURCE_CHANGED');
    // The broken exchange took its connection with it; the client opens another.
    assert.ok(!other.closed);
    const names = (await other.listFiles('photos')).map((f) => f.name);
    assert.ok(!names.includes('liar.bin'));
    await other.exit();
    assert.ok(other.closed);
  });

  test('refusals come before the body: unknown bucket, bad name, too large', async () => {
    // A source that fails if read proves nothing was sent.
    const untouchable = (): Readable => new Readable({ read: () => assert.fail('the body was read') });
    await rejectsWith(client.upload('nobucket', 'a.txt', untouchable(), 5), 'NO_SUCH_BUCKET');
    await rejectsWith(client.upload('photos', '../escape', untouchable(), 5), 'INVALID_FILE_NAME');
    await rejectsWith(client.upload('photos', 'a//b', untouchable(), 5), 'INVALID_FILE_NAME');
    await rejectsWith(client.upload('photos', 'a/../b', untouchable(), 5), 'INVALID_FILE_NAME');
    await rejectsWith(client.upload('photos', 'big.bin', untouchable(), 11 * 1024 * 1024), 'TOO_LARGE');
    // The connection is still in step.
    assert.equal((await client.hello()).name, 'bucketd');
  });

  test('DOWNLOAD_FILE and DELETE_FILE tell an unknown bucket from an unknown file', async () => {
    const sink = new Writable({ write: (_c, _e, done) => done() });
    await rejectsWith(client.download('nobucket', 'x', sink), 'NO_SUCH_BUCKET');
    await rejectsWith(client.download('photos', 'nofile', sink), 'NO_SUCH_FILE');
    await rejectsWith(client.deleteFile('nobucket', 'x'), 'NO_SUCH_BUCKET');
    await rejectsWith(client.deleteFile('photos', 'nofile'), 'NO_SUCH_FILE');
    await rejectsWith(client.listFiles('nobucket'), 'NO_SUCH_BUCKET');
    await client.deleteFile('photos', 'plain.txt');
    await rejectsWith(client.deleteFile('photos', 'plain.txt'), 'NO_SUCH_FILE');
  });

  test('a download whose stored bytes were corrupted is refused, not kept', async () => {
    const data = Buffer.from('precious bytes');
    await client.upload('archive', 'precious.txt', Readable.from([data]), data.length);
    // Bytes and record disagree, as after bit rot on a failing disk.
    await rot(path.join(server.root, 'archive', 'precious.txt'), Buffer.from('Precious bytes'));
    const target = path.join(work, 'precious.txt');
    const error = await rejectsWith(downloadFile(client, 'archive', 'precious.txt', target), 'CORRUPT_FILE');
    assert.ok(error);
    await assert.rejects(readFile(target));
    assert.equal((await client.hello()).name, 'bucketd');
  });

  test('DELETE_BUCKET refuses a non-empty bucket with its file count unless forced', async () => {
    const error = await rejectsWith(client.deleteBucket('photos'), 'BUCKET_NOT_EMPTY');
    assert.equal(error.details?.[0], String((await client.listFiles('photos')).length));
    const { deletedFiles } = await client.deleteBucket('photos', { force: true });
    assert.ok(deletedFiles > 0);
    await rejectsWith(client.deleteBucket('photos'), 'NO_SUCH_BUCKET');
    assert.deepEqual((await client.listBuckets()).map((b) => b.name), ['archive']);
  });

  test('EXIT closes this connection only; the server keeps serving', async () => {
    const other = await BucketClient.connect({ port: server.port });
    await other.exit();
    assert.ok(other.closed);
    await rejectsWith(other.hello(), 'CONNECTION_LOST');
    const again = await BucketClient.connect({ port: server.port });
    assert.equal((await again.hello()).name, 'bucketd');
    await again.exit();
    assert.equal((await client.hello()).name, 'bucketd');
  });

  test('a refused connection is one clear error', async () => {
    const error = await rejectsWith(BucketClient.connect({ port: 1 }), 'CONNECTION_REFUSED');
    assert.match(error.message, /127\.0\.0\.1:1/);
  });
});
