/**
 * sync's hash cache: a hash is given back only while the file's stamp
 * (size, times, inode) is the one it was recorded with; the file is
 * replaced whole, merged with what another run saved meanwhile, and a
 * damaged one is an empty one, never an error.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { HashCache, hashCachePath, hashFile, MAX_ENTRIES, stampOf, type FileStamp } from '../../src/cli/hash-cache.js';
import { tempDir } from '../helpers/server.js';

let work: string;
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
const stampAt = async (file: string): Promise<FileStamp> => stampOf(await lstat(file, { bigint: true }));

before(async () => {
  work = await tempDir('bucket-hash-cache-');
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

test('the cache lives in XDG_CACHE_HOME/bucket, else ~/.cache/bucket', () => {
  assert.equal(hashCachePath({ XDG_CACHE_HOME: '/x/cache', HOME: '/home/u' }), '/x/cache/bucket/hashes.json');
  assert.equal(hashCachePath({ HOME: '/home/u' }), '/home/u/.cache/bucket/hashes.json');
  // A relative XDG_CACHE_HOME is to be ignored, says the XDG spec.
  assert.equal(hashCachePath({ XDG_CACHE_HOME: 'rel', HOME: '/home/u' }), '/home/u/.cache/bucket/hashes.json');
});

test('hashFile gives the SHA-256 and the stamp of a file that held still', async () => {
  const file = path.join(work, 'hashed.txt');
  await writeFile(file, 'some bytes');
  const { sha256, stamp } = await hashFile(file);
  assert.equal(sha256, sha('some bytes'));
  assert.deepEqual(stamp, await stampAt(file));
  await writeFile(path.join(work, 'empty'), '');
  assert.equal((await hashFile(path.join(work, 'empty'))).sha256, sha(''));
});

test('a hash is given back only while size, times and inode are unchanged; it survives a save and a load', async () => {
  const cacheFile = path.join(work, 'one', 'hashes.json');
  const file = path.join(work, 'tracked.txt');
  await writeFile(file, 'first');
  const cache = await HashCache.load(cacheFile);
  const stamp = await stampAt(file);
  assert.equal(cache.lookup(file, stamp), undefined);
  cache.record(file, stamp, sha('first'));
  assert.equal(cache.lookup(file, stamp), sha('first'));
  assert.equal(await cache.save(), true);

  const loaded = await HashCache.load(cacheFile);
  assert.equal(loaded.lookup(file, stamp), sha('first'));
  assert.equal(loaded.lookup(file, { ...stamp, size: stamp.size + 1 }), undefined);
  assert.equal(loaded.lookup(file, { ...stamp, mtimeNs: '1' }), undefined);
  assert.equal(loaded.lookup(file, { ...stamp, ctimeNs: '1' }), undefined);
  assert.equal(loaded.lookup(file, { ...stamp, ino: '1' }), undefined);
  // Same size, the very same modification time put back: the change time still tells.
  await utimes(file, 1_700_000_000, 1_700_000_000);
  const whole = await stampAt(file);
  loaded.record(file, whole, sha('first'));
  await writeFile(file, 'FIRST');
  await utimes(file, 1_700_000_000, 1_700_000_000);
  const edited = await stampAt(file);
  assert.deepEqual({ ...edited, ctimeNs: '' }, { ...whole, ctimeNs: '' });
  assert.equal(loaded.lookup(file, edited), undefined);
  assert.deepEqual(await readdir(path.dirname(cacheFile)), ['hashes.json'], 'no temporary file left');
});

test('a damaged or foreign cache file loads empty, and is replaced on save', async () => {
  const cacheFile = path.join(work, 'damaged', 'hashes.json');
  await mkdir(path.dirname(cacheFile));
  const stamp: FileStamp = { size: 1, mtimeNs: '2', ctimeNs: '3', ino: '4' };
  for (const text of ['', '{"version":1,"entries":', 'null', '[]', '{"version":99,"entries":{}}', '{"version":1,"entries":{"/a":{"size":"x"}}}', '\u0000\u0001']) {
    await writeFile(cacheFile, text);
    const cache = await HashCache.load(cacheFile);
    assert.equal(cache.lookup('/a', stamp), undefined, JSON.stringify(text));
    cache.record('/a', stamp, sha('a'));
    assert.equal(await cache.save(), true);
    assert.equal((await HashCache.load(cacheFile)).lookup('/a', stamp), sha('a'));
  }
  // Entries that make no sense are dropped one by one; the good ones stay.
  await writeFile(cacheFile, JSON.stringify({ version: 1, entries: { '/good': { ...stamp, sha256: sha('g'), seen: 1 }, '/bad': { ...stamp, sha256: 'nothex', seen: 1 } } }));
  const mixed = await HashCache.load(cacheFile);
  assert.equal(mixed.lookup('/good', stamp), sha('g'));
  assert.equal(mixed.lookup('/bad', stamp), undefined);
});

test('a cache that cannot be written is skipped, not an error', async () => {
  const blocker = path.join(work, 'a-file');
  await writeFile(blocker, 'not a folder');
  const cache = await HashCache.load(path.join(blocker, 'bucket', 'hashes.json'));
  cache.record('/x', { size: 1, mtimeNs: '1', ctimeNs: '1', ino: '1' }, sha('x'));
  assert.equal(await cache.save(), false);
});

test('a save keeps what another run saved meanwhile, and what this run forgot stays forgotten', async () => {
  const cacheFile = path.join(work, 'merge', 'hashes.json');
  const stamp: FileStamp = { size: 1, mtimeNs: '1', ctimeNs: '1', ino: '1' };
  const first = await HashCache.load(cacheFile);
  first.record('/kept', stamp, sha('kept'));
  first.record('/gone', stamp, sha('gone'));
  await first.save();

  const mine = await HashCache.load(cacheFile);
  const theirs = await HashCache.load(cacheFile);
  theirs.record('/theirs', stamp, sha('theirs'));
  await theirs.save();
  mine.forget('/gone');
  mine.record('/mine', stamp, sha('mine'));
  assert.deepEqual(mine.pathsUnder('/').sort(), ['/kept', '/mine']);
  await mine.save();

  const merged = await HashCache.load(cacheFile);
  assert.deepEqual(merged.pathsUnder('/').sort(), ['/kept', '/mine', '/theirs']);
  assert.equal(JSON.parse(await readFile(cacheFile, 'utf8')).version, 1);
});

test('pathsUnder names only what is inside the folder', async () => {
  const cache = await HashCache.load(path.join(work, 'none', 'hashes.json'));
  const stamp: FileStamp = { size: 1, mtimeNs: '1', ctimeNs: '1', ino: '1' };
  for (const name of ['/t/a', '/t/b/c', '/tree/x', '/u']) cache.record(name, stamp, sha(name));
  assert.deepEqual(cache.pathsUnder('/t').sort(), ['/t/a', '/t/b/c']);
  assert.deepEqual(cache.pathsUnder('/t/').sort(), ['/t/a', '/t/b/c']);
});

test(`past ${MAX_ENTRIES} entries, the least recently used go`, async () => {
  const cacheFile = path.join(work, 'big', 'hashes.json');
  let clock = 0;
  const cache = await HashCache.load(cacheFile, () => clock++);
  const stamp: FileStamp = { size: 1, mtimeNs: '1', ctimeNs: '1', ino: '1' };
  const hash = sha('x');
  for (let i = 0; i < MAX_ENTRIES + 10; i++) cache.record(`/f/${i}`, stamp, hash);
  // The oldest one is used again, so it stays.
  assert.equal(cache.lookup('/f/0', stamp), hash);
  await cache.save();
  const loaded = await HashCache.load(cacheFile);
  const kept = new Set(loaded.pathsUnder('/f'));
  assert.equal(kept.size, MAX_ENTRIES);
  assert.ok(kept.has('/f/0'));
  assert.ok(!kept.has('/f/1'));
  assert.ok(kept.has(`/f/${MAX_ENTRIES + 9}`));
});
