/**
 * Starting the servers a bench measures: a node program that prints
 * "listening on HOST:PORT" (and, with its HTTP side, "http on
 * http://HOST:PORT/") once it is ready; bucketd on port 0 on a given root.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BUCKETD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli/bucketd.js');

export interface Started {
  child: ChildProcess;
  port: number;
  /** With `http`: the port of the HTTP side. */
  httpPort: number | undefined;
}

/** Runs `node ARGS` and waits for its address (and its HTTP side's, with `http`). */
export function startListening(args: string[], http = false): Promise<Started> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      const match = /listening on \S+:(\d+)/.exec(out);
      const httpMatch = /http on http:\/\/\S+:(\d+)\//.exec(out);
      if (match && (httpMatch || !http)) resolve({ child, port: Number(match[1]), httpPort: httpMatch ? Number(httpMatch[1]) : undefined });
    });
    child.once('exit', (code) => reject(new Error(`${path.basename(args.find((arg) => arg.endsWith('.js')) ?? 'node')} exited ${code}`)));
  });
}

/** BENCH_PROFILE=FOLDER: each server writes a CPU profile there when it stops, to see where its time went. */
function profileFlags(): string[] {
  const folder = process.env.BENCH_PROFILE;
  return folder ? ['--cpu-prof', `--cpu-prof-dir=${folder}`] : [];
}

/** bucketd on port 0 on `root`, as the benches run it (`args` default to `--log-level warn`). */
export function startBucketd(root: string, args: string[] = ['--log-level', 'warn'], bucketd = BUCKETD): Promise<Started> {
  return startListening(['--max-semi-space-size=2', ...profileFlags(), bucketd, '--port', '0', ...args, root], args.includes('--http-port'));
}
