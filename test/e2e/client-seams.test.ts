/**
 * What a client library user relies on: listings that stream and stay in
 * step when left early, notices the server sends while the client is idle,
 * and error codes from a newer server carried as they came.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { BucketClient } from '../../src/client/client.js';
import { BucketError } from '../../src/errors.js';
import { startServer } from '../helpers/server.js';

test('a listing streams, and leaving it early keeps the connection in step', async () => {
  const server = await startServer();
  try {
    const client = await BucketClient.connect({ port: server.port });
    await client.createBucket('many');
    for (let i = 0; i < 40; i++) await client.upload('many', `f${String(i).padStart(2, '0')}`, Readable.from([Buffer.from(String(i))]), String(i).length);
    const seen: string[] = [];
    for await (const file of client.iterateFiles('many')) {
      seen.push(file.name);
      if (seen.length === 3) break;
    }
    assert.deepEqual(seen, ['f00', 'f01', 'f02']);
    // The 37 lines left unread were read and dropped: the next reply is HELLO's.
    assert.equal((await client.hello()).name, 'bucketd');
    assert.equal((await client.listFiles('many')).length, 40);
    await client.exit();
  } finally {
    await server.stop();
  }
});

test('an idle client hears the server shut down, and its next call says so', async () => {
  const server = await startServer();
  const client = await BucketClient.connect({ port: server.port });
  await client.hello();
  const notice = new Promise<BucketError>((resolve) => client.onNotice(resolve));
  const stopped = server.stop();
  const heard = await notice;
  assert.equal(heard.code, 'SHUTTING_DOWN');
  assert.ok(client.closed);
  await assert.rejects(client.hello(), (error: unknown) => error instanceof BucketError && error.code === 'SHUTTING_DOWN');
  await stopped;
});

test('an error code this client does not know arrives as that code', async () => {
  // A stand-in for a newer server: it knows a code this build has never seen.
  const fake = net.createServer((socket) => {
    socket.on('data', () => socket.write('429,SLOW_DOWN,5 too many requests; wait 5 s\n'));
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  const port = (fake.address() as net.AddressInfo).port;
  try {
    const client = await BucketClient.connect({ port });
    await assert.rejects(client.createBucket('photos'), (error: unknown) => {
      assert.ok(error instanceof BucketError);
      assert.equal(error.code, 'SLOW_DOWN');
      assert.equal(error.status, 429);
      assert.deepEqual(error.details, ['5']);
      return true;
    });
    assert.ok(!client.closed, 'an unknown code does not close the connection');
    client.close();
  } finally {
    fake.close();
  }
});

test('cancelling an upload whose source went quiet ends it at once; the client goes on', async () => {
  const server = await startServer();
  try {
    const client = await BucketClient.connect({ port: server.port });
    await client.createBucket('box');
    const { PassThrough } = await import('node:stream');
    const source = new PassThrough();
    source.write(Buffer.alloc(1000)); // then nothing more, ever
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    await assert.rejects(client.upload('box', 'quiet.bin', source, 1_000_000, { signal: controller.signal }), (error: unknown) => (error as { code?: string }).code === 'CANCELLED');
    assert.ok(Date.now() - started < 5000, 'the cancel did not wait for the source');
    assert.ok(source.destroyed, 'the source was stopped');
    assert.equal((await client.hello()).name, 'bucketd');
    assert.deepEqual(await client.listFiles('box'), []);
    await client.exit();
  } finally {
    await server.stop();
  }
});

test('a source that fails to read is a local error, and the client goes on', async () => {
  const server = await startServer();
  try {
    const client = await BucketClient.connect({ port: server.port });
    await client.createBucket('box');
    const failing = new Readable({
      read() {
        this.destroy(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }));
      },
    });
    await assert.rejects(client.upload('box', 'broken.bin', failing, 10), (error: unknown) => (error as { code?: string }).code === 'LOCAL_FILE_ERROR');
    assert.deepEqual(await client.listFiles('box'), []);
    await client.exit();
  } finally {
    await server.stop();
  }
});
