/** bucketd's question for ROOT, when started without one. */
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { Interrupted } from '../../src/cli/main.js';
import { askForRoot } from '../../src/cli/root-prompt.js';

function keyboard(): { input: PassThrough; output: PassThrough; shown(): string } {
  const input = new PassThrough();
  const output = new PassThrough();
  let shown = '';
  output.setEncoding('utf8').on('data', (text: string) => (shown += text));
  return { input, output, shown: () => shown };
}

test('at a terminal an empty answer asks again, and ~ is the home folder', async () => {
  const { input, output, shown } = keyboard();
  const root = askForRoot(input, output, true);
  input.write('\r');
  input.write('   \r');
  input.write('~/buckets\r');
  assert.equal(await root, path.join(os.homedir(), 'buckets'));
  assert.equal(shown().split('Folder for the buckets: ').length - 1, 3);
});

test('at a terminal Ctrl-C gives up; Ctrl-D gives nothing', async () => {
  const first = keyboard();
  const interrupted = askForRoot(first.input, first.output, true);
  first.input.write('\x03');
  await assert.rejects(interrupted, Interrupted);
  const second = keyboard();
  const ended = askForRoot(second.input, second.output, true);
  second.input.write('\x04');
  assert.equal(await ended, undefined);
});

test('piped, one line is read: a folder, or nothing if it is empty', async () => {
  const { input, output } = keyboard();
  input.end('  ~  \nignored\n');
  assert.equal(await askForRoot(input, output, false), os.homedir());
  const empty = keyboard();
  empty.input.end('\n/x\n');
  assert.equal(await askForRoot(empty.input, empty.output, false), undefined);
  const none = keyboard();
  none.input.end('');
  assert.equal(await askForRoot(none.input, none.output, false), undefined);
});
