/**
 * `npm run client` and `npm run server` run in the package's folder, but
 * relative paths mean the folder the user typed the command in (INIT_CWD).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, startServer, tempDir } from '../helpers/server.js';

/** The environment of a user's shell: none of the variables npm sets for this test run. */
function userEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(npm_|INIT_CWD$)/i.test(name)));
}

function npmRun(cwd: string, script: string, args: string[], input: string): ReturnType<typeof spawn> {
  const child = spawn('npm', ['--prefix', REPO_ROOT, 'run', '--silent', script, '--', ...args], { cwd, env: userEnv(), stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  child.stdin!.end(input);
  return child;
}

function collect(child: ReturnType<typeof spawn>): Promise<{ code: number | null; stdout: string }> {
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr!.resume();
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout })));
}

test('npm run client: local paths are relative to where the user stands', async () => {
  const server = await startServer();
  const here = await tempDir();
  try {
    await writeFile(path.join(here, 'mine.txt'), 'from the user folder');
    const input = ['NEW_BUCKET', 'box', 'UPLOAD_FILE', 'mine.txt', '', 'box', 'DOWNLOAD_FILE', 'box', 'mine.txt', 'copy.txt', 'EXIT', ''].join('\n');
    const result = await collect(npmRun(here, 'client', ['--port', String(server.port)], input));
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /^uploaded "mine\.txt"/m);
    assert.equal(await readFile(path.join(here, 'copy.txt'), 'utf8'), 'from the user folder');
  } finally {
    await server.stop();
    await rm(here, { recursive: true, force: true });
  }
});

test('npm run server -- ./data: ROOT is relative to where the user stands', async () => {
  const here = await tempDir();
  const child = npmRun(here, 'server', ['--port', '0', './data'], '');
  try {
    let stdout = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server did not start: ${stdout}`)), 20_000);
      child.stdout!.setEncoding('utf8').on('data', (text: string) => {
        stdout += text;
        if (!stdout.includes('listening on')) return;
        clearTimeout(timer);
        resolve();
      });
    });
    assert.match(stdout, new RegExp(`\\(root ${path.join(here, 'data').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
    assert.ok((await stat(path.join(here, 'data', '.bucketd'))).isDirectory());
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(-child.pid!, 'SIGTERM'); // npm, its shell and the server
    await exited;
    await rm(here, { recursive: true, force: true });
  }
});
