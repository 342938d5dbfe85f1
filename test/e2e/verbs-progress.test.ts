/**
 * The progress of put and get through the real bucket program against a
 * real bucketd, over a slowed link so that transfers last a few seconds:
 * off a terminal, nothing unless --progress, which prints plain lines (or
 * JSON objects with --json) on stderr and leaves stdout's records as they
 * were; on a pseudo-terminal (util-linux `script`), a display that is
 * drawn and then cleared.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { humanSize } from '../../src/cli/format.js';
import { runBucket, type CliResult } from '../helpers/cli.js';
import { BUCKET, startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { slowLink, type SlowLink } from '../helpers/slow-link.js';

const BIG = 6 * 1024 * 1024;
const SMALL = Array.from({ length: 10 }, (_, i) => 1000 * (i + 1));
const TOTAL = BIG + SMALL.reduce((sum, size) => sum + size, 0);
// 6 MiB at 4 MiB/s: long enough for a line a second and for bars.
const LINK_BYTES_PER_SECOND = 4 * 1024 * 1024;

let server: RunningServer;
let link: SlowLink;
let work: string;
const bucketAt = (port: number, ...args: string[]): Promise<CliResult> => runBucket(['--port', String(port), ...args], '', { cwd: work });
const lines = (text: string): string[] => text.split('\n').filter((line) => line !== '');

before(async () => {
  server = await startServer();
  link = await slowLink(server.port, LINK_BYTES_PER_SECOND);
  work = await tempDir();
  await mkdir(path.join(work, 'tree', 'small'), { recursive: true });
  await writeFile(path.join(work, 'tree', 'big.bin'), randomBytes(BIG));
  for (const [i, size] of SMALL.entries()) await writeFile(path.join(work, 'tree', 'small', `s${i}.txt`), randomBytes(size));
  const made = await bucketAt(server.port, 'mb', 'box');
  assert.equal(made.code, 0, made.stderr);
});
after(async () => {
  await link.close();
  assert.equal(await server.stop(), 0);
  await rm(work, { recursive: true, force: true });
});

test('put -r --progress off a terminal: plain lines on stderr about every second, the last with the totals; stdout as without', async () => {
  const result = await bucketAt(link.port, '--progress', 'put', '-r', 'tree', 'box/slow/');
  assert.equal(result.code, 0, result.stderr);
  const progress = lines(result.stderr);
  assert.ok(progress.length >= 2, `a line a second, then the last: ${result.stderr}`);
  for (const line of progress) assert.match(line, /^progress: \S+ \S+ \/ \S+ \S+, \d+ \/ 11 files, \S+ \S+\/s, (ETA \S+|done in \S+)$/);
  assert.equal(progress.at(-1)!.replace(/, [^,]+\/s, done in \S+$/, ''), `progress: ${humanSize(TOTAL)} / ${humanSize(TOTAL)}, 11 / 11 files`);
  assert.match(progress[0]!, /ETA/);
  const records = lines(result.stdout);
  assert.equal(records.length, 12);
  assert.ok(records.slice(0, 11).every((line) => line.startsWith('uploaded ')));
  assert.equal(records[11], `put: 11 files (${humanSize(TOTAL)})`);
  assert.doesNotMatch(result.stdout, /progress|\x1b/);
});

test('--json --progress: progress objects on stderr (the last one final, with the totals); stdout holds only the records', async () => {
  const result = await bucketAt(server.port, '--json', '--progress', 'get', '-r', 'box/slow/', 'copy-json');
  assert.equal(result.code, 0, result.stderr);
  const progress = lines(result.stderr).map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.ok(progress.length >= 1);
  for (const record of progress) {
    assert.deepEqual(Object.keys(record), ['type', 'bytesDone', 'bytesTotal', 'filesDone', 'filesFailed', 'filesTotal', 'bytesPerSecond', 'etaSeconds', 'elapsedSeconds', 'final']);
    assert.equal(record.type, 'progress');
  }
  const last = progress.at(-1)!;
  assert.deepEqual({ ...last, bytesPerSecond: 0, elapsedSeconds: 0 }, { type: 'progress', bytesDone: TOTAL, bytesTotal: TOTAL, filesDone: 11, filesFailed: 0, filesTotal: 11, bytesPerSecond: 0, etaSeconds: 0, elapsedSeconds: 0, final: true });
  const types = lines(result.stdout).map((line) => (JSON.parse(line) as { type: string }).type);
  assert.deepEqual(types, [...Array<string>(11).fill('downloaded'), 'summary']);
});

test('a single get learns its size from the download; a failed file is counted as failed', async () => {
  const one = await bucketAt(link.port, '--progress', 'get', 'box/slow/tree/big.bin', 'one.bin');
  assert.equal(one.code, 0, one.stderr);
  assert.match(lines(one.stderr).at(-1)!, new RegExp(`^progress: ${humanSize(BIG)} / ${humanSize(BIG)}, 1 / 1 files, `));
  // Again: the local file is in the way.
  const again = await bucketAt(server.port, '--progress', 'get', 'box/slow/tree/big.bin', 'one.bin');
  assert.equal(again.code, 5);
  assert.match(again.stderr, /already exists/);
  assert.match(lines(again.stderr).at(-1)!, /^progress: 0 B \/ 0 B, 0 \/ 1 files, 1 failed, /);
});

test('off a terminal, without --progress: no progress output at all', async () => {
  const put = await bucketAt(server.port, 'put', '-r', 'tree', 'box/quiet/');
  assert.equal(put.code, 0, put.stderr);
  assert.equal(put.stderr, '');
  const get = await bucketAt(server.port, '--json', 'get', '-r', 'box/quiet/', 'copy-quiet');
  assert.equal(get.code, 0, get.stderr);
  assert.equal(get.stderr, '');
});

const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

/** Runs the bucket program on a pseudo-terminal; what the terminal received. */
function onTerminal(args: string[]): Promise<{ code: number | null; screen: string }> {
  const command = [process.execPath, BUCKET, ...args].map((arg) => `'${arg.replace(/'/g, "'\\''")}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TERM: 'xterm', COLUMNS: '100' } });
    let screen = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (screen += text));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out: ${screen}`));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, screen });
    });
  });
}

