/** cli-progress is loaded only when a bar is actually shown. */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createProgress, PROGRESS_MIN_BYTES } from '../../src/cli/progress.js';

// Each test file runs in a process of its own, so this cache is this file's.
function progressLoaded(): boolean {
  return Object.keys(createRequire(import.meta.url).cache).some((file) => file.includes(`${path.sep}cli-progress${path.sep}`));
}

test('the library and the bucket program load cli-progress only to show a bar', async () => {
  await import('../../src/index.js');
  await import('../../src/cli/shell.js');
  await import('../../src/cli/human-output.js');
  assert.equal(progressLoaded(), false, 'loaded by an import');

  const terminal = Object.assign(new PassThrough(), { isTTY: true, columns: 80 }) as unknown as NodeJS.WriteStream;
  (terminal as unknown as PassThrough).resume();
  const notATerminal = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream;
  createProgress('small', PROGRESS_MIN_BYTES - 1, terminal).stop();
  createProgress('piped', PROGRESS_MIN_BYTES * 10, notATerminal).stop();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(progressLoaded(), false, 'loaded with no bar to show');

  const bar = createProgress('big', PROGRESS_MIN_BYTES * 10, terminal);
  bar.update(PROGRESS_MIN_BYTES, PROGRESS_MIN_BYTES * 10);
  const deadline = Date.now() + 5000;
  while (!progressLoaded()) {
    assert.ok(Date.now() < deadline, 'never loaded for a bar');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  bar.stop();
});
