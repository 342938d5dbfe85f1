/**
 * Every exit code of the one-shot verbs, each from a real failure through
 * the real program: 0 done, 2 usage, 3 not found, 4 refused, 5 conflict,
 * 6 connection, 7 integrity; errors as one line, or as one JSON object on
 * stderr with --json. And where the server comes from: --server, a
 * profile, BUCKET_SERVER.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { BucketClient } from '../../src/client/index.js';
import { bucketd, newRoot } from '../helpers/bucketd.js';
import { runBucket, type CliResult } from '../helpers/cli.js';
import { rot } from '../helpers/bit-rot.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

let server: RunningServer;
let work: string;
const run = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> => runBucket(args, '', { cwd: work, env: { BUCKET_SERVER: undefined, BUCKET_PROFILE: undefined, BUCKET_USER: undefined, ...env } });
const bucket = (...args: string[]): Promise<CliResult> => run(['--port', String(server.port), ...args]);

function exits(result: CliResult, code: number, stderr?: RegExp): void {
  assert.equal(result.code, code, `exit ${String(result.code)}; stderr: ${result.stderr}`);
  if (stderr) assert.match(result.stderr, stderr);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

before(async () => {
  server = await startServer();
  work = await tempDir();
  const client = await BucketClient.connect({ port: server.port });
  await client.createBucket('box');
  for (const name of ['a.txt', 'dir/b.txt']) await client.upload('box', name, Readable.from([Buffer.from(name)]), name.length);
  client.close();
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

test('2 usage: unknown verbs (with "did you mean"), unknown options, missing or wrong arguments', async () => {
  exits(await bucket('lss'), 2, /^bucket: unknown command 'lss' \(did you mean ls\?\)\nusage: bucket /);
  exits(await bucket('ls', '--bogus'), 2, /^bucket: unknown option '--bogus'\nusage: bucket /);
  exits(await bucket('rm', 'box'), 2, /names no file/);
  exits(await bucket('put', 'only-one'), 2, /needs at least one local path/);
  exits(await bucket('get', 'box/a.txt', '--parallel', '0'), 2, /--parallel/);
  exits(await bucket('mb', 'Bad_Name'), 2, /bucket names have/);
  exits(await run(['--server', 'http://127.0.0.1:1', 'ping']), 2, /bucket:\/\/\[user@\]host\[:port\]/);
  exits(await run(['--profile', 'nope', 'ping'], { XDG_CONFIG_HOME: work }), 2, /no profile "nope"/);
});

test('3 not found: a bucket, a file, a local path', async () => {
  exits(await bucket('ls', 'nosuch'), 3, /no bucket "nosuch"/);
  exits(await bucket('stat', 'box/none.txt'), 3);
  exits(await bucket('get', 'box/none.txt'), 3);
  exits(await bucket('cat', 'box/none.txt'), 3);
  exits(await bucket('rm', '-r', 'box/nothing/'), 3);
  exits(await bucket('put', path.join(work, 'not-here.txt'), 'box/'), 3, /no such local file/);
});

test('5 conflict: a bucket that exists, a local file that exists, a name that is a folder, a file in the way', async () => {
  exits(await bucket('mb', 'box'), 5);
  await writeFile(path.join(work, 'a.txt'), 'mine');
  exits(await bucket('get', 'box/a.txt'), 5, /already exists/);
  assert.equal(await readFile(path.join(work, 'a.txt'), 'utf8'), 'mine', 'nothing replaced without --force');
  exits(await bucket('get', '--force', 'box/a.txt'), 0);
  assert.equal(await readFile(path.join(work, 'a.txt'), 'utf8'), 'a.txt');
  await writeFile(path.join(work, 'local.txt'), 'x');
  exits(await bucket('put', path.join(work, 'local.txt'), 'box/dir'), 5, /is a folder/);
  // A local file where get -r needs a folder.
  await mkdir(path.join(work, 'copy'));
  await writeFile(path.join(work, 'copy', 'dir'), 'in the way');
  exits(await bucket('get', '-r', 'box/', 'copy'), 5, /a file stands where the folder/);
  assert.equal(await readFile(path.join(work, 'copy', 'a.txt'), 'utf8'), 'a.txt', 'the rest was copied');
});

test('0: put replaces a remote file of the same name, as the protocol does (only get guards what exists, locally)', async () => {
  await writeFile(path.join(work, 'again.txt'), 'first');
  exits(await bucket('put', path.join(work, 'again.txt'), 'box/again.txt'), 0);
  await writeFile(path.join(work, 'again.txt'), 'second');
  exits(await bucket('put', path.join(work, 'again.txt'), 'box/again.txt'), 0);
  const cat = await bucket('cat', 'box/again.txt');
  exits(cat, 0);
  assert.equal(cat.stdout, 'second');
});

test('6 connection: nothing listening', async () => {
  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(free));
    });
  });
  exits(await run(['--port', String(port), 'ping']), 6);
  const json = await run(['--port', String(port), '--json', 'ls']);
  exits(json, 6);
  const error = JSON.parse(json.stderr.trim()) as Record<string, unknown>;
  assert.equal(error.type, 'error');
  assert.equal(error.code, 'CONNECTION_REFUSED');
  assert.equal(error.exit, 6);
});

test('7 integrity: a stored file that fails its SHA-256 is refused by get and cat; nothing is kept', async () => {
  // Bit rot: other bytes, with the size, inode and time the record knows.
  const stored = path.join(server.root, 'box', 'a.txt');
  await rot(stored, Buffer.from('A.TXT'));
  const target = path.join(work, 'fresh');
  await mkdir(target);
  exits(await bucket('get', 'box/a.txt', target + path.sep), 7);
  assert.deepEqual(await readdir(target), []);
  // cat has already written the bytes as they came: one line says they are not to be trusted.
  const cat = await bucket('cat', 'box/a.txt');
  exits(cat, 7, /^error: box\/a\.txt: .*the 5 bytes already written to standard output are not verified/);
  assert.equal(cat.stdout, 'A.TXT');
  assert.equal(cat.stderr.split('\n').length, 2, 'one line');
  const catJson = await bucket('--json', 'cat', 'box/a.txt');
  exits(catJson, 7);
  assert.deepEqual(Object.fromEntries(Object.entries(JSON.parse(catJson.stderr) as Record<string, unknown>).filter(([name]) => name !== 'message')), { type: 'error', code: 'CORRUPT_FILE', exit: 7, about: 'box/a.txt' });
  const json = await bucket('--json', 'get', 'box/a.txt', target + path.sep);
  exits(json, 7);
  assert.equal((JSON.parse(json.stderr.trim()) as { code: string }).code, 'CORRUPT_FILE');
  await rot(stored, Buffer.from('a.txt'));
});

test('4 refused: a wrong password, and no login where one is needed', async () => {
  const root = await newRoot();
  assert.equal((await bucketd(['user', 'add', 'alice', '--root', root], 'right password\n')).code, 0);
  const guarded = await startServer({ root });
  try {
    const url = `bucket://alice@127.0.0.1:${guarded.port}`;
    exits(await run(['--server', url, 'ls'], { BUCKET_PASSWORD: 'wrong' }), 4);
    exits(await run(['--server', url, 'mb', 'hers'], { BUCKET_PASSWORD: 'right password' }), 0);
    exits(await run(['--port', String(guarded.port), 'ls', 'hers']), 4);
  } finally {
    await guarded.stop();
  }
});

test('the server from --server, a profile in the config folder, or BUCKET_SERVER', async () => {
  const url = `bucket://127.0.0.1:${server.port}`;
  exits(await run(['--server', url, 'ls']), 0);
  await mkdir(path.join(work, 'config', 'bucket'), { recursive: true });
  await writeFile(path.join(work, 'config', 'bucket', 'config.json'), JSON.stringify({ profiles: { work: { server: url } } }));
  const viaProfile = await run(['--profile', 'work', 'ls'], { XDG_CONFIG_HOME: path.join(work, 'config') });
  exits(viaProfile, 0);
  assert.equal(viaProfile.stdout, 'box\n');
  exits(await run(['ls'], { BUCKET_SERVER: url }), 0);
});
