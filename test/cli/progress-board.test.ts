/**
 * The progress board's arithmetic on a fake clock (totals, rate over its
 * window, ETA, the largest files in flight), and what its displays print.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { FILE_BAR_MIN_BYTES, ProgressTally } from '../../src/cli/oneshot/progress-board.js';
import { duration, fit, jsonRecord, NO_BOARD, openProgress, plainLine, progressMode, terminalLines } from '../../src/cli/oneshot/progress-display.js';

const MiB = 1024 * 1024;

function fakeClock(): { now: () => number; tick: (ms: number) => void } {
  let at = 1_000_000;
  return { now: () => at, tick: (ms) => (at += ms) };
}

test('totals: planned files and bytes; an unplanned file adds itself; a resize corrects; a failed file is taken out', () => {
  const clock = fakeClock();
  const tally = new ProgressTally({ now: clock.now });
  tally.expect(2, 300);
  const a = tally.start('a', 100);
  const b = tally.start('b', 200);
  assert.deepEqual([tally.filesTotal, tally.bytesTotal], [2, 300], 'planned files add nothing when they start');
  const c = tally.start('c', 50);
  assert.deepEqual([tally.filesTotal, tally.bytesTotal], [3, 350], 'an unplanned one does');
  a.advance(60);
  a.advance(40);
  a.done();
  b.resize(250);
  assert.equal(tally.bytesTotal, 400);
  b.advance(120);
  b.failed();
  b.failed(); // once is enough
  c.advance(50);
  c.done();
  const snapshot = tally.snapshot();
  assert.deepEqual(
    [snapshot.bytesDone, snapshot.bytesTotal, snapshot.filesDone, snapshot.filesFailed, snapshot.filesTotal],
    [150, 150, 2, 1, 3],
  );
  assert.equal(snapshot.etaSeconds, 0, 'nothing left');
});

test('a file that turns out shorter or longer than planned counts as it was', () => {
  const tally = new ProgressTally({ now: fakeClock().now });
  tally.expect(1, 1000);
  const file = tally.start('f', 1000);
  file.advance(700);
  file.done();
  assert.deepEqual([tally.bytesDone, tally.bytesTotal], [700, 700]);
});

test('rate: bytes over the last window; ETA from it; none while stalled', () => {
  const clock = fakeClock();
  const tally = new ProgressTally({ now: clock.now, rateWindowMs: 5000 });
  tally.expect(1, 100 * MiB);
  const file = tally.start('big', 100 * MiB);
  // 1 MiB/s for 10 s.
  for (let second = 0; second < 10; second++) {
    clock.tick(1000);
    file.advance(MiB);
    tally.snapshot();
  }
  let snapshot = tally.snapshot();
  assert.ok(Math.abs(snapshot.bytesPerSecond - MiB) < 1, `${snapshot.bytesPerSecond}`);
  assert.ok(Math.abs(snapshot.etaSeconds! - 90) < 0.01, `${snapshot.etaSeconds}`);
  assert.equal(snapshot.elapsedSeconds, 10);
  // Then 4 MiB/s: within a window the rate is the new one.
  for (let second = 0; second < 6; second++) {
    clock.tick(1000);
    file.advance(4 * MiB);
    tally.snapshot();
  }
  snapshot = tally.snapshot();
  assert.ok(Math.abs(snapshot.bytesPerSecond - 4 * MiB) < 0.3 * MiB, `${snapshot.bytesPerSecond / MiB} MiB/s`);
  // Stalled for longer than the window: no rate, no ETA.
  for (let second = 0; second < 7; second++) {
    clock.tick(1000);
    tally.snapshot();
  }
  snapshot = tally.snapshot();
  assert.equal(snapshot.bytesPerSecond, 0);
  assert.equal(snapshot.etaSeconds, undefined);
  // The final rate is the whole run's.
  const final = tally.final();
  assert.ok(Math.abs(final.bytesPerSecond - (34 * MiB) / 23) < 1, `${final.bytesPerSecond}`);
  assert.equal(final.etaSeconds, 0);
});

test('largest in flight: the biggest few above the minimum, largest first; gone once done', () => {
  const tally = new ProgressTally({ now: fakeClock().now, largestCount: 3, largestMinBytes: FILE_BAR_MIN_BYTES });
  const sizes: Record<string, number> = { tiny: 1000, small: FILE_BAR_MIN_BYTES - 1, a: 10 * MiB, b: 50 * MiB, c: 5 * MiB, d: 20 * MiB, e: 50 * MiB };
  const handles = Object.fromEntries(Object.entries(sizes).map(([label, size]) => [label, tally.start(label, size)]));
  handles.b!.advance(MiB);
  assert.deepEqual(
    tally.largestInFlight().map((file) => [file.label, file.moved]),
    [['b', MiB], ['e', 0], ['d', 0]],
  );
  handles.b!.done();
  handles.e!.failed();
  assert.deepEqual(tally.largestInFlight().map((file) => file.label), ['d', 'a', 'c']);
  handles.d!.done();
  handles.a!.done();
  handles.c!.done();
  assert.deepEqual(tally.largestInFlight(), [], 'small files get no bar');
});

test('lines: plain, and JSON with its documented fields', () => {
  const snapshot = { bytesDone: 1.2 * 1024 * MiB, bytesTotal: 4 * 1024 * MiB, filesDone: 120, filesFailed: 0, filesTotal: 10000, bytesPerSecond: 85 * MiB, etaSeconds: 33.4, elapsedSeconds: 14.2, largest: [] };
  assert.equal(plainLine(snapshot, false), 'progress: 1.2 GiB / 4.0 GiB, 120 / 10000 files, 85.0 MiB/s, ETA 34s');
  assert.equal(plainLine({ ...snapshot, filesFailed: 2 }, true), 'progress: 1.2 GiB / 4.0 GiB, 120 / 10000 files, 2 failed, 85.0 MiB/s, done in 15s');
  assert.equal(plainLine({ ...snapshot, elapsedSeconds: 0.25 }, true), 'progress: 1.2 GiB / 4.0 GiB, 120 / 10000 files, 85.0 MiB/s, done in 0.3s');
  assert.deepEqual(jsonRecord({ ...snapshot, etaSeconds: undefined }, false), {
    type: 'progress',
    bytesDone: snapshot.bytesDone,
    bytesTotal: snapshot.bytesTotal,
    filesDone: 120,
    filesFailed: 0,
    filesTotal: 10000,
    bytesPerSecond: 85 * MiB,
    etaSeconds: null,
    elapsedSeconds: 14.2,
    final: false,
  });
  assert.deepEqual([duration(0), duration(59.2), duration(302), duration(3720)], ['0s', '1m00s', '5m02s', '1h02m']);
});

test('terminal lines never wrap, whatever the numbers and names', () => {
  const snapshot = {
    bytesDone: 3 * MiB,
    bytesTotal: 123456 * MiB,
    filesDone: 99999,
    filesFailed: 12,
    filesTotal: 100000,
    bytesPerSecond: 999 * MiB,
    etaSeconds: 7200,
    elapsedSeconds: 3,
    largest: [{ label: `photos/${'长名字🎉'.repeat(30)}.jpg`, size: 100 * MiB, moved: 30 * MiB }],
  };
  for (const columns of [20, 40, 80, 132]) {
    for (const line of terminalLines(snapshot, columns)) {
      let width = 0;
      for (const char of line) width += /[\u4e00-\u9fff]|\p{Extended_Pictographic}/u.test(char) ? 2 : 1;
      assert.ok(width <= columns - 1, `${width} > ${columns - 1}: ${line}`);
    }
  }
  assert.equal(fit('ab长c', 3), 'ab');
  assert.equal(fit('ab长c', 4), 'ab长');
});

test('which display: bars on a terminal unless --no-progress; lines or JSON off one only with --progress', () => {
  const tty = Object.assign(new PassThrough(), { isTTY: true });
  const pipe = new PassThrough();
  const env = { TERM: 'xterm' };
  assert.equal(progressMode(undefined, false, tty, env), 'terminal');
  assert.equal(progressMode(undefined, true, tty, env), 'terminal');
  assert.equal(progressMode(false, false, tty, env), 'off');
  assert.equal(progressMode(true, false, tty, { TERM: 'dumb' }), 'lines');
  assert.equal(progressMode(undefined, false, tty, { TERM: 'dumb' }), 'off');
  assert.equal(progressMode(true, true, tty, env), 'json');
  assert.equal(progressMode(undefined, false, pipe, env), 'off');
  assert.equal(progressMode(true, false, pipe, env), 'lines');
  assert.equal(progressMode(true, true, pipe, env), 'json');
  assert.equal(openProgress({ mode: 'off', stream: pipe }), NO_BOARD);
});

test('a lines display prints on its timer and once more at the end, then stops', async () => {
  const stream = new PassThrough();
  let text = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  const board = openProgress({ mode: 'lines', stream, lineEveryMs: 20 });
  board.expect(2, 2000);
  const file = board.start('a', 1000);
  file.advance(500);
  await new Promise((resolve) => setTimeout(resolve, 70));
  file.advance(500);
  file.done();
  await board.finish();
  await board.finish();
  const count = text.split('\n').length - 1;
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(text.split('\n').length - 1, count, 'nothing after finish');
  const lines = text.trimEnd().split('\n');
  assert.ok(lines.length >= 2, text);
  assert.match(lines[0]!, /^progress: 500 B \/ 2\.0 KiB, 0 \/ 2 files, /);
  assert.match(lines.at(-1)!, /^progress: 1000 B \/ 2\.0 KiB, 1 \/ 2 files, .*, done in \S+s$/);
});

test('a terminal display steps aside for a record, and is erased at the end', async () => {
  const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 60 });
  let text = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  const board = openProgress({ mode: 'terminal', stream });
  board.expect(1, 10 * MiB);
  const file = board.start('big.bin', 10 * MiB);
  file.advance(MiB);
  const drawn = Date.now() + 5000;
  while (!text.includes('big.bin')) {
    assert.ok(Date.now() < drawn, 'drawn within a second or so');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const before = text.length;
  board.aside(() => stream.write('a record\n'));
  const aside = text.slice(before);
  assert.match(aside, /^\x1b\[2A\r\x1b\[Ja record\n\S+ +\d+% .*\n\S+ +\d+% .*big\.bin\n$/, `two lines taken away, the record, the lines again below it: ${JSON.stringify(aside)}`);
  await board.finish();
  assert.ok(text.endsWith('\x1b[2A\r\x1b[J'), 'erased at the end');
});
