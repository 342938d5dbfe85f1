/**
 * npm run bench:peers — bucketd against the servers a person would
 * otherwise reach for, on the same bytes, in the same run (issue 10):
 *
 * - a 1 GiB file up and down: curl -T / curl -o against vsftpd, beside
 *   `bucket put FILE bench/KEY` / `bucket get bench/KEY FILE`;
 * - 1,000 files of 4 KiB up and down in one session: lftp `mirror -R` /
 *   `mirror` against vsftpd, beside `bucket put -r` / `bucket get -r`, both
 *   with bucket's default --parallel 4 and with --parallel 1 (one
 *   connection, as lftp's mirror uses one session with one transfer at a
 *   time);
 * - listing those 1,000 files, a whole session's wall time: lftp `cls -1`
 *   beside `bucket ls bench/PREFIX/`;
 * - a session that does nothing (`bucket ping`; lftp's `quote NOOP`),
 *   the floor under the rows above: a program's start, connect, log in;
 * - request round trips on one connection, at depth 1 and 16 pipelined:
 *   HELLO from a small driver here (a new request goes out as each reply
 *   arrives, so 16 stay outstanding) beside redis-benchmark's PING_INLINE
 *   (-c 1 -P 1 / -P 16) against redis-server, and beside an inline PING
 *   to redis from the same small driver (the servers alone, without the
 *   difference between a driver in C and one in Node);
 * - server memory: bucketd's VmRSS when idle after start and its VmHWM
 *   after moving the 1 GiB file up and down, beside vsftpd's listener when
 *   idle and the largest sum of VmRSS over its forked session processes,
 *   sampled every 20 ms during the same transfers (bucketd is sampled too,
 *   so the sampling costs both sides alike).
 *
 * Every client is the real program, started as a person would start it,
 * so each time includes that program's start (node's for `bucket`).
 * vsftpd, lftp, curl and redis come from Debian's packages, installed when
 * missing and we are root; without them their rows say SKIPPED. All data
 * on tmpfs (/dev/shm); vsftpd and bucketd start fresh each round on fresh
 * roots, redis once; every server is stopped by its PID.
 *
 *   npm run bench:peers
 *   BENCH_MB=16 BENCH_FILES=100 BENCH_PINGS=10000 BENCH_ROUNDS=1 npm run bench:peers   # a quick look
 *   BENCH_ONLY=big npm run bench:peers   # only the big file up and down (and memory)
 *
 * BENCH_ROUNDS rounds (default 3), the order of the two sides alternating
 * in each round; medians, the ratio of the medians, and the lowest and
 * highest of the rounds' own ratios. Absolute figures drift on a shared
 * machine; the ratios, taken within one run, are the result.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePeers } from './peers/deps.js';
import { helloRate, redisPingDriverRate, redisPingRate } from './peers/round-trips.js';
import { memoryMiB, sampleRss, startBucketd, startRedis, startVsftpd, stop, type Running } from './peers/servers.js';

const SIZE_MB = Number(process.env.BENCH_MB ?? 1024);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const FILES = Number(process.env.BENCH_FILES ?? 1000);
const PINGS = Number(process.env.BENCH_PINGS ?? 100_000);
// BENCH_ONLY=big: only the big file's rows, for working on large transfers.
const ONLY_BIG = process.env.BENCH_ONLY === 'big';
const SIZE = SIZE_MB * 1024 * 1024;
const SMALL = 4096;
const here = path.dirname(fileURLToPath(import.meta.url));
const BUCKETD = path.resolve(here, '../../dist/cli/bucketd.js');
const BUCKET = path.resolve(here, '../../dist/cli/bucket.js');
const BASE = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();

/** How a row's figures compare: rates are better high, times and memory low. */
type Kind = 'rate' | 'lower';

interface Row {
  label: string;
  unit: string;
  kind: Kind;
  peer: string;
  bucketd: number[];
  peerValues: number[];
  note?: string;
}

const rows = new Map<string, Row>();
function row(key: string, label: string, unit: string, kind: Kind, peer: string): Row {
  if (!rows.has(key)) rows.set(key, { label, unit, kind, peer, bucketd: [], peerValues: [] });
  return rows.get(key)!;
}

/** Runs a program to its end (it must succeed); seconds, and what it printed. */
function timed(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ seconds: number; stdout: string }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${path.basename(command)} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      resolve({ seconds: (performance.now() - started) / 1000, stdout });
    });
  });
}

async function makeBigFile(file: string): Promise<void> {
  const handle = await open(file, 'w');
  const block = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < SIZE_MB; i++) {
    block.fill(i & 0xff);
    block.writeUInt32BE(i, 0);
    await handle.write(block);
  }
  await handle.close();
}

