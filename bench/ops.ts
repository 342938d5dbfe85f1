/**
 * npm run bench:ops — what logging and metrics cost on the small-file
 * workload: 4 KiB uploads on one connection, against a server with the
 * access log at info (JSON, to a file) and metrics on (scraped every
 * second), beside one with --log-level silent and no HTTP side. The ratio
 * is the result; absolute rates drift on shared machines.
 *
 *   npm run bench:ops
 *   BENCH_FILES=5000 BENCH_ROUNDS=7 BENCH_WARM=3000 npm run bench:ops
 *   BENCH_OBSERVED=log|metrics|same npm run bench:ops   (one part alone; same: an A/A run, the noise)
 *
 * Both servers run side by side, each with its own client connection, and
 * take turns: a batch of uploads to one, then a batch to the other, in
 * alternating order. A machine shared with other work slows down and
 * speeds up by more than the few percent measured here within seconds;
 * taking turns every few dozen milliseconds puts that drift on both sides
 * of each ratio (run back to back instead, an A/A run came out ±10%).
 *
 * Each server is warmed up with BENCH_WARM uploads before it is timed: a
 * server runs for days, so the steady state is what it pays. Cold, V8 is
 * still compiling the hot paths (its compiler threads took a tenth of the
 * CPU in the first thousand requests), and the server with more code to
 * compile looks several times dearer than it is.
 *
 * Each round starts both servers afresh; the result is the median of the
 * rounds' ratios, with the middle half of them.
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { BucketClient } from '../src/client/index.js';
import { startBucketd, type Started } from './start.js';

const FILES = Number(process.env.BENCH_FILES ?? 5000);
const WARM = Number(process.env.BENCH_WARM ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const BATCH = 50;
const SIZE = 4096;
const BUCKET = 'bench';
// On tmpfs where there is one: the disk's fsync would drown what is measured.
const BASE = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();

const OBSERVED = {
  full: { label: 'access log (JSON file) + metrics', args: (base: string): string[] => ['--log-level', 'info', '--log-format', 'json', '--log-file', path.join(base, 'bucketd.log'), '--http-port', '0'] },
  log: { label: 'access log (JSON file) only', args: (base: string): string[] => ['--log-level', 'info', '--log-format', 'json', '--log-file', path.join(base, 'bucketd.log')] },
  metrics: { label: 'metrics only', args: (_base: string): string[] => ['--log-level', 'silent', '--http-port', '0'] },
  // Both sides the same: how far apart two equal servers land on this machine now.
  same: { label: 'the same as the baseline (A/A)', args: (_base: string): string[] => ['--log-level', 'silent'] },
};
const observedKind = (process.env.BENCH_OBSERVED ?? 'full') as keyof typeof OBSERVED;
if (!(observedKind in OBSERVED)) throw new Error(`BENCH_OBSERVED is one of ${Object.keys(OBSERVED).join(', ')}`);
const QUIET = { label: '--log-level silent, no metrics', args: (_base: string): string[] => ['--log-level', 'silent'] };

/** A server under test with its client, and what it has been timed at. */
interface Side {
  server: Started;
  client: BucketClient;
  folder: string;
  uploaded: number;
  timedMs: number;
  scraper: NodeJS.Timeout | undefined;
}

async function startSide(folder: string, args: string[]): Promise<Side> {
  const server = await startBucketd(path.join(folder, 'root'), args);
  const client = await BucketClient.connect({ port: server.port });
  await client.createBucket(BUCKET);
  // A server that is scraped has rendered its metrics before: the first
  // rendering compiles what every later one reuses. Then a scraper, as
  // Prometheus would be, every second.
  let scraper: NodeJS.Timeout | undefined;
  if (server.httpPort !== undefined) {
    await scrape(server.httpPort);
    scraper = setInterval(() => void scrape(server.httpPort!), 1000);
  }
  return { server, client, folder, uploaded: 0, timedMs: 0, scraper };
}

async function stopSide(side: Side): Promise<void> {
  if (side.scraper) clearInterval(side.scraper);
  await side.client.exit();
  side.server.child.kill('SIGTERM');
  await new Promise((resolve) => side.server.child.once('exit', resolve));
  await rm(side.folder, { recursive: true, force: true });
}

/** One scrape with node:http (fetch's first use would load a whole HTTP stack into the timed loop). */
function scrape(port: number): Promise<void> {
  return new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics' }, (response) => response.resume().on('end', resolve)).on('error', () => resolve());
  });
}