test('on a terminal: a total line and a bar for the large file, redrawn, then cleared before the summary', { skip: !hasScript && 'no script command' }, async () => {
  const { code, screen } = await onTerminal(['--port', String(link.port), 'get', '-r', 'box/slow/', 'copy-tty']);
  assert.equal(code, 0, screen);
  assert.match(screen, /%.*, \d+ \/ 11 files, .*\/s, ETA \S+\r?\n/, 'the total line, whole');
  assert.match(screen, /% +\S+ \S+ \/ 6\.0 MiB +box\/slow\/tree\/big\.bin/, 'a bar for the large file');
  const lastBar = screen.lastIndexOf('\u2591');
  const lastErase = screen.lastIndexOf('\x1b[J');
  assert.ok(lastBar >= 0 && lastErase > lastBar, 'the display is erased after it was last drawn');
  assert.match(screen.slice(lastErase), /get: 11 files/);
  assert.doesNotMatch(screen.slice(lastErase), /\u2591|ETA/);
});

test('on a terminal with --no-progress: no display', { skip: !hasScript && 'no script command' }, async () => {
  const { code, screen } = await onTerminal(['--port', String(link.port), '--no-progress', 'get', '-r', 'box/slow/', 'copy-tty-quiet']);
  assert.equal(code, 0, screen);
  assert.doesNotMatch(screen, /\u2591|ETA|\x1b\[/);
  assert.match(screen, /get: 11 files/);
});

test('sync --progress: only the files it copies are on the display, and the last line has their totals', async () => {
  // The tree is in box/slow/tree already but for one file, so the sync copies just that one.
  const removed = await bucketAt(server.port, 'rm', 'box/slow/tree/big.bin');
  assert.equal(removed.code, 0, removed.stderr);
  const result = await bucketAt(link.port, '--progress', 'sync', './tree', 'box/slow/tree/');
  assert.equal(result.code, 0, result.stderr);
  const progress = lines(result.stderr);
  assert.ok(progress.length >= 2, `a line a second, then the last: ${result.stderr}`);
  assert.equal(progress.at(-1)!.replace(/, [^,]+\/s, done in \S+$/, ''), `progress: ${humanSize(BIG)} / ${humanSize(BIG)}, 1 / 1 files`);
  assert.match(lines(result.stdout).at(-1)!, /^sync: 1 copied \(/);
});
