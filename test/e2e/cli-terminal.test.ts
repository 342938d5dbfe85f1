/**
 * The shell at a terminal (a simulated one, in-process, against the real
 * server): Ctrl-C at a question cancels that command and returns to the
 * command prompt.
 */
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { BucketClient, uploadFile } from '../../src/client/index.js';
import { ServerConnection } from '../../src/cli/connection.js';
import { HumanOutput } from '../../src/cli/human-output.js';
import { Prompter } from '../../src/cli/prompter.js';
import { Shell } from '../../src/cli/shell.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

const CTRL_C = '\x03';

/** A shell on a fake terminal: keys in; the screen, stdout and stderr collected. */
function terminalShell(port: number) {
  const keys = new PassThrough();
  const screen = new PassThrough();
  const out = new PassThrough();
  const err = new PassThrough();
  const seen = { screen: '', out: '', err: '' };
  screen.setEncoding('utf8').on('data', (text: string) => (seen.screen += text));
  out.setEncoding('utf8').on('data', (text: string) => (seen.out += text));
  err.setEncoding('utf8').on('data', (text: string) => (seen.err += text));
  const prompter = new Prompter(keys, screen, true);
  const connection = new ServerConnection('127.0.0.1', port);
  const shell = new Shell({ connection, prompter, output: new HumanOutput({ out, err, server: connection.address }), progress: err as unknown as NodeJS.WriteStream });
  const exited = shell.run().finally(() => prompter.close());
  return {
    seen,
    exited,
    type: (text: string) => keys.write(text),
    /** Waits until the screen shows `text` for the `count`-th time. */
    async until(text: string, count = 1): Promise<void> {
      const deadline = Date.now() + 10_000;
      while (seen.screen.split(text).length - 1 < count) {
        assert.ok(Date.now() < deadline, `"${text}" never appeared ${count} times; screen: ${JSON.stringify(seen.screen)}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
  };
}

describe('the shell at a terminal', () => {
  let server: RunningServer;
  let work: string;

  before(async () => {
    server = await startServer();
    work = await tempDir();
    await writeFile(path.join(work, 'notes.txt'), 'server copy');
    const client = await BucketClient.connect({ port: server.port });
    await client.createBucket('docs');
    await uploadFile(client, path.join(work, 'notes.txt'), 'docs');
    await client.exit();
  });
  after(async () => {
    await server.stop();
    await rm(work, { recursive: true, force: true });
  });

  test('Ctrl-C at "replace it? [y/N]" cancels the download and returns to the command prompt', async () => {
    const local = path.join(work, 'notes.txt');
    await writeFile(local, 'local edits');
    const shell = terminalShell(server.port);
    await shell.until('bucket> ');
    shell.type('DOWNLOAD_FILE\r');
    await shell.until('bucket name: ');
    shell.type('docs\r');
    await shell.until('file name: ');
    shell.type('notes.txt\r');
    await shell.until('save to');
    shell.type(`${local}\r`);
    await shell.until('[y/N] ');
    shell.type(CTRL_C);
    await shell.until('bucket> ', 2);
    shell.type('HELLO\r');
    await shell.until('bucket> ', 3);
    shell.type('EXIT\r');
    assert.equal(await shell.exited, 0);
    assert.match(shell.seen.screen, /cancelled/);
    assert.match(shell.seen.out, /^bucketd \S+ \(protocol 5\)/m);
    assert.doesNotMatch(shell.seen.out, /downloaded/);
    assert.equal(shell.seen.err, '');
    assert.equal(await readFile(local, 'utf8'), 'local edits');
  });

  test('Ctrl-C at a command\'s question cancels the command; nothing is sent', async () => {
    const shell = terminalShell(server.port);
    await shell.until('bucket> ');
    shell.type('NEW_BUCKET\r');
    await shell.until('bucket name: ');
    shell.type(`half-typed${CTRL_C}`);
    await shell.until('bucket> ', 2);
    shell.type('LIST_BUCKET\r');
    await shell.until('bucket> ', 3);
    shell.type('EXIT\r');
    assert.equal(await shell.exited, 0);
    assert.doesNotMatch(shell.seen.out, /created|half-typed/);
    assert.match(shell.seen.out, / docs\n1 bucket\n/);
  });

  test('at a terminal, failed commands do not change the exit code', async () => {
    const shell = terminalShell(server.port);
    await shell.until('bucket> ');
    shell.type('LIST_FILE\r');
    await shell.until('bucket name: ');
    shell.type('nosuchbucket\r');
    await shell.until('bucket> ', 2);
    shell.type('EXIT\r');
    assert.equal(await shell.exited, 0);
    assert.equal(shell.seen.err, 'error: no bucket "nosuchbucket"\n');
  });
});
