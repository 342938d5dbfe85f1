/**
 * npm run bench:memory — moves a 4 GiB file (generated, never stored whole)
 * up to bucketd and back down, on a root in tmpfs, and prints the server's
 * peak resident memory after each direction. BENCH_GB=1 for a quicker run.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { BucketClient } from '../src/client/index.js';

const SIZE = Number(process.env.BENCH_GB ?? 4) * 1024 ** 3;
const BUCKETD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli/bucketd.js');

function peakRssMiB(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

function generated(size: number): Readable {
  const block = Buffer.alloc(1024 * 1024, 0x42);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) return void this.push(null);
      const length = Math.min(block.length, size - sent);
      sent += length;
      this.push(block.subarray(0, length));
    },
  });
}

async function main(): Promise<void> {
  const base = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const root = await mkdtemp(path.join(base, 'bucketd-memory-'));
  const child = spawn(process.execPath, ['--max-semi-space-size=2', BUCKETD, '--port', '0', '--log-level', 'warn', root], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (text: string) => {
        const match = /listening on \S+:(\d+)/.exec(text);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`bucketd exited with ${code}`)));
    });
    const idle = peakRssMiB(child.pid!);
    const client = await BucketClient.connect({ port });
    await client.createBucket('memory');
    let started = Date.now();
    await client.upload('memory', 'big.bin', generated(SIZE), SIZE);
    const upSeconds = (Date.now() - started) / 1000;
    const afterUp = peakRssMiB(child.pid!);
    started = Date.now();
    await client.download('memory', 'big.bin', new Writable({ write: (_chunk, _encoding, done) => done() }));
    const downSeconds = (Date.now() - started) / 1000;
    const afterDown = peakRssMiB(child.pid!);
    await client.exit();
    const gib = SIZE / 1024 ** 3;
    console.log(`bucketd memory: ${gib} GiB up and down, root in ${base}, node ${process.version}`);
    console.log(`peak RSS when idle         ${idle.toFixed(0).padStart(5)} MiB`);
    console.log(`peak RSS after the upload  ${afterUp.toFixed(0).padStart(5)} MiB  (${(SIZE / 1e6 / upSeconds).toFixed(0)} MB/s)`);
    console.log(`peak RSS after the download ${afterDown.toFixed(0).padStart(4)} MiB  (${(SIZE / 1e6 / downSeconds).toFixed(0)} MB/s)`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await rm(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
