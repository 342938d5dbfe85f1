/** Runs `bucketd user ...` / `bucketd bucket ...` and checks what they leave in ROOT. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after } from 'node:test';
import { decoyVerifier, ScramClient, ScramServer } from '../../src/protocol/scram.js';
import { UserStore } from '../../src/server/users/index.js';
import { BUCKETD, SERVER_NODE_FLAGS, tempDir } from './server.js';

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function bucketd(args: string[], input = '', cwd?: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, BUCKETD, ...args], { stdio: ['pipe', 'pipe', 'pipe'], cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bucketd ${args.join(' ')} timed out; stderr: ${stderr}`));
    }, 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

const roots: string[] = [];
after(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});
export async function newRoot(): Promise<string> {
  const root = await tempDir('bucketd-users-e2e-');
  roots.push(root);
  return root;
}

/** Whether `password` logs `user` in against the verifiers now in ROOT's access file. */
export async function logsIn(root: string, user: string, password: string): Promise<boolean> {
  const store = await UserStore.open(path.join(root, '.bucketd'), { pollMs: 0 });
  try {
    const client = new ScramClient(user, password);
    const server = new ScramServer((name) => store.user(name)?.scram, (name) => decoyVerifier(store.decoySecret, name));
    const outcome = server.finish(client.finalMessage(server.start(client.firstMessage())));
    if (outcome.ok) client.verifyServer(outcome.serverFinal);
    return outcome.ok;
  } finally {
    store.close();
  }
}

export const ok = (result: Result, stdout: string | RegExp): void => {
  assert.equal(result.code, 0, result.stderr);
  if (typeof stdout === 'string') assert.equal(result.stdout, stdout);
  else assert.match(result.stdout, stdout);
};

/** Exit 1, one line on stderr, nothing on stdout. */
export const failed = (result: Result, message: RegExp): void => {
  assert.equal(result.code, 1, `${result.stdout}${result.stderr}`);
  assert.equal(result.stdout, '');
  assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
  assert.match(result.stderr, message);
};

/** Exit 2: one line and the usage line. */
export const misused = (result: Result, message: RegExp): void => {
  assert.equal(result.code, 2, `${result.stdout}${result.stderr}`);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2, result.stderr);
  assert.match(lines[0]!, message);
  assert.match(lines[1]!, /^usage: bucketd (user|bucket) /);
};
