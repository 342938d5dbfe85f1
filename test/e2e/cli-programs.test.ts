/** Both programs start and end the same way: --help, --version, usage errors, failures. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { VERSION } from '../../src/version.js';
import { BUCKET, BUCKETD } from '../helpers/server.js';

function run(program: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [program, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

const PROGRAMS = [
  { name: 'bucket', path: BUCKET },
  { name: 'bucketd', path: BUCKETD },
];

for (const program of PROGRAMS) {
  test(`${program.name}: --help and -h show the usage, exit 0`, async () => {
    for (const flag of ['--help', '-h']) {
      const result = await run(program.path, [flag]);
      assert.equal(result.code, 0);
      assert.match(result.stdout, new RegExp(`^usage: ${program.name} `));
      assert.match(result.stdout, /-V, --version/);
      assert.equal(result.stderr, '');
    }
  });

  test(`${program.name}: --version and -V show the version, exit 0; -v is an unknown option`, async () => {
    for (const flag of ['--version', '-V']) {
      const result = await run(program.path, [flag]);
      assert.equal(result.code, 0);
      assert.equal(result.stdout, `${program.name} ${VERSION}\n`);
    }
    const lower = await run(program.path, ['-v']);
    assert.equal(lower.code, 2);
    assert.equal(lower.stderr.split('\n')[0], `${program.name}: unknown option '-v'`);
  });

  test(`${program.name}: a usage error is one line and the usage line, exit 2, no stack trace`, async () => {
    for (const args of [['--frobnicate'], ['--port'], ['--port', 'abc', '/tmp/x']]) {
      const result = await run(program.path, args);
      assert.equal(result.code, 2, args.join(' '));
      const lines = result.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 2, result.stderr);
      assert.match(lines[0]!, new RegExp(`^${program.name}: `));
      assert.match(lines[1]!, new RegExp(`^usage: ${program.name} `));
      assert.equal(result.stdout, '');
    }
  });
}

test('bucket: a word that is no verb is a usage error, with the verb meant when it is close', async () => {
  const stray = await run(BUCKET, ['frobnicate']);
  assert.equal(stray.code, 2);
  assert.match(stray.stderr, /^bucket: unknown command 'frobnicate'\nusage: bucket /);
  const typo = await run(BUCKET, ['lss']);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /^bucket: unknown command 'lss' \(did you mean ls\?\)\nusage: bucket /);
});

test('bucketd: two ROOT folders are a usage error', async () => {
  const result = await run(BUCKETD, ['/tmp/a', '/tmp/b']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^bucketd: give one ROOT folder at most\nusage: bucketd /);
});
