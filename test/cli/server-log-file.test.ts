/**
 * The --log-file writer: lines reach the file whole and in order, in
 * batches (at once when a batch is full, within FLUSH_EVERY_MS otherwise);
 * a reopen after a rotation splits old lines from new; a file that cannot
 * be written is said once, in one line, and never stops the server.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { FLUSH_EVERY_MS, LogFile } from '../../src/cli/server-log-file.js';
import { tempDir } from '../helpers/server.js';

let work: string;
let count = 0;
const fresh = (): string => path.join(work, `log-${++count}`, 'bucketd.log');
const line = (i: number): string => `{"n":${i},"msg":"${'x'.repeat(100)}"}\n`;

before(async () => {
  work = await tempDir('bucketd-log-file-');
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

test('lines are kept until the batch is written, then reach the file whole and in order', async () => {
  const file = fresh();
  const log = new LogFile(file, (message) => assert.fail(message));
  assert.ok(existsSync(file), 'created (with its folder) when opened');
  log.write(line(1));
  log.write(line(2));
  // Read at once (synchronously): the batch's timer cannot fire meanwhile.
  assert.equal(readFileSync(file, 'utf8'), '', 'a line alone waits for its batch');
  log.flush();
  assert.equal(await readFile(file, 'utf8'), line(1) + line(2));
  log.close();
});

test(`a line reaches the file within ${FLUSH_EVERY_MS} ms without a flush`, async () => {
  const file = fresh();
  const log = new LogFile(file, (message) => assert.fail(message));
  log.write(line(1));
  const deadline = Date.now() + FLUSH_EVERY_MS * 10;
  while ((await readFile(file, 'utf8')) === '') {
    assert.ok(Date.now() < deadline, 'the batch was never written');
    await new Promise((resolve) => setTimeout(resolve, FLUSH_EVERY_MS / 4));
  }
  assert.equal(await readFile(file, 'utf8'), line(1));
  log.close();
});

test('a full batch is written at once; a line longer than a batch is written whole, in its place', async () => {
  const file = fresh();
  const log = new LogFile(file, (message) => assert.fail(message));
  let expected = '';
  for (let i = 0; i < 1000; i++) {
    log.write(line(i));
    expected += line(i);
  }
  const written = (await stat(file)).size;
  assert.ok(written >= 64 * 1024 - 200 && written < expected.length, `written at once: ${written} of ${expected.length} bytes`);
  const long = `{"msg":"${'y'.repeat(200 * 1024)}"}\n`;
  log.write(long);
  log.write(line(-1));
  log.flush();
  assert.equal(await readFile(file, 'utf8'), expected + long + line(-1));
  log.close();
});

test('property: whatever lines are written (any Unicode, any length), the file holds them in order', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.string({ unit: 'grapheme', minLength: 30_000, maxLength: 40_000 })), { maxLength: 30 }), async (lines) => {
      const file = fresh();
      const log = new LogFile(file, (message) => assert.fail(message));
      for (const each of lines) log.write(`${each}\n`);
      log.close();
      assert.equal(await readFile(file, 'utf8'), lines.map((each) => `${each}\n`).join(''));
    }),
    { numRuns: 40 },
  );
});

test('reopen: lines before it stay in the rotated file, lines after it go to a new one', async () => {
  const file = fresh();
  const log = new LogFile(file, (message) => assert.fail(message));
  log.write(line(1));
  await rename(file, `${file}.1`);
  log.reopen();
  log.write(line(2));
  log.close();
  assert.equal(await readFile(`${file}.1`, 'utf8'), line(1));
  assert.equal(await readFile(file, 'utf8'), line(2));
});

test('reopen that cannot open the file: said once, and the log goes on where it was', async () => {
  const file = fresh();
  const folder = path.dirname(file);
  const said: string[] = [];
  const log = new LogFile(file, (message) => said.push(message));
  log.write(line(1));
  // The folder is moved away and a plain file put in its place.
  await rename(folder, `${folder}.old`);
  await writeFile(folder, 'not a folder');
  log.reopen();
  log.write(line(2));
  log.close();
  assert.equal(said.length, 1);
  assert.match(said[0]!, /^cannot reopen the log file .*bucketd\.log: a parent is not a folder; still writing to the file it was$/);
  assert.equal(await readFile(path.join(`${folder}.old`, 'bucketd.log'), 'utf8'), line(1) + line(2));
});

test('a file that cannot be written at start is one readable error', async () => {
  const blocker = path.join(work, 'blocker');
  await writeFile(blocker, '');
  assert.throws(() => new LogFile(path.join(blocker, 'bucketd.log'), () => undefined), /^Error: cannot write the log file .*blocker\/bucketd\.log: a parent is not a folder$/);
  await mkdir(path.join(work, 'a-folder.log'));
  assert.throws(() => new LogFile(path.join(work, 'a-folder.log'), () => undefined), /cannot write the log file .*: it is a folder$/);
});

test('a full disk: said once, lines dropped (memory does not grow), the server goes on', { skip: existsSync('/dev/full') ? false : 'no /dev/full here to stand for a full disk' }, () => {
  const said: string[] = [];
  const log = new LogFile('/dev/full', (message) => said.push(message));
  for (let i = 0; i < 3000; i++) log.write(line(i)); // several batches
  log.flush();
  log.close();
  assert.deepEqual(said, ['cannot write the log file /dev/full: no space left on the device; lines are lost until it can be written']);
});

test('closed: closing again and writing after close do nothing, and touch no other file', async () => {
  const file = fresh();
  const log = new LogFile(file, (message) => assert.fail(message));
  log.write(line(1));
  log.close();
  // Whatever opens next may get the closed file's descriptor number.
  const other = fresh();
  await mkdir(path.dirname(other), { recursive: true });
  await writeFile(other, 'other\n');
  const otherLog = new LogFile(other, (message) => assert.fail(message));
  log.close();
  assert.equal(log.write(line(2)), false);
  log.flush();
  log.reopen();
  await new Promise((resolve) => setTimeout(resolve, FLUSH_EVERY_MS * 2));
  otherLog.write(line(3));
  otherLog.close();
  assert.equal(await readFile(file, 'utf8'), line(1));
  assert.equal(await readFile(other, 'utf8'), `other\n${line(3)}`);
});

// A disk that fills part-way through a batch takes part of it: the real
// thing here is the file size limit (ulimit -f), which cuts a write short
// and then refuses the rest with EFBIG, lifted afterwards with prlimit.
const prlimit = ['/usr/bin/prlimit', '/bin/prlimit'].find((each) => existsSync(each));
test('a write cut short mid-line: the next batch starts on a line of its own, and recovery is said', { skip: prlimit ? false : 'prlimit (util-linux) not found: cannot lift a file size limit to test a cut write' }, async () => {
  const file = fresh();
  const module = new URL('../../src/cli/server-log-file.js', import.meta.url).href;
  const script = `
    const { LogFile } = await import(${JSON.stringify(module)});
    const log = new LogFile(${JSON.stringify(file)}, (message) => process.stdout.write('said: ' + message + '\\n'));
    for (let i = 0; i < 40; i++) log.write('{"n":' + i + ',"msg":"${'x'.repeat(100)}"}\\n');
    log.flush();
    process.stdout.write('cut\\n');
    process.stdin.once('data', () => {
      log.write('{"n":"after"}\\n');
      log.close();
      process.stdout.write('done\\n');
      process.exit(0);
    });
  `;
  // 1 KiB: the batch of 40 lines (4.6 KB) is cut inside its ninth line.
  const child = spawn('bash', ['-c', 'ulimit -S -f 1 && exec "$0" --input-type=module -e "$1"', process.execPath, script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let exited: number | null | undefined;
  const waiting: Array<() => void> = [];
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    waiting.splice(0).forEach((wake) => wake());
  });
  child.once('exit', (code) => {
    exited = code;
    waiting.splice(0).forEach((wake) => wake());
  });
  const saw = async (text: string): Promise<void> => {
    while (!out.includes(text)) {
      if (exited !== undefined) throw new Error(`the writer exited (${exited}) before "${text}": ${out}`);
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
  };
  await saw('cut\n');
  assert.equal((await stat(file)).size, 1024, 'the write was cut at the size limit');
  const lifted = spawn(prlimit!, ['--pid', String(child.pid), '--fsize=unlimited'], { stdio: 'inherit' });
  assert.equal(await new Promise((resolve) => lifted.once('exit', resolve)), 0, 'prlimit lifted the limit');
  child.stdin.write('go\n');
  await saw('done\n');
  const said = out.split('\n').filter((each) => each.startsWith('said: '));
  assert.deepEqual(said, [`said: cannot write the log file ${file}: the file is larger than the system allows; lines are lost until it can be written`, `said: writing the log file ${file} again`]);
  const lines = (await readFile(file, 'utf8')).split('\n');
  assert.equal(lines.pop(), '', 'the file ends with a whole line');
  assert.equal(lines.at(-1), '{"n":"after"}', 'the line after the cut is a line of its own');
  const cut = lines.length - 2;
  for (const [i, each] of lines.entries()) {
    if (i === cut) assert.ok(!each.endsWith('}') && each.startsWith('{"n":8,'), `the cut line stays cut, alone: ${each.slice(0, 40)}`);
    else assert.doesNotThrow(() => JSON.parse(each), `line ${i + 1} is whole`);
  }
});

test('a pipe whose reader lags (standard error under a service manager): the writer waits for it, and every line arrives in order', async () => {
  // The reader starts reading only after half a second, so the pipe (a
  // socket pair of a few hundred KiB here) fills and the writer meets
  // EAGAIN on its non-blocking end.
  const out = path.join(work, 'from-pipe.log');
  const reader = spawn(process.execPath, ['-e', `setTimeout(() => process.stdin.pipe(require('node:fs').createWriteStream(${JSON.stringify(out)})), 500)`], { stdio: ['pipe', 'ignore', 'inherit'] });
  const fd = (reader.stdin as unknown as { _handle: { fd: number } })._handle.fd;
  assert.ok(fd > 2, 'the pipe to the reader has a descriptor of its own');
  const said: string[] = [];
  const log = new LogFile('the pipe', (message) => said.push(message), fd);
  const lines: string[] = [];
  const started = performance.now();
  for (let i = 0; i < 40_000; i++) {
    lines.push(line(i)); // about 4.4 MiB: many times what the pipe holds
    log.write(lines[i]!);
  }
  log.close(); // flushes; a given descriptor is left open
  // The writes could not all have gone through before the reader began.
  assert.ok(performance.now() - started >= 400, 'the pipe never filled: the wait was not exercised');
  reader.stdin!.end();
  await new Promise((resolve) => reader.once('exit', resolve));
  assert.deepEqual(said, []);
  assert.equal(await readFile(out, 'utf8'), lines.join(''));
});
