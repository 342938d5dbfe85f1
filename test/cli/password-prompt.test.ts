/** Asking for a password: hidden at a terminal, asked twice for a new one; one line when piped. */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { Interrupted } from '../../src/cli/main.js';
import { askHidden, LineReader, PasswordError, readNewPassword } from '../../src/cli/password-prompt.js';

function terminal(): { input: PassThrough; output: PassThrough; shown(): string } {
  const input = new PassThrough();
  const output = new PassThrough();
  let shown = '';
  output.setEncoding('utf8').on('data', (text: string) => (shown += text));
  // What the screen shows, without readline's cursor movements.
  return { input, output, shown: () => shown.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '') };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('at a terminal the answer is not shown', async () => {
  const { input, output, shown } = terminal();
  const answer = askHidden(input, output, 'Password: ');
  input.write('s3cret pass\r');
  assert.equal(await answer, 's3cret pass');
  assert.equal(shown(), 'Password: \n');
  assert.ok(!shown().includes('s3cret'));
});

test('at a terminal Ctrl-C gives up; Ctrl-D gives nothing', async () => {
  const first = terminal();
  const interrupted = askHidden(first.input, first.output, 'Password: ');
  first.input.write('abc\x03');
  await assert.rejects(interrupted, Interrupted);
  const second = terminal();
  const ended = askHidden(second.input, second.output, 'Password: ');
  second.input.write('\x04');
  assert.equal(await ended, undefined);
});

test('a new password is typed twice; different or empty answers change nothing', async () => {
  const same = terminal();
  const password = readNewPassword({ terminal: true, input: same.input, output: same.output }, '"alice"');
  same.input.write('pw one\r');
  await tick();
  same.input.write('pw one\r');
  assert.equal(await password, 'pw one');
  assert.equal(same.shown(), 'Password for "alice": \nThe same again: \n');

  const differ = terminal();
  const mismatch = readNewPassword({ terminal: true, input: differ.input, output: differ.output }, '"alice"');
  differ.input.write('one\r');
  await tick();
  differ.input.write('two\r');
  await assert.rejects(mismatch, (error: unknown) => error instanceof PasswordError && /differ/.test(error.message));

  const empty = terminal();
  const none = readNewPassword({ terminal: true, input: empty.input, output: empty.output }, '"alice"');
  empty.input.write('\r');
  await assert.rejects(none, PasswordError);
});

test('piped: one line each, in order, as it is', async () => {
  const input = new PassThrough();
  const lines = new LineReader(input);
  input.end(' first line \r\nsecond\n\nlast');
  assert.equal(await readNewPassword({ terminal: false, lines }, 'x'), ' first line ');
  assert.equal(await lines.next(), 'second');
  await assert.rejects(readNewPassword({ terminal: false, lines }, 'x'), PasswordError, 'an empty line is no password');
  assert.equal(await lines.next(), 'last');
  assert.equal(await lines.next(), undefined);
  lines.close();
});
