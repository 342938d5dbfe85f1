/**
 * npm run bench:ops — what logging and metrics cost on the small-file
 * workload: 4 KiB uploads on one connection, against servers with the
 * access log at info (JSON, to a file), with metrics on, with both, and
 * with both and --metrics-gc, beside one with --log-level silent and no
 * HTTP side. Metrics are scraped every second of a server's work: fifteen
 * times as often as the scrape config in docs/OPERATIONS.md, since a round
 * lasts seconds. The ratios are the result; absolute rates drift on
 * shared machines.
 *
 *   npm run bench:ops
 *   BENCH_FILES=5000 BENCH_ROUNDS=7 BENCH_WARM=3000 npm run bench:ops
 *   BENCH_OBSERVED=full,same npm run bench:ops   (which servers beside the quiet one; same: an A/A run, the noise; gc: full with --metrics-gc)
 *   BENCH_SCRAPE_SECONDS=0.5 npm run bench:ops   (scraped every half second of work instead)
 *
 * All the servers run side by side, each with its own client connection,
 * and take turns: a batch of uploads to each, in an order shuffled every
 * turn. A machine shared with other work slows down and speeds up by
 * more than the few percent measured here within seconds; taking turns
 * every few dozen milliseconds puts that drift on both sides of each ratio
 * (run back to back instead, an A/A run came out ±10%).
 *
 * Each server is warmed up with BENCH_WARM uploads before it is timed: a
 * server runs for days, so the steady state is what it pays. Cold, V8 is
 * still compiling the hot paths (its compiler threads took a tenth of the
 * CPU in the first thousand requests), and the server with more code to
 * compile looks several times dearer than it is.
 *
 * Each round starts all servers afresh (a process's own luck, where its
 * memory landed, moves it by a few percent); the result is the median of
 * the rounds' ratios, with the middle half of them.
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
const SCRAPE_MS = Number(process.env.BENCH_SCRAPE_SECONDS ?? 1) * 1000;
const SIZE = 4096;
const BUCKET = 'bench';
// On tmpfs where there is one: the disk's fsync would drown what is measured.
const BASE = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();

const OBSERVED = {
  full: { label: 'access log (JSON file) + metrics', args: (base: string): string[] => ['--log-level', 'info', '--log-format', 'json', '--log-file', path.join(base, 'bucketd.log'), '--http-port', '0'] },
  log: { label: 'access log (JSON file) only', args: (base: string): string[] => ['--log-level', 'info', '--log-format', 'json', '--log-file', path.join(base, 'bucketd.log')] },
  metrics: { label: 'metrics only', args: (_base: string): string[] => ['--log-level', 'silent', '--http-port', '0'] },
  // What nodejs_gc_duration_seconds adds (--metrics-gc, off in bucketd by default).
  gc: { label: 'log + metrics + --metrics-gc', args: (base: string): string[] => ['--log-level', 'info', '--log-format', 'json', '--log-file', path.join(base, 'bucketd.log'), '--http-port', '0', '--metrics-gc'] },
  // The same as the quiet server: how far apart two equal servers land on this machine now.
  same: { label: 'the same as the baseline (A/A)', args: (_base: string): string[] => ['--log-level', 'silent'] },
};
type Kind = keyof typeof OBSERVED;
const observedKinds = (process.env.BENCH_OBSERVED ?? 'same,log,metrics,full,gc').split(',') as Kind[];
for (const kind of observedKinds) if (!(kind in OBSERVED)) throw new Error(`BENCH_OBSERVED lists some of ${Object.keys(OBSERVED).join(', ')}`);
const QUIET = { label: '--log-level silent, no metrics', args: (_base: string): string[] => ['--log-level', 'silent'] };
const SIDES = [QUIET, ...observedKinds.map((kind) => OBSERVED[kind])];

/** A server under test with its client, and what it has been timed at. */
interface Side {
  server: Started;
  client: BucketClient;
  folder: string;
  uploaded: number;
  timedMs: number;
  /** Milliseconds this server has been busy with uploads, warm-up included; it is scraped once every SCRAPE_MS of them. */
  busyMs: number;
  scrapes: number;
}

async function startSide(folder: string, args: string[]): Promise<Side> {
  const server = await startBucketd(path.join(folder, 'root'), args);
  try {
    const client = await BucketClient.connect({ port: server.port });
    await client.createBucket(BUCKET);
    // A server that is scraped has rendered its metrics before: the first
    // rendering compiles what every later one reuses.
    if (server.httpPort !== undefined) await scrape(server.httpPort);
    return { server, client, folder, uploaded: 0, timedMs: 0, busyMs: 0, scrapes: 0 };
  } catch (error) {
    server.child.kill('SIGTERM'); // not left running when the round stops here
    throw error;
  }
}

