/**
 * When a listing looks at a file again under its lock: only when the file
 * has a checksum record of another version (a replace under way), never
 * for files put there by hand (no record), which must list as fast as any.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ChecksumStore } from '../../src/storage/fs/checksums.js';
import { listBucketFolder, type FileSettler } from '../../src/storage/fs/listing.js';
import { tempDir } from '../helpers/server.js';

let root: string;
let checksums: ChecksumStore;
const bucketDir = (): string => path.join(root, 'box');

before(async () => {
  root = await tempDir('bucketd-listing-');
  const sums = path.join(root, 'sums');
  const tmp = path.join(root, 'tmp');
  for (const dir of [sums, tmp, bucketDir()]) await mkdir(dir, { recursive: true });
  checksums = new ChecksumStore(sums, tmp, [sums, tmp]);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A file's identity as the storage records it. */
async function identityOf(file: string): Promise<{ size: bigint; mtimeNs: bigint; ino: bigint }> {
  const stats = await lstat(file, { bigint: true });
  return { size: stats.size, mtimeNs: stats.mtimeNs, ino: stats.ino };
}

/** A settler that counts the names it was asked to look at again. */
function countingSettler(): { settle: FileSettler; settled: string[] } {
  const settled: string[] = [];
  return { settled, settle: (name, work) => (settled.push(name), work()) };
}

async function list(settle: FileSettler): Promise<Map<string, string | undefined>> {
  const listing = await listBucketFolder('box', bucketDir(), checksums, settle);
  const out = new Map<string, string | undefined>();
  for await (const page of listing.pages) for (const item of page) if ('size' in item) out.set(item.name, item.sha256);
  return out;
}

test('files with no record are listed without their lock; a recorded one with its checksum', async () => {
  for (let i = 0; i < 50; i++) await writeFile(path.join(bucketDir(), `by-hand-${i}.txt`), 'x');
  await writeFile(path.join(bucketDir(), 'stored.txt'), 'stored');
  await checksums.record('box', 'stored.txt', createHash('sha256').update('stored').digest('hex'), await identityOf(path.join(bucketDir(), 'stored.txt')));
  const { settle, settled } = countingSettler();
  const listed = await list(settle);
  assert.equal(listed.size, 51);
  assert.equal(listed.get('by-hand-0.txt'), undefined);
  assert.equal(listed.get('stored.txt'), createHash('sha256').update('stored').digest('hex'));
  assert.deepEqual(settled, []);
});

test('a file whose record is of another version is looked at again under its lock', async () => {
  const file = path.join(bucketDir(), 'replaced.txt');
  await writeFile(file, 'old');
  // The record of a version that is not the one there (as when a replace's
  // record is written before its bytes are renamed in).
  const other = { ...(await identityOf(file)), ino: 1n };
  await checksums.record('box', 'replaced.txt', createHash('sha256').update('new').digest('hex'), other);
  const { settle, settled } = countingSettler();
  const listed = await list(settle);
  assert.deepEqual(settled, ['replaced.txt']);
  assert.equal(listed.get('replaced.txt'), undefined, 'the record does not describe what is there');
});
