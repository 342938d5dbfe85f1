/**
 * Folders inside buckets through the client library against the real
 * bucketd: names with "/", listings by prefix and delimiter, a download of
 * a name in folders, and the old LIST_FILE form unchanged beside them.
 */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { BucketClient, downloadFile, type RemoteEntry } from '../../src/client/index.js';
import { BucketError } from '../../src/errors.js';
import { RawPeer } from '../helpers/raw.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

let server: RunningServer;
let client: BucketClient;
let work: string;
before(async () => {
  server = await startServer();
  client = await BucketClient.connect({ port: server.port });
  work = await tempDir();
  await client.createBucket('albums');
  for (const name of ['2026/trip/img 01.jpg', '2026/trip/img 02.jpg', '2026/notes.txt', 'top, level.txt', 'ñ/🎉']) {
    const body = Buffer.from(name);
    await client.upload('albums', name, Readable.from([body]), body.length);
  }
});
after(async () => {
  client.close();
  assert.equal(await server.stop(), 0);
  await rm(work, { recursive: true, force: true });
});

const show = (entries: RemoteEntry[]): string[] => entries.map((entry) => (entry.kind === 'folder' ? `[${entry.name}]` : `${entry.name} ${entry.size}`));

test('listFiles: whole, by prefix, and one level with folders', async () => {
  assert.deepEqual(
    (await client.listFiles('albums')).map((file) => file.name),
    ['2026/notes.txt', '2026/trip/img 01.jpg', '2026/trip/img 02.jpg', 'top, level.txt', 'ñ/🎉'],
  );
  assert.deepEqual(show(await client.listFiles('albums', { delimiter: '/' })), ['[2026/]', 'top, level.txt 14', '[ñ/]']);
  assert.deepEqual(show(await client.listFiles('albums', { prefix: '2026/', delimiter: '/' })), ['2026/notes.txt 14', '[2026/trip/]']);
  assert.deepEqual(show(await client.listFiles('albums', { prefix: '2026/trip/img 0' })), ['2026/trip/img 01.jpg 20', '2026/trip/img 02.jpg 20']);
  const streamed: string[] = [];
  for await (const entry of client.iterateFiles('albums', { prefix: 'ñ/', delimiter: '/' })) streamed.push(entry.name);
  assert.deepEqual(streamed, ['ñ/🎉']);
});

test('a name in folders downloads, into a folder, as its own name', async () => {
  const saved = await downloadFile(client, 'albums', '2026/trip/img 01.jpg', work + path.sep);
  assert.equal(saved.path, path.join(work, 'img 01.jpg'));
  assert.equal(await readFile(saved.path, 'utf8'), '2026/trip/img 01.jpg');
});

test('a bad listing field and a conflicting name are refused with their codes, and the connection goes on', async () => {
  await assert.rejects(client.listFiles('albums', { prefix: 'a\u0001' }), (error: unknown) => error instanceof BucketError && error.code === 'BAD_FIELD');
  await assert.rejects(client.upload('albums', '2026', Readable.from([Buffer.from('x')]), 1), (error: unknown) => error instanceof BucketError && error.code === 'PATH_CONFLICT');
  await assert.rejects(client.upload('albums', 'top, level.txt/x', Readable.from([Buffer.from('x')]), 1), (error: unknown) => error instanceof BucketError && error.code === 'PATH_CONFLICT');
  assert.ok((await client.hello()).protocol >= 3);
});

test('deleting the last file of a folder removes the folder from listings and from disk', async () => {
  await client.deleteFile('albums', 'ñ/🎉');
  assert.deepEqual(show(await client.listFiles('albums', { delimiter: '/' })), ['[2026/]', 'top, level.txt 14']);
  await assert.rejects(readFile(path.join(server.root, 'albums', 'ñ')), { code: 'ENOENT' });
});

test('a protocol 1 client listing a bucket of plain names gets the old lines', async () => {
  await client.createBucket('plain');
  await client.upload('plain', 'a.txt', Readable.from([Buffer.from('a')]), 1);
  const peer = await RawPeer.connect(server.port);
  peer.send('LIST_FILE,plain\n');
  assert.match(await peer.line(), /^200,1 1 file in "plain"$/);
  assert.match(await peer.line(), /^a\.txt,1,\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z,ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb$/);
  peer.close();
});
