/**
 * File errors in words: the usual codes read the same everywhere, a call
 * site can say what a code means there, and nothing unknown is hidden.
 */
import assert from 'node:assert/strict';
import { readFile, mkdir } from 'node:fs/promises';
import { test } from 'node:test';
import { errnoOf, fileErrorReason } from '../../src/util/file-errors.js';

const withCode = (code: string): Error => Object.assign(new Error(`${code}: something`), { code });

test('the usual codes read as words', () => {
  assert.equal(fileErrorReason(withCode('ENOENT')), 'no such file');
  assert.equal(fileErrorReason(withCode('EACCES')), 'permission denied');
  assert.equal(fileErrorReason(withCode('EPERM')), 'permission denied');
  assert.equal(fileErrorReason(withCode('EISDIR')), 'it is a folder');
  assert.equal(fileErrorReason(withCode('ENOSPC')), 'no space left on the device');
  assert.equal(fileErrorReason(withCode('EFBIG')), 'the file is larger than the system allows');
});

test('a call site says what a code means there; unknown codes and errors without one are shown as they are', () => {
  assert.equal(fileErrorReason(withCode('EEXIST'), { EEXIST: 'it is not a folder' }), 'it is not a folder');
  assert.equal(fileErrorReason(withCode('ENOTDIR'), { ENOTDIR: 'it is not a folder' }), 'it is not a folder');
  assert.equal(fileErrorReason(withCode('ENOTDIR')), 'a parent is not a folder');
  assert.equal(fileErrorReason(withCode('EWEIRD')), 'EWEIRD');
  assert.equal(fileErrorReason(new Error('plain')), 'plain');
  assert.equal(fileErrorReason('text'), 'text');
  assert.equal(errnoOf({ code: 7 }), undefined);
});

test('real errors from node:fs', async () => {
  const missing = await readFile('/nonexistent/bucketd-test').catch((error: unknown) => error);
  assert.equal(fileErrorReason(missing), 'no such file');
  const folder = await readFile('/').catch((error: unknown) => error);
  assert.equal(fileErrorReason(folder), 'it is a folder');
  const underFile = await mkdir('/etc/hostname/x').catch((error: unknown) => error);
  assert.equal(fileErrorReason(underFile), 'a parent is not a folder');
});
