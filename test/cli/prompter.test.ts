/** The prompter, piped and at a (simulated) terminal. */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { Prompter, QuestionCancelled } from '../../src/cli/prompter.js';

const UP = '\x1b[A';
const CTRL_C = '\x03';

function piped(lines: string[]): Prompter {
  const input = new PassThrough();
  input.end(lines.map((line) => `${line}\n`).join(''));
  return new Prompter(input, new PassThrough(), false);
}

/** A prompter on a fake terminal: keys go in, what it shows is collected. */
function terminal(): { prompter: Prompter; type(keys: string): void; shown(): string } {
  const input = new PassThrough();
  const output = new PassThrough();
  let shown = '';
  output.setEncoding('utf8').on('data', (text: string) => (shown += text));
  const prompter = new Prompter(input, output, true);
  return { prompter, type: (keys) => input.write(keys), shown: () => shown };
}

test('piped: y, yes, n, no (any case) and an empty line answer a [y/N] question', async () => {
  const prompter = piped(['y', 'YES', 'n', 'No', '', ' y ']);
  try {
    for (const expected of ['yes', 'yes', 'no', 'no', 'no', 'yes']) assert.equal(await prompter.confirm('replace it?'), expected);
    assert.equal(await prompter.confirm('replace it?'), 'unanswered'); // end of input
  } finally {
    prompter.close();
  }
});

test('piped: a line that is no answer is not eaten; it is the next command', async () => {
  const prompter = piped(['HELLO', 'EXIT']);
  try {
    assert.equal(await prompter.confirm('notes.txt already exists: replace it?'), 'unanswered');
    assert.equal(await prompter.askCommand('bucket> '), 'HELLO');
    assert.equal(await prompter.askCommand('bucket> '), 'EXIT');
    assert.equal(await prompter.askCommand('bucket> '), undefined);
  } finally {
    prompter.close();
  }
});

test('piped: many lines ahead of the questions are all kept, in order', async () => {
  const lines = Array.from({ length: 5000 }, (_, i) => `line ${i}`);
  const prompter = piped(lines);
  try {
    for (const line of lines) assert.equal(await prompter.ask('q: '), line);
    assert.equal(await prompter.ask('q: '), undefined);
  } finally {
    prompter.close();
  }
});

test('terminal: the arrow keys recall command lines, never answers to questions', async () => {
  const { prompter, type } = terminal();
  try {
    const command = prompter.askCommand('bucket> ');
    type('NEW_BUCKET\r');
    assert.equal(await command, 'NEW_BUCKET');
    const answer = prompter.ask('bucket name: ');
    type(`photos\r`);
    assert.equal(await answer, 'photos');
    // At the next question, up recalls nothing...
    const second = prompter.ask('bucket name: ');
    type(`${UP}\r`);
    assert.equal(await second, '');
    // ...and at the command prompt, up recalls the command, not "photos".
    const recalled = prompter.askCommand('bucket> ');
    type(`${UP}\r`);
    assert.equal(await recalled, 'NEW_BUCKET');
  } finally {
    prompter.close();
  }
});

test('terminal: Ctrl-C at a question cancels it; what follows goes to the next prompt', async () => {
  const { prompter, type } = terminal();
  prompter.onInterrupt(() => assert.ok(prompter.cancelQuestion()));
  try {
    const answer = prompter.ask('bucket name: ');
    type(`half-typ${CTRL_C}`);
    await assert.rejects(answer, QuestionCancelled);
    const command = prompter.askCommand('bucket> ');
    type('HELLO\r');
    assert.equal(await command, 'HELLO', 'the half-typed answer is gone');
  } finally {
    prompter.close();
  }
});

test('terminal: Ctrl-C at a [y/N] question cancels it too', async () => {
  const { prompter, type } = terminal();
  prompter.onInterrupt(() => prompter.cancelQuestion());
  try {
    const answer = prompter.confirm('replace it?');
    type(CTRL_C);
    await assert.rejects(answer, QuestionCancelled);
  } finally {
    prompter.close();
  }
});

test('terminal: a line that is no answer to [y/N] asks again', async () => {
  const { prompter, type, shown } = terminal();
  try {
    const answer = prompter.confirm('replace it?');
    type('HELLO\r');
    await new Promise((resolve) => setImmediate(resolve));
    type('y\r');
    assert.equal(await answer, 'yes');
    assert.match(shown(), /please answer y or n/);
  } finally {
    prompter.close();
  }
});

test('terminal: Ctrl-C at the command prompt is not a cancelled question', async () => {
  const { prompter, type } = terminal();
  let cancelled: boolean | undefined;
  prompter.onInterrupt(() => (cancelled = prompter.cancelQuestion()));
  try {
    const command = prompter.askCommand('bucket> ');
    assert.equal(prompter.waitingForCommand, true);
    type(CTRL_C);
    assert.equal(cancelled, false);
    type('HELLO\r');
    assert.equal(await command, 'HELLO');
  } finally {
    prompter.close();
  }
});