async function stopSide(side: Side): Promise<void> {
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

/**
 * BATCH uploads to one side; milliseconds they took. A server with an HTTP
 * side is scraped once every SCRAPE_MS of its own work, while it works: a
 * scraper on the wall clock would scrape a server that waits for its turn
 * as often as one that is busy, and charge it for the others' time.
 */
async function batch(side: Side, body: Buffer): Promise<number> {
  const started = performance.now();
  const scraped = side.server.httpPort !== undefined && side.busyMs >= (side.scrapes + 1) * SCRAPE_MS ? scrape(side.server.httpPort) : undefined;
  if (scraped) side.scrapes++;
  for (let i = 0; i < BATCH; i++) await side.client.upload(BUCKET, `file-${side.uploaded++}.bin`, Readable.from([body]), SIZE);
  await scraped;
  const ms = performance.now() - started;
  side.busyMs += ms;
  return ms;
}

/**
 * Batches to each side in turn, in a new order every turn, until each has
 * had `files`. Shuffled, not rotated: in a rotation each server almost
 * always follows the same one, and what that one leaves behind (a flushed
 * log, a collection, cold caches) lands on it alone.
 */
async function takeTurns(sides: Side[], files: number, timed: boolean): Promise<void> {
  const body = Buffer.alloc(SIZE, 97);
  const order = [...sides];
  for (let turn = 0; turn < Math.ceil(files / BATCH); turn++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const side of order) {
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

/**
 * One round: all servers afresh, warmed up, then timed in turns; a result
 * per server, the quiet one first. Each round starts them in another order
 * (rotated by the round), so that no server is always the first or the
 * last to start.
 */
async function measureRound(base: string, index: number): Promise<Result[]> {
  const sides: Side[] = new Array<Side>(SIDES.length);
  try {
    for (let n = 0; n < SIDES.length; n++) {
      const i = (index + n) % SIDES.length;
      const folder = path.join(base, `server-${index}-${i}`);
      sides[i] = await startSide(folder, SIDES[i]!.args(folder));
    }
    await takeTurns(sides, WARM, false);
    const before = sides.map((side) => cpuSeconds(side.server.child.pid!));
    const counted = sides.map((side) => side.uploaded);
    await takeTurns(sides, FILES, true);
    return sides.map((side, i): Result => {
      const files = side.uploaded - counted[i]!;
      return { rate: files / (side.timedMs / 1000), cpuMsPerFile: ((cpuSeconds(side.server.child.pid!) - before[i]!) * 1000) / files };
    });
  } finally {
    for (const side of sides) if (side !== undefined) await stopSide(side);
  }
}

const median = (values: number[]): number => quartile(values, 2);
/** The first, second (median) or third quartile, by the nearest rank. */
const quartile = (values: number[], which: 1 | 2 | 3): number => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * which) / 4))]!;
const percent = (fraction: number): string => `${fraction >= 0 ? '+' : ''}${(fraction * 100).toFixed(1)}%`;

async function main(): Promise<void> {
  const base = await mkdtemp(path.join(BASE, 'bucketd-bench-ops-'));
  try {
    const rounds: Result[][] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const round = await measureRound(base, i);
      rounds.push(round);
      const costs = round.slice(1).map((each, k) => `${observedKinds[k]} ${percent(1 - each.rate / round[0]!.rate)} (CPU ${percent(each.cpuMsPerFile / round[0]!.cpuMsPerFile - 1)})`);
      console.error(`  round ${i + 1}/${ROUNDS}: throughput cost ${costs.join(', ')}`);
    }
    console.log(`${FILES} uploads of ${SIZE} bytes per server after ${WARM} to warm up, ${SIDES.length} servers taking turns in batches of ${BATCH}, ${ROUNDS} rounds, medians (${BASE}):`);
    console.log(`  ${''.padEnd(36)} ${'files/s'.padStart(8)}  ${'CPU/file'.padStart(8)}  throughput cost (middle half)   CPU cost (middle half)`);
    SIDES.forEach((kind, k) => {
      const results = rounds.map((round) => round[k]!);
      let line = `  ${kind.label.padEnd(36)} ${median(results.map((each) => each.rate)).toFixed(0).padStart(8)}  ${(median(results.map((each) => each.cpuMsPerFile)) * 1000).toFixed(0).padStart(5)} µs`;
      if (k > 0) {
        const rateRatios = rounds.map((round) => round[k]!.rate / round[0]!.rate);
        const cpuRatios = rounds.map((round) => round[k]!.cpuMsPerFile / round[0]!.cpuMsPerFile);
        const range = (low: number, high: number): string => `(${percent(low)} to ${percent(high)})`.padEnd(18);
        line += `  ${percent(1 - median(rateRatios)).padStart(6)} ${range(1 - quartile(rateRatios, 3), 1 - quartile(rateRatios, 1))}  ${percent(median(cpuRatios) - 1).padStart(6)} ${range(quartile(cpuRatios, 1) - 1, quartile(cpuRatios, 3) - 1)}`;
      }
      console.log(line);
    });
    if (!observedKinds.includes('same')) console.log('  (BENCH_OBSERVED=same,full adds an A/A server: the noise)');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

await main();
