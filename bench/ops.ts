/**
 * npm run bench:ops — what logging and metrics cost on the small-file
 * workload: 4 KiB uploads on one connection, against a server with the
 * access log at info (JSON, to a file) and metrics on (scraped every
 * second), beside one with --log-level silent and no HTTP side, in
 * alternating rounds of the same run. The ratio is the result; absolute
 * rates drift on shared machines.
 *
 *   npm run bench:ops
 *   BENCH_FILES=1000 BENCH_ROUNDS=7 npm run bench:ops
 *   BENCH_OBSERVED=log|metrics|same npm run bench:ops   (one part alone; same: an A/A run, the noise)
 *
 * Each round pairs the two servers back to back, and the ratios are
 * taken within each pair (the median and the middle half of them), so
 * drift on a shared machine falls on both sides of each ratio.
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { BucketClient } from '../src/client/index.js';
import { startBucketd, type Started } from './start.js';

const FILES = Number(process.env.BENCH_FILES ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const SIZE = 4096;
// On tmpfs where there is one: the disk's fsync would drown what is measured.
const BASE = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();

/** Uploads FILES small files on one connection; files per second. */
async function round(server: Started, bucket: string, files: number): Promise<number> {
  const client = await BucketClient.connect({ port: server.port });
  await client.createBucket(bucket);
  const body = Buffer.alloc(SIZE, 97);
  // A scraper, as Prometheus would be, every second.
  const scraper = server.httpPort === undefined ? undefined : setInterval(() => scrape(server.httpPort!), 1000);
  const started = performance.now();
  for (let i = 0; i < files; i++) await client.upload(bucket, `file-${i}.bin`, Readable.from([body]), SIZE);
  const seconds = (performance.now() - started) / 1000;
  if (scraper) clearInterval(scraper);
  await client.exit();
  return files / seconds;
}

/** One scrape, waited for. */
function scrapeNow(port: number): Promise<void> {
  return new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics' }, (response) => response.resume().on('end', resolve)).on('error', () => resolve());
  });
}

/** One scrape with node:http (fetch's first use would load a whole HTTP stack into the timed loop). */
function scrape(port: number): void {
  http.get({ host: '127.0.0.1', port, path: '/metrics' }, (response) => response.resume()).on('error', () => undefined);
}

const median = (values: number[]): number => quartile(values, 2);
/** The first, second (median) or third quartile, by the nearest rank. */
const quartile = (values: number[], which: 1 | 2 | 3): number => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * which) / 4))]!;
const percent = (fraction: number): string => `${fraction >= 0 ? '+' : ''}${(fraction * 100).toFixed(1)}%`;

const OBSERVED = {
  full: { label: 'access log (JSON file) + metrics', args: (base: string): string[] => ['--log-level', 'info', '--log-format', 'json', '--log-file', path.join(base, 'bucketd.log'), '--http-port', '0'] },
  log: { label: 'access log (JSON file) only', args: (base: string): string[] => ['--log-level', 'info', '--log-format', 'json', '--log-file', path.join(base, 'bucketd.log')] },
  metrics: { label: 'metrics only', args: (_base: string): string[] => ['--log-level', 'silent', '--http-port', '0'] },
  // Both sides the same: how far apart two equal servers land on this machine now.
  same: { label: 'the same as the baseline (A/A)', args: (_base: string): string[] => ['--log-level', 'silent'] },
};
const observedKind = (process.env.BENCH_OBSERVED ?? 'full') as keyof typeof OBSERVED;
if (!(observedKind in OBSERVED)) throw new Error(`BENCH_OBSERVED is one of ${Object.keys(OBSERVED).join(', ')}`);

const CONFIGS = {
  quiet: { label: '--log-level silent, no metrics', args: (_base: string): string[] => ['--log-level', 'silent'] },
  observed: OBSERVED[observedKind],
};

/** CPU seconds (user + system) the process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks of 1/100 s
}

/** A fresh server for each round (no process is favoured by where it landed), warmed up, then timed. */
async function measure(config: keyof typeof CONFIGS, base: string, index: number): Promise<{ rate: number; cpuMsPerFile: number }> {
  const folder = path.join(base, `${config}-${index}`);
  const server = await startBucketd(path.join(folder, 'root'), CONFIGS[config].args(folder));
  try {
    await round(server, 'warm-up', Math.min(200, FILES));
    // A server that is scraped has rendered its metrics before: the first
    // rendering compiles what every later one reuses.
    if (server.httpPort !== undefined) await scrapeNow(server.httpPort);
    const cpuBefore = cpuSeconds(server.child.pid!);
    const rate = await round(server, 'timed', FILES);
    return { rate, cpuMsPerFile: ((cpuSeconds(server.child.pid!) - cpuBefore) * 1000) / FILES };
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((resolve) => server.child.once('exit', resolve));
    await rm(folder, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const base = await mkdtemp(path.join(BASE, 'bucketd-bench-ops-'));
  try {
    const rates: Record<keyof typeof CONFIGS, number[]> = { quiet: [], observed: [] };
    const cpu: Record<keyof typeof CONFIGS, number[]> = { quiet: [], observed: [] };
    for (let i = 0; i < ROUNDS; i++) {
      // Alternate which goes first, so drift on the machine falls on both.
      const order: Array<keyof typeof CONFIGS> = i % 2 === 0 ? ['quiet', 'observed'] : ['observed', 'quiet'];
      for (const config of order) {
        const result = await measure(config, base, i);
        rates[config].push(result.rate);
        cpu[config].push(result.cpuMsPerFile);
      }
    }
    const q = median(rates.quiet);
    const o = median(rates.observed);
    const qc = median(cpu.quiet);
    const oc = median(cpu.observed);
    const rateRatios = rates.observed.map((rate, i) => rate / rates.quiet[i]!);
    const cpuRatios = cpu.observed.map((each, i) => each / cpu.quiet[i]!);
    console.log(`${FILES} uploads of ${SIZE} bytes on one connection, ${ROUNDS} rounds each, medians (${BASE}):`);
    console.log(`  ${''.padEnd(36)} ${'files/s'.padStart(8)}  server CPU per file`);
    console.log(`  ${CONFIGS.quiet.label.padEnd(36)} ${q.toFixed(0).padStart(8)}  ${(qc * 1000).toFixed(0).padStart(5)} µs`);
    console.log(`  ${CONFIGS.observed.label.padEnd(36)} ${o.toFixed(0).padStart(8)}  ${(oc * 1000).toFixed(0).padStart(5)} µs`);
    console.log(`  cost, per round pair: throughput ${percent(1 - median(rateRatios))} (middle half ${percent(1 - quartile(rateRatios, 3))} to ${percent(1 - quartile(rateRatios, 1))}); server CPU per file ${percent(median(cpuRatios) - 1)} (middle half ${percent(quartile(cpuRatios, 1) - 1)} to ${percent(quartile(cpuRatios, 3) - 1)})`);
    console.log('  (the CPU ratio holds better on a loaded machine; BENCH_OBSERVED=same shows the noise)');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

await main();
