// Runs every compiled *.test.js under .build/test with Node's test runner.
// (Node 20's --test takes no glob patterns; listing the files keeps the
// helpers out of the run and works the same on every platform.)
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';

const root = path.join('.build', 'test');
const files = readdirSync(root, { recursive: true })
  .map(String)
  .filter((file) => file.endsWith('.test.js'))
  .sort()
  .map((file) => path.join(root, file));
if (files.length === 0) {
  console.error(`no test files under ${root}; run npm run build:test first`);
  process.exit(1);
}
// A test that hangs fails after 5 minutes, and a file whose handles stay
// open cannot keep the run from ending.
const options = ['--test', '--test-concurrency=2', '--test-timeout=300000', '--test-force-exit'];
const result = spawnSync(process.execPath, [...options, ...process.argv.slice(2), ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
