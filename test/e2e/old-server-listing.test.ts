/**
 * A new client against a protocol 2 server, which knows only
 * `LIST_FILE,<bucket>`: `ls BUCKET/PREFIX`, `stat`, `get -r` and `rm -r`
 * through the real bucket program still work, the client listing the
 * whole bucket and filtering it itself once HELLO said protocol 2.
 *
 * bucketd cannot be told to speak an older protocol, so the old server
 * here is a stand-in: a raw TCP server that answers byte for byte as
 * docs/PROTOCOL.md shows a protocol 2 server answering (and
 * WRONG_FIELD_COUNT to a LIST_FILE with a prefix, as one would). It
 * records every request, so the test can check that none used the new form.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { BucketClient } from '../../src/client/index.js';
import { runBucket, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/server.js';

const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
const MODIFIED = '2026-11-23T22:41:19.881Z';

/** Names in byte order, as servers send them. Protocol 2 names hold no "/". */
const files = new Map<string, Buffer>([
  ['2026-a.jpg', Buffer.from('first photo')],
  ['2026-b.jpg', Buffer.from('second photo')],
  ['notes.txt', Buffer.from('notes')],
]);
const requests: string[] = [];
let fake: net.Server;
let port: number;
let work: string;

const enc = encodeURIComponent; // the names here are plain ASCII: the same either way

function answer(line: string): Buffer[] {
  const [command, ...fields] = line.split(',').map((field) => decodeURIComponent(field));
  switch (command) {
    case 'HELLO':
      return [Buffer.from('200,bucketd,0.1.0,2,none,SCRAM-SHA-256 hello from bucketd 0.1.0 (protocol 2)\n')];
    case 'EXIT':
      return [Buffer.from('221 goodbye\n')];
    case 'LIST_FILE': {
      if (fields.length !== 1) return [Buffer.from('400,WRONG_FIELD_COUNT wrong number of fields; the form is LIST_FILE,<bucket>\n')];
      if (fields[0] !== 'old') return [Buffer.from(`404,NO_SUCH_BUCKET no bucket "${fields[0]}"\n`)];
      const items = [...files].map(([name, bytes]) => `${enc(name)},${bytes.length},${MODIFIED},${sha(bytes)}\n`);
      return [Buffer.from(`200,${files.size} ${files.size} files in "old"\n${items.join('')}`)];
    }
    case 'DOWNLOAD_FILE': {
      const bytes = files.get(fields[1] ?? '');
      if (bytes === undefined) return [Buffer.from(`404,NO_SUCH_FILE no file "${fields[1]}" in bucket "old"\n`)];
      return [Buffer.from(`150,${enc(fields[1]!)},${bytes.length} sending ${bytes.length} bytes, then a status line\n`), bytes, Buffer.from(`200,${sha(bytes)} sent ${bytes.length} bytes\n`)];
    }
    case 'DELETE_FILE': {
      const name = fields[1] ?? '';
      if (!files.delete(name)) return [Buffer.from(`404,NO_SUCH_FILE no file "${name}" in bucket "old"\n`)];
      return [Buffer.from(`200,old,${enc(name)} file "${name}" deleted\n`)];
    }
    default:
      return [Buffer.from('400,UNKNOWN_COMMAND unknown command\n')];
  }
}

before(async () => {
  work = await tempDir();
  fake = net.createServer((socket) => {
    let pending = '';
    socket.on('error', () => undefined);
    socket.setEncoding('latin1').on('data', (text: string) => {
      pending += text;
      for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 1);
        requests.push(line);
        for (const part of answer(line)) socket.write(part);
        if (line === 'EXIT') socket.end();
      }
    });
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  port = (fake.address() as net.AddressInfo).port;
});
after(async () => {
  await new Promise((resolve) => fake.close(resolve));
  await rm(work, { recursive: true, force: true });
});

const bucket = (...args: string[]): Promise<CliResult> => runBucket(['--port', String(port), ...args], '', { cwd: work });

function assertOldFormsOnly(): void {
  for (const line of requests.filter((request) => request.startsWith('LIST_FILE'))) assert.equal(line, 'LIST_FILE,old', 'only the form a protocol 2 server knows');
  requests.length = 0;
}

