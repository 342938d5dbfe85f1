import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { parseStoreLocation, UnsupportedStoreError } from '../../src/storage/open.js';

test('a store location picks its backend in one place', () => {
  assert.deepEqual(parseStoreLocation('./data'), { backend: 'fs', root: path.resolve('data') });
  assert.deepEqual(parseStoreLocation('/srv/buckets'), { backend: 'fs', root: '/srv/buckets' });
  assert.deepEqual(parseStoreLocation(pathToFileURL('/srv/my buckets').href), { backend: 'fs', root: '/srv/my buckets' });
  assert.deepEqual(parseStoreLocation('C:stuff'), { backend: 'fs', root: path.resolve('C:stuff') });
  assert.throws(() => parseStoreLocation('gopher://host/x'), UnsupportedStoreError);
});
