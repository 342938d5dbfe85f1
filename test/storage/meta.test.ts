/**
 * The direct metadata calls: a small bookkeeping file is read whole in
 * one read when it fits the shared buffer, and whole in several when it
 * does not, whatever UTF-8 it holds and wherever a character falls.
 */
import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { readSmallFile } from '../../src/storage/fs/meta.js';
import { tempDir } from '../helpers/server.js';

let work: string;
let count = 0;
before(async () => {
  work = await tempDir('bucketd-meta-');
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function roundTrip(text: string): Promise<string> {
  const file = path.join(work, `f${++count}`);
  await writeFile(file, text);
  return readSmallFile(file, constants.O_RDONLY | constants.O_NOFOLLOW);
}

test('sizes around the buffer: empty, one byte, one short of it, exactly it, past it, several times it', async () => {
  for (const size of [0, 1, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 70_000]) {
    const text = 'x'.repeat(size);
    assert.equal(await roundTrip(text), text, `size ${size}`);
  }
});

test('property: any text comes back as written, and a file read after a large one too', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.string({ unit: 'binary', minLength: 5000, maxLength: 20_000 })), { minLength: 1, maxLength: 4 }), async (texts) => {
      for (const text of texts) assert.equal(await roundTrip(text), text);
    }),
    { numRuns: 60 },
  );
});

test('a link in the file\'s place is refused (O_NOFOLLOW), never read through', async () => {
  const target = path.join(work, 'target');
  await writeFile(target, 'secret');
  const link = path.join(work, 'link');
  await symlink(target, link);
  await assert.rejects(readSmallFile(link, constants.O_RDONLY | constants.O_NOFOLLOW), { code: 'ELOOP' });
});
