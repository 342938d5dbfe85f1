/** Runs the real bucket program with piped input. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { BUCKET } from './server.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

// The program's record of uploads in flight goes here, never to the user's own state folder.
let stateHome: string | undefined;
function testState(): NodeJS.ProcessEnv {
  stateHome ??= mkdtempSync(path.join(os.tmpdir(), 'bucket-state-'));
  return { XDG_STATE_HOME: stateHome };
}

export function runBucket(args: string[], input: string, options: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    // Variables given as undefined are removed from the child's environment.
    const env = Object.fromEntries(Object.entries({ ...process.env, ...testState(), ...options.env }).filter(([, value]) => value !== undefined));
    const child = spawn(process.execPath, [BUCKET, ...args], { stdio: ['pipe', 'pipe', 'pipe'], cwd: options.cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bucket timed out; stdout: ${stdout} stderr: ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/** A running bucket program, fed and watched step by step. */
export interface LiveBucket {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  exited: Promise<number | null>;
  /** Resolves once `text` has appeared on stdout or stderr. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
}

// Programs a failed test left running are killed when its file ends.
const runningPrograms = new Set<ChildProcess>();
after(() => {
  for (const child of runningPrograms) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

export function spawnBucket(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): LiveBucket {
  const env = { ...process.env, ...testState(), ...options.env };
  const child = spawn(process.execPath, [BUCKET, ...args], { stdio: ['pipe', 'pipe', 'pipe'], cwd: options.cwd, env });
  runningPrograms.add(child);
  child.once('exit', () => runningPrograms.delete(child));
  const live = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise<number | null>((resolve) => child.once('exit', resolve)),
    async waitFor(text: string, timeoutMs = 10_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!live.stdout.includes(text) && !live.stderr.includes(text)) {
        if (Date.now() > deadline) throw new Error(`"${text}" never appeared; stdout: ${live.stdout} stderr: ${live.stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
  };
  child.stdout.setEncoding('utf8').on('data', (text: string) => (live.stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (live.stderr += text));
  return live;
}