/** BATCH uploads to one side; milliseconds they took. */
async function batch(side: Side, body: Buffer): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < BATCH; i++) await side.client.upload(BUCKET, `file-${side.uploaded++}.bin`, Readable.from([body]), SIZE);
  return performance.now() - started;
}

/** Batches to each side in turn, the order swapped every turn, until each has had `files`. */
async function takeTurns(sides: [Side, Side], files: number, timed: boolean): Promise<void> {
  const body = Buffer.alloc(SIZE, 97);
  for (let turn = 0; turn < Math.ceil(files / BATCH); turn++) {
    for (const side of turn % 2 === 0 ? sides : [sides[1], sides[0]]) {
      const ms = await batch(side, body);
      if (timed) side.timedMs += ms;
    }
  }
}

/** CPU seconds (user + system) the process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks of 1/100 s
}

interface Result {
  rate: number;
  cpuMsPerFile: number;
}

/** One round: both servers afresh, warmed up, then timed in turns. */
async function measureRound(base: string, index: number): Promise<{ quiet: Result; observed: Result }> {
  const quietFolder = path.join(base, `quiet-${index}`);
  const observedFolder = path.join(base, `observed-${index}`);
  const sides: [Side, Side] = [await startSide(quietFolder, QUIET.args(quietFolder)), await startSide(observedFolder, OBSERVED[observedKind].args(observedFolder))];
  try {
    await takeTurns(sides, WARM, false);
    const before = sides.map((side) => cpuSeconds(side.server.child.pid!));
    const counted = sides.map((side) => side.uploaded);
    await takeTurns(sides, FILES, true);
    const [quiet, observed] = sides.map((side, i): Result => {
      const files = side.uploaded - counted[i]!;
      return { rate: files / (side.timedMs / 1000), cpuMsPerFile: ((cpuSeconds(side.server.child.pid!) - before[i]!) * 1000) / files };
    });
    return { quiet: quiet!, observed: observed! };
  } finally {
    for (const side of sides) await stopSide(side);
  }
}

const median = (values: number[]): number => quartile(values, 2);
/** The first, second (median) or third quartile, by the nearest rank. */
const quartile = (values: number[], which: 1 | 2 | 3): number => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * which) / 4))]!;
const percent = (fraction: number): string => `${fraction >= 0 ? '+' : ''}${(fraction * 100).toFixed(1)}%`;

async function main(): Promise<void> {
  const base = await mkdtemp(path.join(BASE, 'bucketd-bench-ops-'));
  try {
    const quiet: Result[] = [];
    const observed: Result[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const round = await measureRound(base, i);
      quiet.push(round.quiet);
      observed.push(round.observed);
      console.error(`  round ${i + 1}/${ROUNDS}: throughput cost ${percent(1 - round.observed.rate / round.quiet.rate)}, CPU ${percent(round.observed.cpuMsPerFile / round.quiet.cpuMsPerFile - 1)}`);
    }
    const rateRatios = observed.map((each, i) => each.rate / quiet[i]!.rate);
    const cpuRatios = observed.map((each, i) => each.cpuMsPerFile / quiet[i]!.cpuMsPerFile);
    const row = (label: string, results: Result[]): string =>
      `  ${label.padEnd(36)} ${median(results.map((each) => each.rate)).toFixed(0).padStart(8)}  ${(median(results.map((each) => each.cpuMsPerFile)) * 1000).toFixed(0).padStart(5)} µs`;
    console.log(`${FILES} uploads of ${SIZE} bytes per server after ${WARM} to warm up, two servers taking turns in batches of ${BATCH}, ${ROUNDS} rounds, medians (${BASE}):`);
    console.log(`  ${''.padEnd(36)} ${'files/s'.padStart(8)}  server CPU per file`);
    console.log(row(QUIET.label, quiet));
    console.log(row(OBSERVED[observedKind].label, observed));
    console.log(`  cost: throughput ${percent(1 - median(rateRatios))} (middle half ${percent(1 - quartile(rateRatios, 3))} to ${percent(1 - quartile(rateRatios, 1))}); server CPU per file ${percent(median(cpuRatios) - 1)} (middle half ${percent(quartile(cpuRatios, 1) - 1)} to ${percent(quartile(cpuRatios, 3) - 1)})`);
    console.log('  (BENCH_OBSERVED=same shows the noise)');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

await main();
