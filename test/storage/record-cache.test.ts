/**
 * The in-memory copy of checksum records: an entry answers only for the
 * version of the file it describes, those used longest ago go first past
 * the limit, and a bucket's entries go with it (and no other bucket's).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RecordCache } from '../../src/storage/fs/record-cache.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const version = (size: number, mtimeNs: number, ino: number): { size: bigint; mtimeNs: bigint; ino: bigint } => ({ size: BigInt(size), mtimeNs: BigInt(mtimeNs), ino: BigInt(ino) });

test('an entry answers for its own version only: size, mtime and inode must all match', () => {
  const cache = new RecordCache();
  cache.set('box', 'a.txt', A, version(5, 1000, 7));
  assert.equal(cache.get('box', 'a.txt', version(5, 1000, 7)), A);
  assert.equal(cache.get('box', 'a.txt', version(6, 1000, 7)), undefined);
  assert.equal(cache.get('box', 'a.txt', version(5, 1001, 7)), undefined);
  assert.equal(cache.get('box', 'a.txt', version(5, 1000, 8)), undefined);
  assert.equal(cache.get('box', 'b.txt', version(5, 1000, 7)), undefined);
  assert.equal(cache.get('other', 'a.txt', version(5, 1000, 7)), undefined);
  cache.set('box', 'a.txt', B, version(9, 2000, 8));
  assert.equal(cache.get('box', 'a.txt', version(5, 1000, 7)), undefined, 'the old version is forgotten');
  assert.equal(cache.get('box', 'a.txt', version(9, 2000, 8)), B);
  cache.delete('box', 'a.txt');
  assert.equal(cache.get('box', 'a.txt', version(9, 2000, 8)), undefined);
});

test('past its limit, the entry set longest ago goes first', () => {
  const cache = new RecordCache(3 * (2 * 'box\0x'.length + 330));
  for (const name of ['1', '2', '3']) cache.set('box', name, A, version(1, 1, 1));
  cache.set('box', '1', A, version(1, 1, 1)); // set again: now the newest
  cache.set('box', '4', A, version(1, 1, 1));
  assert.equal(cache.size, 3);
  assert.equal(cache.get('box', '2', version(1, 1, 1)), undefined);
  for (const name of ['1', '3', '4']) assert.equal(cache.get('box', name, version(1, 1, 1)), A, name);
});

test('past its limit, an entry found lately stays, and the one used longest ago goes', () => {
  const cache = new RecordCache(3 * (2 * 'box\0x'.length + 330));
  for (const name of ['1', '2', '3']) cache.set('box', name, A, version(1, 1, 1));
  assert.equal(cache.get('box', '1', version(1, 1, 1)), A); // read: now the newest used
  assert.equal(cache.get('box', '2', version(9, 9, 9)), undefined); // another version: not a use
  cache.set('box', '4', A, version(1, 1, 1));
  assert.equal(cache.get('box', '2', version(1, 1, 1)), undefined);
  for (const name of ['1', '3', '4']) assert.equal(cache.get('box', name, version(1, 1, 1)), A, name);
  // Found in that order: '1' is now the one used longest ago.
  cache.set('box', '5', A, version(1, 1, 1));
  assert.equal(cache.get('box', '1', version(1, 1, 1)), undefined);
  for (const name of ['3', '4', '5']) assert.equal(cache.get('box', name, version(1, 1, 1)), A, name);
});

test('long names count for more: the limit is in bytes, not entries', () => {
  const cache = new RecordCache(10_000);
  for (let i = 0; i < 100; i++) cache.set('box', `${i}`.padStart(1000, 'n'), A, version(1, 1, 1));
  // About 2.3 KB each: four fit.
  assert.equal(cache.size, 4);
  for (let i = 0; i < 100; i++) cache.set('box', `short-${i}`, A, version(1, 1, 1));
  assert.ok(cache.size >= 25 && cache.size <= 30, `${cache.size} short entries`);
});

test('a bucket deleted takes its entries, and only its own (not those of a bucket whose name it begins)', () => {
  const cache = new RecordCache();
  cache.set('box', 'a.txt', A, version(1, 1, 1));
  cache.set('box', 'dir/b.txt', A, version(1, 1, 1));
  cache.set('box2', 'a.txt', B, version(1, 1, 1));
  cache.deleteBucket('box');
  assert.equal(cache.get('box', 'a.txt', version(1, 1, 1)), undefined);
  assert.equal(cache.get('box', 'dir/b.txt', version(1, 1, 1)), undefined);
  assert.equal(cache.get('box2', 'a.txt', version(1, 1, 1)), B);
});

test('property: whatever is set, deleted and evicted, an answer is always the last SHA-256 set for exactly that version', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), name: fc.constantFrom('a', 'b', 'c', 'd'), sha: fc.constantFrom(A, B), size: fc.nat(2) }),
    fc.record({ kind: fc.constant('delete' as const), name: fc.constantFrom('a', 'b', 'c', 'd') }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const cache = new RecordCache(3 * (2 * 'box\0x'.length + 330));
      const truth = new Map<string, { sha: string; size: number }>();
      for (const each of ops) {
        if (each.kind === 'set') {
          cache.set('box', each.name, each.sha, version(each.size, 1, 1));
          truth.set(each.name, { sha: each.sha, size: each.size });
        } else {
          cache.delete('box', each.name);
          truth.delete(each.name);
        }
        for (const name of ['a', 'b', 'c', 'd']) {
          for (const size of [0, 1, 2]) {
            const answer = cache.get('box', name, version(size, 1, 1));
            const known = truth.get(name);
            // Evicted entries may be missing; a present one is never wrong.
            if (answer !== undefined) assert.ok(known !== undefined && known.size === size && known.sha === answer);
          }
        }
      }
    }),
  );
});
