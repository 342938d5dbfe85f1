/**
 * npm run bench:cli (and part of npm run bench) — the command line on many
 * small files: `bucket put -r` and `bucket get -r` of a tree of 10,000
 * files of 4 KiB, and a `bucket sync` of the same tree when nothing has
 * changed, in files per second, against a plain `cp -r` of the same tree
 * into a tmpfs folder in the same run (the baseline). Everything on tmpfs,
 * the programs run as a person runs them. Several rounds, interleaved;
 * medians and ratios. Absolute numbers drift on shared machines; the
 * ratios are the result.
 *
 *   npm run bench:cli
 *   BENCH_FILES=2000 BENCH_ROUNDS=5 npm run bench:cli
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBucketd } from './start.js';

const FILES = Number(process.env.BENCH_FILES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SIZE = 4096;
const PER_FOLDER = 100;
const here = path.dirname(fileURLToPath(import.meta.url));
const BUCKET = path.resolve(here, '../../dist/cli/bucket.js');
const BASE = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();

async function makeTree(dir: string): Promise<void> {
  for (let i = 0; i < FILES; i++) {
    const folder = path.join(dir, `d${String(Math.floor(i / PER_FOLDER)).padStart(3, '0')}`);
    if (i % PER_FOLDER === 0) await mkdir(folder, { recursive: true });
    const body = Buffer.alloc(SIZE, i & 0xff);
    body.writeUInt32BE(i, 0); // every file different
    await writeFile(path.join(folder, `f${i}.bin`), body);
  }
}

/** Seconds a command takes, run to its end; it must succeed. */
function timed(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const started = performance.now();
  execFileSync(command, args, { stdio: ['ignore', 'ignore', 'inherit'], env });
  return (performance.now() - started) / 1000;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const base = await mkdtemp(path.join(BASE, 'bucketd-bench-cli-'));
  const tree = path.join(base, 'tree');
  const server = await startBucketd(path.join(base, 'root'));
  // Each run of `bucket` keeps its hash cache here, not in the user's home.
  const env = { ...process.env, XDG_CACHE_HOME: path.join(base, 'cache'), XDG_STATE_HOME: path.join(base, 'state'), XDG_CONFIG_HOME: path.join(base, 'config') };
  const bucket = (...args: string[]): string[] => [BUCKET, '--port', String(server.port), ...args];
  try {
    await makeTree(tree);
    const times = { cp: [] as number[], put: [] as number[], get: [] as number[], sync: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      const copy = path.join(base, `copy-${round}`);
      const down = path.join(base, `down-${round}`);
      const name = `round-${round}`;
      execFileSync(process.execPath, bucket('mb', name), { env });
      // Alternate which goes first, so drift on the machine falls on both.
      const steps: Array<() => void> = [
        () => times.cp.push(timed('cp', ['-r', tree, copy])),
        () => times.put.push(timed(process.execPath, bucket('put', '-r', tree, `${name}/`), env)),
      ];
      for (const step of round % 2 === 0 ? steps : steps.reverse()) step();
      times.get.push(timed(process.execPath, bucket('get', '-r', `${name}/tree/`, down), env));
      // The first sync learns the hashes of the tree (its cache); the second finds nothing to do.
      execFileSync(process.execPath, bucket('sync', tree, `${name}/tree/`), { env, stdio: 'ignore' });
      times.sync.push(timed(process.execPath, bucket('sync', tree, `${name}/tree/`), env));
      await rm(copy, { recursive: true, force: true });
      await rm(down, { recursive: true, force: true });
      execFileSync(process.execPath, bucket('rb', '--force', name), { env, stdio: 'ignore' });
    }
    const rate = (seconds: number[]): number => FILES / median(seconds);
    const cp = rate(times.cp);
    console.log(`${FILES} files of ${SIZE} bytes in ${FILES / PER_FOLDER} folders, ${ROUNDS} rounds, medians (${BASE}):`);
    console.log(`  ${'cp -r (baseline)'.padEnd(30)} ${cp.toFixed(0).padStart(8)} files/s`);
    for (const [label, seconds] of [
      ['bucket put -r', times.put],
      ['bucket get -r', times.get],
      ['bucket sync, nothing changed', times.sync],
    ] as const) {
      const files = rate(seconds);
      console.log(`  ${label.padEnd(30)} ${files.toFixed(0).padStart(8)} files/s   ${(files / cp).toFixed(3)}x cp -r`);
    }
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((resolve) => server.child.once('exit', resolve));
    await rm(base, { recursive: true, force: true });
  }
}

await main();