async function makeTree(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < FILES; i++) {
    const body = Buffer.alloc(SMALL, i & 0xff);
    body.writeUInt32BE(i, 0); // every file different
    await writeFile(path.join(dir, `f${String(i).padStart(5, '0')}.bin`), body);
  }
}

async function expectSize(file: string, size: number): Promise<void> {
  const actual = (await stat(file)).size;
  if (actual !== size) throw new Error(`${file} has ${actual} bytes, expected ${size}`);
}

async function expectFiles(dir: string): Promise<void> {
  const names = await readdir(dir);
  if (names.length !== FILES) throw new Error(`${dir} has ${names.length} files, expected ${FILES}`);
  for (const name of names) await expectSize(path.join(dir, name), SMALL);
}

function lineCount(text: string): number {
  return text.split('\n').filter((line) => line.trim() !== '').length;
}

/** The median of what was measured (NaN, a sample that caught nothing, is left out). */
function median(values: number[]): number {
  const measured = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  return measured.length === 0 ? NaN : measured[Math.floor(measured.length / 2)]!;
}

function packageVersion(name: string): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f', '${Version}', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).replace(/^\d+:/, '').replace(/[-+].*$/, '');
  } catch {
    return '?';
  }
}

async function main(): Promise<void> {
  const log = (line: string): void => console.log(line);
  const programs = ensurePeers(log);
  const [vsftpd, lftp, curl, redisServer, redisBenchmark] = ['vsftpd', 'lftp', 'curl', 'redis-server', 'redis-benchmark'].map((each) => programs.get(each));
  const base = await mkdtemp(path.join(BASE, 'bucketd-bench-peers-'));
  const env = { ...process.env, HOME: path.join(base, 'home'), XDG_CACHE_HOME: path.join(base, 'cache'), XDG_STATE_HOME: path.join(base, 'state'), XDG_CONFIG_HOME: path.join(base, 'config') };
  await mkdir(env.HOME, { recursive: true });
  const running: Running[] = [];
  try {
    const big = path.join(base, 'big.bin');
    const tree = path.join(base, 'tree');
    await makeBigFile(big);
    if (!ONLY_BIG) await makeTree(tree);
    const redis = redisServer && redisBenchmark && !ONLY_BIG ? await startRedis(redisServer, base) : undefined;
    if (redis) running.push(redis);
    const sizeLabel = SIZE_MB % 1024 === 0 ? `${SIZE_MB / 1024} GiB` : `${SIZE_MB} MiB`;
    const ftpUp = row('bigUp', `${sizeLabel} up`, 'MB/s', 'rate', 'vsftpd, curl -T');
    const ftpDown = row('bigDown', `${sizeLabel} down`, 'MB/s', 'rate', 'vsftpd, curl -o');
    const smallUp4 = row('smallUp4', `${FILES} × 4 KiB up, bucket --parallel 4 (default)`, 'files/s', 'rate', 'vsftpd, lftp mirror -R');
    const smallUp1 = row('smallUp1', `${FILES} × 4 KiB up, bucket --parallel 1`, 'files/s', 'rate', 'vsftpd, lftp mirror -R');
    const smallDown4 = row('smallDown4', `${FILES} × 4 KiB down, bucket --parallel 4 (default)`, 'files/s', 'rate', 'vsftpd, lftp mirror');
    const smallDown1 = row('smallDown1', `${FILES} × 4 KiB down, bucket --parallel 1`, 'files/s', 'rate', 'vsftpd, lftp mirror');
    const list = row('list', `list ${FILES} files, whole session`, 's', 'lower', 'vsftpd, lftp cls -1');
    const empty = row('empty', 'a session that does nothing, start to end', 's', 'lower', 'vsftpd, lftp quote NOOP');
    const rt1 = row('rt1', 'round trips on 1 connection, depth 1', 'req/s', 'rate', 'redis PING, redis-benchmark -P 1');
    const rt16 = row('rt16', 'round trips on 1 connection, 16 pipelined', 'req/s', 'rate', 'redis PING, redis-benchmark -P 16');
    const rtSame1 = row('rtSame1', 'round trips, depth 1, the same driver for both', 'req/s', 'rate', 'redis PING, the driver bucketd gets');
    const rtSame16 = row('rtSame16', 'round trips, 16 pipelined, the same driver for both', 'req/s', 'rate', 'redis PING, the driver bucketd gets');
    const idle = row('idle', 'server RSS, idle after start', 'MiB', 'lower', 'vsftpd listener');
    const peak = row('peak', `server peak RSS, ${sizeLabel} up and down`, 'MiB', 'lower', 'vsftpd sessions (sampled)');
    const haveFtp = Boolean(vsftpd && curl);
    const haveLftp = Boolean(vsftpd && lftp);
    if (!haveFtp) for (const each of [ftpUp, ftpDown, idle, peak]) each.note = 'SKIPPED: vsftpd or curl missing';
    if (!haveLftp) for (const each of [smallUp4, smallUp1, smallDown4, smallDown1, list, empty]) each.note = 'SKIPPED: vsftpd or lftp missing';
    if (!redis) for (const each of [rt1, rt16, rtSame1, rtSame16]) each.note = 'SKIPPED: redis-server or redis-benchmark missing';
    if (ONLY_BIG) for (const each of [smallUp4, smallUp1, smallDown4, smallDown1, list, empty, rt1, rt16, rtSame1, rtSame16]) each.note = 'SKIPPED: BENCH_ONLY=big';

    for (let round = 0; round < ROUNDS; round++) {
      const dir = path.join(base, `round-${round}`);
      const ftpRoot = path.join(dir, 'ftp');
      const bucketd = await startBucketd(BUCKETD, path.join(dir, 'bucketd'));
      running.push(bucketd);
      const ftp = vsftpd ? await startVsftpd(vsftpd, path.join(dir, 'vsftpd'), ftpRoot) : undefined;
      if (ftp) running.push(ftp);
      await new Promise((resolve) => setTimeout(resolve, 300));
      idle.bucketd.push(memoryMiB(bucketd.child.pid!, 'VmRSS'));
      if (ftp) idle.peerValues.push(memoryMiB(ftp.child.pid!, 'VmRSS'));

      const bucket = (...args: string[]): string[] => [BUCKET, '--port', String(bucketd.port), ...args];
      const node = process.execPath;
      const ftpUrl = `ftp://127.0.0.1:${ftp?.port}`;
      const lftpSession = (commands: string): string[] => ['-c', `set cmd:fail-exit yes; set ftp:ssl-allow no; set net:max-retries 2; set net:timeout 30; set xfer:clobber on; open -u anonymous, ${ftpUrl}; ${commands}`];
      await timed(node, bucket('mb', 'bench'), env);
      const bucketdFirst = round % 2 === 0;
      const inOrder = async (bucketdSide: () => Promise<void>, peerSide: (() => Promise<void>) | undefined): Promise<void> => {
        const sides = peerSide ? (bucketdFirst ? [bucketdSide, peerSide] : [peerSide, bucketdSide]) : [bucketdSide];
        for (const side of sides) await side();
      };

      // The big file, up then down, each side in turn.
      const bigDown = path.join(dir, 'big-down.bin');
      await inOrder(
        async () => {
          const sampler = sampleRss(bucketd.child.pid!, true);
          const up = await timed(node, bucket('put', big, 'bench/big.bin'), env);
          const down = await timed(node, bucket('get', 'bench/big.bin', bigDown), env);
          sampler.stop();
          peak.bucketd.push(memoryMiB(bucketd.child.pid!, 'VmHWM'));
          await expectSize(bigDown, SIZE);
          ftpUp.bucketd.push(SIZE / 1e6 / up.seconds);
          ftpDown.bucketd.push(SIZE / 1e6 / down.seconds);
          await rm(bigDown);
          await timed(node, bucket('rm', 'bench/big.bin'), env);
        },
        haveFtp
          ? async () => {
              const sampler = sampleRss(ftp!.child.pid!, false);
              const up = await timed(curl!, ['-sS', '--fail', '-T', big, `${ftpUrl}/pub/big.bin`]);
              const down = await timed(curl!, ['-sS', '--fail', '-o', bigDown, `${ftpUrl}/pub/big.bin`]);
              peak.peerValues.push(sampler.stop());
              await expectSize(bigDown, SIZE);
              ftpUp.peerValues.push(SIZE / 1e6 / up.seconds);
              ftpDown.peerValues.push(SIZE / 1e6 / down.seconds);
              await rm(bigDown);
              await rm(path.join(ftpRoot, 'pub', 'big.bin'));
            }
          : undefined,
      );

      // The small files: up in one session, down in one session, listed in one session.
      if (!ONLY_BIG) await inOrder(
        async () => {
          for (const [parallel, upRow, downRow] of [
            ['4', smallUp4, smallDown4],
            ['1', smallUp1, smallDown1],
          ] as const) {
            const down = path.join(dir, `down-p${parallel}`);
            const put = parallel === '4' ? bucket('put', '-r', tree, `bench/p${parallel}/`) : bucket('put', '-r', '--parallel', '1', tree, `bench/p${parallel}/`);
            const get = parallel === '4' ? bucket('get', '-r', `bench/p${parallel}/tree/`, down) : bucket('get', '-r', '--parallel', '1', `bench/p${parallel}/tree/`, down);
            upRow.bucketd.push(FILES / (await timed(node, put, env)).seconds);
            downRow.bucketd.push(FILES / (await timed(node, get, env)).seconds);
            await expectFiles(down);
            await rm(down, { recursive: true });
          }
          const listed = await timed(node, bucket('ls', 'bench/p1/tree/'), env);
          if (lineCount(listed.stdout) !== FILES) throw new Error(`bucket ls listed ${lineCount(listed.stdout)} files, expected ${FILES}`);
          list.bucketd.push(listed.seconds);
          empty.bucketd.push((await timed(node, bucket('ping'), env)).seconds);
        },
        haveLftp
          ? async () => {
              const down = path.join(dir, 'down-ftp');
              const up = await timed(lftp!, lftpSession(`mirror -R --no-perms "${tree}" /pub/small`), env);
              const got = await timed(lftp!, lftpSession(`mirror --no-perms /pub/small "${down}"`), env);
              await expectFiles(down);
              await rm(down, { recursive: true });
              for (const each of [smallUp4, smallUp1]) each.peerValues.push(FILES / up.seconds);
              for (const each of [smallDown4, smallDown1]) each.peerValues.push(FILES / got.seconds);
              const listed = await timed(lftp!, lftpSession('cls -1 /pub/small'), env);
              if (lineCount(listed.stdout) !== FILES) throw new Error(`lftp cls listed ${lineCount(listed.stdout)} files, expected ${FILES}`);
              list.peerValues.push(listed.seconds);
              empty.peerValues.push((await timed(lftp!, lftpSession('quote NOOP'), env)).seconds);
            }
          : undefined,
      );

      // Round trips on one connection.
      // HELLO's rate counts in both rows of a depth: the same driver, the same run.
      if (!ONLY_BIG) for (const [depth, rtRow, sameRow] of [
        [1, rt1, rtSame1],
        [16, rt16, rtSame16],
      ] as const) {
        await inOrder(
          async () => {
            const rate = await helloRate(bucketd.port, PINGS, depth);
            rtRow.bucketd.push(rate);
            sameRow.bucketd.push(rate);
          },
          redis
            ? async () => {
                rtRow.peerValues.push(await redisPingRate(redisBenchmark!, redis.port, PINGS, depth));
                sameRow.peerValues.push(await redisPingDriverRate(redis.port, PINGS, depth));
              }
            : undefined,
        );
      }

      for (const server of [bucketd, ftp]) {
        if (!server) continue;
        await stop(server.child);
        running.splice(running.indexOf(server), 1);
      }
      await rm(dir, { recursive: true, force: true });
      console.log(`round ${round + 1} of ${ROUNDS} done`);
    }
    printTable(sizeLabel);
  } finally {
    for (const server of running) await stop(server.child);
    await rm(base, { recursive: true, force: true });
  }
}

