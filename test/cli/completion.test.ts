import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { completeCommand, completeLocalPath } from '../../src/cli/completion.js';
import { tempDir } from '../helpers/server.js';

test('Tab completes the command words', () => {
  assert.deepEqual(completeCommand('DEL'), [['DELETE_BUCKET', 'DELETE_FILE'], 'DEL']);
  assert.deepEqual(completeCommand('UP'), [['UPLOAD_FILE'], 'UP']);
  assert.deepEqual(completeCommand(''), [['HELLO', 'EXIT', 'NEW_BUCKET', 'LIST_BUCKET', 'DELETE_BUCKET', 'UPLOAD_FILE', 'LIST_FILE', 'DOWNLOAD_FILE', 'DELETE_FILE', 'LIST_UPLOADS', 'ABORT_UPLOAD'], '']);
  assert.deepEqual(completeCommand('LIST_U'), [['LIST_UPLOADS'], 'LIST_U']);
  assert.deepEqual(completeCommand('up'), [[], 'up']);
});

test('Tab completes local paths, folders with a slash, hidden files only when asked', async () => {
  const dir = await tempDir();
  try {
    await writeFile(path.join(dir, 'photo one.jpg'), '');
    await writeFile(path.join(dir, 'photo two.jpg'), '');
    await writeFile(path.join(dir, '.hidden'), '');
    await mkdir(path.join(dir, 'photos'));
    assert.deepEqual(completeLocalPath(`${dir}/pho`), [[`${dir}/photo one.jpg`, `${dir}/photo two.jpg`, `${dir}/photos/`], `${dir}/pho`]);
    assert.deepEqual(completeLocalPath(`${dir}/.h`), [[`${dir}/.hidden`], `${dir}/.h`]);
    assert.deepEqual(completeLocalPath(`${dir}/nothing`), [[], `${dir}/nothing`]);
    assert.deepEqual(completeLocalPath(`${dir}/missing-folder/x`), [[], `${dir}/missing-folder/x`]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
