/** Starts the real bucketd program on port 0 with a temporary root. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BUCKETD = path.join(REPO_ROOT, 'dist/cli/bucketd.js');
export const BUCKET = path.join(REPO_ROOT, 'dist/cli/bucket.js');
/** The Node flags bucketd's first line runs it with (a small young generation), for spawning it as the bin would. */
export const SERVER_NODE_FLAGS = ['--max-semi-space-size=2'];

export interface RunningServer {
  port: number;
  /** The HTTP side's port, when started with --http-port. */
  httpPort: number | undefined;
  root: string;
  child: ChildProcess;
  stderr(): string;
  /** Peak resident memory of the server process, in bytes (Linux). */
  peakRss(): Promise<number>;
  /** SIGTERM, then the exit code. Removes the temporary root if we made it. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

// Servers a failed test left running are stopped when its file ends, so a
// failure can never leave a process that keeps the test run from exiting.
// (This hook may run before a file's own, which then finds them stopped.)
const running = new Set<RunningServer>();
after(async () => {
  await Promise.all([...running].map((server) => server.stop()));
});

export async function tempDir(prefix = 'bucketd-test-', base = os.tmpdir()): Promise<string> {
  return mkdtemp(path.join(base, prefix));
}

export async function startServer(options: { root?: string; args?: string[]; base?: string } = {}): Promise<RunningServer> {
  const ownRoot = options.root === undefined;
  const root = options.root ?? (await tempDir('bucketd-root-', options.base));
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, BUCKETD, '--port', '0', '--log-level', 'warn', '--log-format', 'pretty', ...(options.args ?? []), root], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const withHttp = options.args?.includes('--http-port') === true;
  let httpPort: number | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`bucketd did not start: ${stderr}`)), 10_000);
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      const match = /listening on (\S+):(\d+)/.exec(stdout);
      const http = /http on http:\/\/\S+:(\d+)\//.exec(stdout);
      if (match && (http || !withHttp)) {
        clearTimeout(timer);
        if (http) httpPort = Number(http[1]);
        resolve(Number(match[2]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bucketd exited with ${code}: ${stderr}`));
    });
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const server: RunningServer = {
    port,
    httpPort,
    root,
    child,
    stderr: () => stderr,
    async peakRss() {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const match = /VmHWM:\s+(\d+) kB/.exec(status);
      return match ? Number(match[1]) * 1024 : 0;
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      running.delete(server);
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      // A server that ignores SIGTERM beyond its grace period is killed.
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(killer);
      if (ownRoot) await rm(root, { recursive: true, force: true });
      return code;
    },
  };
  running.add(server);
  return server;
}
