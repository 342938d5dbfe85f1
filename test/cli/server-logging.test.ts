/**
 * Where the server's log goes when no --log-file is given: standard error,
 * in batches when it is not a terminal. Run in a child whose standard
 * error is a pipe, as under journald or a container.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const logging = new URL('../../src/cli/server-logging.js', import.meta.url).href;

/** Runs `body` (ESM, with `openLogging` in scope) in a child; its standard error. */
function stderrOf(body: string): string {
  const script = `import { writeSync } from 'node:fs';\nimport { openLogging } from ${JSON.stringify(logging)};\n${body}`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(child.status, 0, child.stderr);
  return child.stderr;
}

test('to a pipe, a line waits for its batch: something written at once after it comes first', () => {
  const text = stderrOf(`
    const { logger, flush } = openLogging({ level: 'info', format: 'json' });
    logger.info('held in the batch');
    writeSync(2, 'written at once\\n');
    flush();
  `);
  const lines = text.trim().split('\n');
  assert.equal(lines.length, 2, text);
  assert.equal(lines[0], 'written at once');
  assert.equal(JSON.parse(lines[1]!).msg, 'held in the batch');
});

test('to a pipe, lines come out by themselves within a moment, with no flush', () => {
  const text = stderrOf(`
    const { logger } = openLogging({ level: 'info', format: 'json' });
    logger.info('one');
    logger.info('two');
    // Kept alive past the batch's timer (0.2 s), which must not keep a process alive by itself.
    setTimeout(() => undefined, 1000);
  `);
  assert.deepEqual(text.trim().split('\n').map((line) => JSON.parse(line).msg), ['one', 'two']);
});