function printTable(sizeLabel: string): void {
  const versions = `vsftpd ${packageVersion('vsftpd')}, lftp ${packageVersion('lftp')}, curl ${packageVersion('curl')}, redis ${packageVersion('redis-server')}`;
  console.log('');
  console.log(`bucketd against its peers on loopback (${versions}; node ${process.version}), data on ${BASE}; ${sizeLabel}, ${FILES} small files, ${PINGS} round trips; ${ROUNDS} rounds interleaved, medians.`);
  console.log('ratio: above 1 means bucketd is ahead (bucketd/peer for rates; peer/bucketd for times and memory).');
  console.log('');
  console.log('| workload | unit | bucketd | peer | peer value | ratio | rounds\' ratios |');
  console.log('| --- | --- | ---: | --- | ---: | ---: | :---: |');
  const format = (value: number): string => (Number.isNaN(value) ? 'n/a' : value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));
  for (const each of rows.values()) {
    const ours = median(each.bucketd);
    if (each.note || each.peerValues.length === 0) {
      console.log(`| ${each.label} | ${each.unit} | ${format(ours)} | ${each.peer} | ${each.note ?? 'n/a'} | n/a | |`);
      continue;
    }
    const theirs = median(each.peerValues);
    const ratioOf = (bucketd: number, peer: number): number => (each.kind === 'rate' ? bucketd / peer : peer / bucketd);
    // Each round's own ratio too: how far apart the rounds landed.
    const perRound = each.bucketd
      .map((value, i) => ratioOf(value, each.peerValues[i]!))
      .filter((ratio) => !Number.isNaN(ratio))
      .sort((a, b) => a - b);
    const spread = perRound.length === 0 ? 'n/a' : `${perRound[0]!.toFixed(2)}–${perRound.at(-1)!.toFixed(2)}`;
    console.log(`| ${each.label} | ${each.unit} | ${format(ours)} | ${each.peer} | ${format(theirs)} | ${Number.isNaN(theirs) ? 'n/a' : ratioOf(ours, theirs).toFixed(2)} | ${spread} |`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
