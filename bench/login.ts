/**
 * npm run bench:login — how many SCRAM-SHA-256 logins a second bucketd
 * serves, beside HELLO round trips on the same connections (the baseline:
 * what a request costs without a login). Each login is two round trips
 * and the PBKDF2 of 4096 iterations on each side; the ratio is the result,
 * the absolute rates drift on shared machines.
 *
 *   npm run bench:login
 *   BENCH_SECONDS=5 BENCH_CLIENTS=4 npm run bench:login
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BucketClient } from '../src/client/index.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 2);
const here = path.dirname(fileURLToPath(import.meta.url));
const BUCKETD = path.resolve(here, '../../dist/cli/bucketd.js');

function run(args: string[], input = ''): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BUCKETD, ...args], { stdio: ['pipe', 'ignore', 'inherit'] });
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bucketd ${args.join(' ')} exited ${code}`))));
    child.stdin.end(input);
  });
}

async function startServer(root: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--max-semi-space-size=2', BUCKETD, '--port', '0', '--log-level', 'error', root], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      const match = /listening on \S+:(\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`bucketd exited ${code}`)));
  });
  return { child, port };
}

/** Runs `work` on `CLIENTS` connections for SECONDS; the count per second. */
async function rate(clients: BucketClient[], work: (client: BucketClient) => Promise<unknown>): Promise<number> {
  const until = Date.now() + SECONDS * 1000;
  let done = 0;
  await Promise.all(
    clients.map(async (client) => {
      while (Date.now() < until) {
        await work(client);
        done++;
      }
    }),
  );
  return done / SECONDS;
}

async function main(): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'bucketd-bench-login-'));
  const { child, port } = await startServer(root);
  try {
    await run(['user', 'add', 'bench', '--root', root], 'a password for the bench\n');
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => BucketClient.connect({ port })));
    const hellos = await rate(clients, (client) => client.hello());
    const logins = await rate(clients, (client) => client.login('bench', 'a password for the bench'));
    for (const client of clients) await client.exit();
    console.log(`${CLIENTS} connections, ${SECONDS} s each:`);
    console.log(`  HELLO round trips  ${hellos.toFixed(0).padStart(7)} /s`);
    console.log(`  logins             ${logins.toFixed(0).padStart(7)} /s   (${((1000 * CLIENTS) / logins).toFixed(1)} ms each, ${(logins / hellos).toFixed(3)} of HELLO's rate)`);
  } finally {
    child.kill('SIGTERM');
    await rm(root, { recursive: true, force: true });
  }
}

await main();
