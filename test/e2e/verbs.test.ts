/**
 * The one-shot verbs through the real bucket program against a real
 * bucketd: ping, mb, ls (buckets, one level, -r, -l), stat, cat, rm, rb,
 * each for people and with --json (every line checked against its
 * documented shape).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { runBucket, type CliResult } from '../helpers/cli.js';
import { startServer, type RunningServer } from '../helpers/server.js';

let server: RunningServer;
let bucket: (...args: string[]) => Promise<CliResult>;
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Every stdout line parsed as JSON; each must be one object. */
function ndjson(result: CliResult): Array<Record<string, unknown>> {
  return result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The documented shapes (README, "--json"): the keys and the type of each. */
const SHAPES: Record<string, Record<string, string>> = {
  server: { type: 'string', name: 'string', version: 'string', protocol: 'number', address: 'string' },
  bucket: { type: 'string', name: 'string', created: 'time' },
  'bucket-created': { type: 'string', bucket: 'string', created: 'time' },
  'bucket-deleted': { type: 'string', bucket: 'string', deletedFiles: 'number' },
  file: { type: 'string', bucket: 'string', name: 'string', size: 'number', modified: 'time', sha256: 'sha256|null' },
  folder: { type: 'string', bucket: 'string', name: 'string' },
  deleted: { type: 'string', bucket: 'string', name: 'string' },
  uploaded: { type: 'string', bucket: 'string', name: 'string', path: 'string', size: 'number', sha256: 'sha256' },
  downloaded: { type: 'string', bucket: 'string', name: 'string', path: 'string', size: 'number', sha256: 'sha256' },
  summary: { type: 'string', verb: 'string', done: 'number', failed: 'number', bytes: 'number' },
  error: { type: 'string', code: 'string', message: 'string', exit: 'number', about: 'string?' },
};

export function assertShape(record: Record<string, unknown>): void {
  const shape = SHAPES[String(record.type)];
  assert.ok(shape, `a documented type: ${JSON.stringify(record)}`);
  for (const key of Object.keys(record)) assert.ok(key in shape, `"${key}" is documented for ${String(record.type)}`);
  for (const [key, kind] of Object.entries(shape)) {
    const value = record[key];
    if (kind === 'time') assert.match(String(value), ISO, key);
    else if (kind === 'sha256') assert.match(String(value), /^[0-9a-f]{64}$/, key);
    else if (kind === 'sha256|null') assert.ok(value === null || /^[0-9a-f]{64}$/.test(String(value)), key);
    else if (kind === 'string?') assert.ok(value === undefined || typeof value === 'string', key);
    else assert.equal(typeof value, kind, `${key} of ${JSON.stringify(record)}`);
  }
}

before(async () => {
  server = await startServer();
  bucket = (...args: string[]) => runBucket(['--port', String(server.port), ...args], '');
  const made = await bucket('mb', 'albums');
  assert.equal(made.code, 0, made.stderr);
  const { BucketClient } = await import('../../src/client/index.js');
  const { Readable } = await import('node:stream');
  const client = await BucketClient.connect({ port: server.port });
  for (const name of ['2026/trip/img 01.jpg', '2026/notes, v2.txt', 'top.txt', 'ñ/🎉.txt']) await client.upload('albums', name, Readable.from([Buffer.from(name)]), Buffer.byteLength(name));
  client.close();
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

test('ping names the server; --json gives the same as one object', async () => {
  const human = await bucket('ping');
  assert.equal(human.code, 0);
  assert.match(human.stdout, /^bucketd \S+ \(protocol 5\) at 127\.0\.0\.1:\d+\n$/);
  const [record, ...rest] = ndjson(await bucket('--json', 'ping'));
  assert.deepEqual(rest, []);
  assertShape(record!);
  assert.equal(record!.protocol, 5);
});

test('ls: buckets; one level with folders; -r every depth; -l long; --json shapes', async () => {
  assert.equal((await bucket('ls')).stdout, 'albums\n');
  assert.equal((await bucket('ls', 'albums')).stdout, '2026/\ntop.txt\nñ/\n');
  assert.equal((await bucket('ls', 'albums/2026/')).stdout, '2026/notes, v2.txt\n2026/trip/\n');
  assert.equal((await bucket('ls', '-r', 'albums')).stdout, '2026/notes, v2.txt\n2026/trip/img 01.jpg\ntop.txt\nñ/🎉.txt\n');
  assert.equal((await bucket('ls', '-r', 'albums/2026/t')).stdout, '2026/trip/img 01.jpg\n');
  const long = (await bucket('ls', '-l', 'albums/2026/')).stdout.split('\n');
  assert.match(long[0]!, new RegExp(`^ +18 B  \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  ${sha('2026/notes, v2.txt')}  2026/notes, v2\\.txt$`));
  assert.match(long[1]!, /^ +DIR +2026\/trip\/$/);
  const records = ndjson(await bucket('ls', '--json', 'albums'));
  records.forEach(assertShape);
  assert.deepEqual(records.map((record) => [record.type, record.name]), [['folder', '2026/'], ['file', 'top.txt'], ['folder', 'ñ/']]);
  assert.equal(records[1]!.sha256, sha('top.txt'));
  ndjson(await bucket('ls', '--json')).forEach(assertShape);
});

test('stat and cat show one file; cat writes its exact bytes', async () => {
  const stat = await bucket('stat', 'albums/2026/trip/img 01.jpg');
  assert.equal(stat.code, 0, stat.stderr);
  assert.match(stat.stdout, new RegExp(`${sha('2026/trip/img 01.jpg')}  2026/trip/img 01\\.jpg\\n$`));
  const [record] = ndjson(await bucket('--json', 'stat', 'albums/top.txt'));
  assertShape(record!);
  assert.equal(record!.size, 7);
  const cat = await bucket('cat', 'albums/ñ/🎉.txt');
  assert.equal(cat.code, 0);
  assert.equal(cat.stdout, 'ñ/🎉.txt');
});

test('mb, rm, rm -r and rb', async () => {
  assert.equal((await bucket('mb', 'scratch')).stdout, 'created bucket "scratch"\n');
  const { BucketClient } = await import('../../src/client/index.js');
  const { Readable } = await import('node:stream');
  const client = await BucketClient.connect({ port: server.port });
  for (const name of ['a/1', 'a/2', 'a/b/3', 'keep']) await client.upload('scratch', name, Readable.from([Buffer.from('x')]), 1);
  client.close();
  assert.equal((await bucket('rm', 'scratch/a/1')).stdout, 'deleted scratch/a/1\n');
  const removed = ndjson(await bucket('--json', 'rm', '-r', 'scratch/a/'));
  removed.forEach(assertShape);
  assert.deepEqual(removed.map((record) => record.name ?? record.done), ['a/2', 'a/b/3', 2]);
  assert.equal((await bucket('ls', '-r', 'scratch')).stdout, 'keep\n');
  const refused = await bucket('rb', 'scratch');
  assert.equal(refused.code, 5);
  assert.equal(refused.stderr, 'error: bucket "scratch" holds 1 file; delete them first or use --force\n');
  const [deleted] = ndjson(await bucket('--json', 'rb', '--force', 'scratch'));
  assertShape(deleted!);
  assert.deepEqual(deleted, { type: 'bucket-deleted', bucket: 'scratch', deletedFiles: 1 });
});

test('cat | head: a reader that goes away ends the program quietly, exit 0', async () => {
  const { spawn } = await import('node:child_process');
  const { BUCKET } = await import('../helpers/server.js');
  const { BucketClient } = await import('../../src/client/index.js');
  const { Readable } = await import('node:stream');
  const client = await BucketClient.connect({ port: server.port });
  const big = Buffer.alloc(8 * 1024 * 1024, 'x');
  await client.upload('albums', 'big.bin', Readable.from([big]), big.length);
  client.close();
  const script = `set -o pipefail; node ${JSON.stringify(BUCKET)} --port ${server.port} cat albums/big.bin | head -c 10`;
  const child = spawn('bash', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const code = await new Promise((resolve) => child.once('exit', resolve));
  assert.equal(stdout, 'xxxxxxxxxx');
  assert.equal(stderr, '');
  assert.equal(code, 0);
});