test('the library: a prefix and a delimiter from a protocol 2 server, filtered by the client after one HELLO', async () => {
  const client = await BucketClient.connect({ port });
  try {
    assert.deepEqual((await client.listFiles('old', { prefix: '2026-' })).map((file) => file.name), ['2026-a.jpg', '2026-b.jpg']);
    assert.deepEqual((await client.listFiles('old', { prefix: '', delimiter: '/' })).map((entry) => entry.name), ['2026-a.jpg', '2026-b.jpg', 'notes.txt']);
    assert.deepEqual(await client.listFiles('old', { prefix: 'zzz', delimiter: '/' }), []);
    assert.equal(requests.filter((request) => request === 'HELLO').length, 1, 'HELLO once per client');
    // Stopping early leaves the connection in step.
    for await (const file of client.iterateFiles('old', { prefix: '2026' })) {
      assert.equal(file.name, '2026-a.jpg');
      break;
    }
    assert.equal((await client.hello()).protocol, 2);
  } finally {
    await client.exit();
  }
  assertOldFormsOnly();
});

test('bucket ls, stat, get -r and rm -r against a protocol 2 server', async () => {
  const ls = await bucket('ls', 'old/2026-');
  assert.equal(ls.code, 0, ls.stderr);
  assert.equal(ls.stdout, '2026-a.jpg\n2026-b.jpg\n');
  const lsJson = await bucket('--json', 'ls', '-r', 'old/no');
  assert.equal(lsJson.code, 0, lsJson.stderr);
  assert.equal((JSON.parse(lsJson.stdout) as { name: string }).name, 'notes.txt');
  const stat = await bucket('stat', 'old/notes.txt');
  assert.equal(stat.code, 0, stat.stderr);
  assert.match(stat.stdout, /notes\.txt/);

  const get = await bucket('get', '-r', 'old/2026-', 'copy');
  assert.equal(get.code, 0, get.stderr);
  assert.deepEqual((await readdir(path.join(work, 'copy'))).sort(), ['2026-a.jpg', '2026-b.jpg']);
  assert.equal(await readFile(path.join(work, 'copy', '2026-b.jpg'), 'utf8'), 'second photo');

  const removed = await bucket('rm', '-r', 'old/2026-');
  assert.equal(removed.code, 0, removed.stderr);
  assert.deepEqual([...files.keys()], ['notes.txt']);
  const none = await bucket('rm', '-r', 'old/2026-');
  assert.equal(none.code, 3, 'nothing under the prefix any more');
  assertOldFormsOnly();
});

test("the client's own filtering agrees with a protocol 3 server's, prefix by prefix, with and without the delimiter", async () => {
  const { Readable } = await import('node:stream');
  const { startServer } = await import('../helpers/server.js');
  const { filterListing } = await import('../../src/client/list-fallback.js');
  const server = await startServer();
  try {
    const client = await BucketClient.connect({ port: server.port });
    await client.createBucket('tree');
    const names = ['a-b', 'a/b/c', 'a/bc', 'a/c/d/e', 'a/x', 'a.b/x', 'ab/c', 'b/é/1', 'e\u0301t\u00e9/x', 'top', 'z/z/z'];
    for (const name of names) await client.upload('tree', name, Readable.from([Buffer.from(name)]), Buffer.byteLength(name));
    const prefixes = ['', 'a', 'a/', 'a/b', 'a/b/', 'a/c/', 'ab', 'b/e\u0301', 'b/', 'ét', 'q', 'to', 'z/z/z'];
    for (const prefix of prefixes) {
      for (const delimiter of [undefined, '/'] as const) {
        const fromServer = await client.listFiles('tree', { prefix, ...(delimiter ? { delimiter } : {}) });
        const filtered = [];
        for await (const entry of filterListing(client.iterateFiles('tree'), prefix, delimiter)) filtered.push(entry);
        assert.deepEqual(filtered, fromServer, `prefix ${JSON.stringify(prefix)}, delimiter ${String(delimiter)}`);
      }
    }
    await client.exit();
  } finally {
    await server.stop();
  }
});
