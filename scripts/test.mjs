// Runs the compiled *.test.js files under .build/test with Node's test runner.
//   node scripts/test.mjs          the everyday suite: everything but test/slow/
//   node scripts/test.mjs --slow   test/slow/ only, one file at a time
// Other arguments go to node --test (e.g. --test-name-pattern=...).
// (Node 20's --test takes no glob patterns; listing the files keeps the
// helpers out of the run and works the same on every platform.)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureSystemDeps } from './system-deps.mjs';

const args = process.argv.slice(2);
const slow = args.includes('--slow');
const passThrough = args.filter((arg) => arg !== '--slow');

const root = path.join('.build', 'test');
if (!existsSync(root)) {
  console.error(`no ${root}; run npm run build:test first`);
  process.exit(1);
}
const isSlow = (file) => file.split(path.sep)[0] === 'slow';
const files = readdirSync(root, { recursive: true })
  .map(String)
  .filter((file) => file.endsWith('.test.js') && isSlow(file) === slow)
  .sort()
  .map((file) => path.join(root, file));
if (files.length === 0) {
  if (slow) {
    console.log('no slow tests under .build/test/slow');
    process.exit(0);
  }
  console.error(`no test files under ${root}; run npm run build:test first`);
  process.exit(1);
}

ensureSystemDeps();

const options = slow
  ? // Slow tests measure memory and time, so they run alone; a hung one
    // fails after 5 minutes.
    ['--test-concurrency=1', '--test-timeout=300000']
  : // Most of the everyday suite waits on child processes and sockets, not
    // the CPU: on 2 cores three files at a time take about 6.5 s against
    // 7.5 s for two, and more gain nothing. A hung test fails after a minute.
    ['--test-concurrency=3', '--test-timeout=60000'];
// A file whose handles stay open cannot keep the run from ending.
options.push('--test-force-exit');
// The bucket program keeps a record of uploads in flight in the user's
// state folder: the tests' go to a folder of their own, removed after.
const stateHome = mkdtempSync(path.join(os.tmpdir(), 'bucket-test-state-'));
const result = spawnSync(process.execPath, ['--test', ...options, ...passThrough, ...files], { stdio: 'inherit', env: { ...process.env, XDG_STATE_HOME: stateHome } });
rmSync(stateHome, { recursive: true, force: true });
process.exit(result.status ?? 1);
