/**
 * npm run bench — moves a 1 GiB file up to bucketd and back down, on a root
 * in tmpfs, and in the same run moves the same bytes through a plain Node
 * socket-to-file pipe (the baseline), and through bucketd over TLS (with a
 * certificate made by openssl; the TLS rows are left out without it).
 * Prints MB/s for each and the ratios, then 4 KiB files on one connection:
 * asked for one by one, and sent at once (put) one at a time and 8 in
 * flight. Absolute numbers drift on shared machines; the ratios are the
 * result.
 *
 *   npm run bench                 # 1 GiB, best of 3 rounds
 *   BENCH_MB=256 BENCH_ROUNDS=5 npm run bench
 *   BENCH_DIR=/var/tmp BENCH_MB=64 npm run bench   # files on a disk, not tmpfs
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { BucketClient, downloadFile, uploadFile } from '../src/client/index.js';
import { startListening } from './start.js';

const SIZE_MB = Number(process.env.BENCH_MB ?? 1024);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SMALL_FILES = 500;
const SIZE = SIZE_MB * 1024 * 1024;
const HWM = 1024 * 1024;
const here = path.dirname(fileURLToPath(import.meta.url));
const BUCKETD = path.resolve(here, '../../dist/cli/bucketd.js');

/** The baseline's server side: a plain TCP server piping sockets to and from files. */
async function pipeServer(dir: string, highWaterMark: number | undefined): Promise<void> {
  const server = net.createServer(async (socket) => {
    socket.setNoDelay(true);
    socket.once('data', async (first: Buffer) => {
      const [verb, name] = first.subarray(0, first.indexOf(0x0a)).toString().split(' ');
      const rest = first.subarray(first.indexOf(0x0a) + 1);
      const file = path.join(dir, name!);
      if (verb === 'PUT') {
        const out = createWriteStream(file, { highWaterMark });
        out.write(rest);
        await pipeline(socket, out);
      } else {
        await pipeline(createReadStream(file, { highWaterMark }), socket);
      }
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`listening on 127.0.0.1:${(server.address() as net.AddressInfo).port}\n`));
}

async function timed(work: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function baselineUpload(port: number, source: string, highWaterMark: number | undefined): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('PUT upload.bin\n');
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await pipeline(createReadStream(source, { highWaterMark }), socket);
  await closed; // the server has written and closed its file
}

async function baselineDownload(port: number, target: string, highWaterMark: number | undefined): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('GET upload.bin\n');
  await pipeline(socket, createWriteStream(target, { highWaterMark }));
}

async function makeSource(file: string): Promise<void> {
  const handle = await open(file, 'w');
  const block = Buffer.alloc(HWM);
  for (let i = 0; i < SIZE / HWM; i++) {
    block.writeUInt32LE(i, 0);
    block.writeUInt32LE(i * 2654435761 >>> 0, 512);
    await handle.write(block);
  }
  await handle.close();
}

/** A self-signed certificate for 127.0.0.1 in `dir`, or undefined without openssl. */
function makeCertificate(dir: string): { cert: string; key: string } | undefined {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    return { cert, key };
  } catch {
    console.error('openssl is not available: the TLS rows are left out');
    return undefined;
  }
}

const mbps = (seconds: number): number => SIZE / 1e6 / seconds;
const best = (times: number[]): number => Math.min(...times);

async function main(): Promise<void> {
  if (process.argv[2] === '--pipe-server') return pipeServer(process.argv[3]!, process.argv[4] === 'default' ? undefined : HWM);
  // BENCH_DIR: a folder on a real disk, where fsyncs cost what they cost there.
  const base = process.env.BENCH_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir());
  const dir = await mkdtemp(path.join(base, 'bucketd-bench-'));
  const children: ChildProcess[] = [];
  try {
    const source = path.join(dir, 'source.bin');
    await makeSource(source);
    const pipeDir = path.join(dir, 'pipe');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(pipeDir);
    const thisFile = fileURLToPath(import.meta.url);
    const tuned = await startListening([thisFile, '--pipe-server', pipeDir, 'tuned']);
    const plain = await startListening([thisFile, '--pipe-server', pipeDir, 'default']);
    const bucketd = await startListening(['--max-semi-space-size=2', BUCKETD, '--port', '0', '--log-level', 'warn', path.join(dir, 'root')]);
    children.push(tuned.child, plain.child, bucketd.child);
    const client = await BucketClient.connect({ port: bucketd.port });
    await client.createBucket('bench');
    // The same server program over TLS, on a root of its own.
    const certificate = makeCertificate(dir);
    let tlsClient: BucketClient | undefined;
    if (certificate) {
      const secure = await startListening(['--max-semi-space-size=2', BUCKETD, '--port', '0', '--log-level', 'warn', '--tls-cert', certificate.cert, '--tls-key', certificate.key, path.join(dir, 'tls-root')]);
      children.push(secure.child);
      tlsClient = await BucketClient.connect({ port: secure.port, tls: { ca: await readFile(certificate.cert) } });
      await tlsClient.createBucket('bench');
    }

    const results = { pipeDefaultUp: [] as number[], pipeDefaultDown: [] as number[], pipeUp: [] as number[], pipeDown: [] as number[], up: [] as number[], down: [] as number[], tlsUp: [] as number[], tlsDown: [] as number[] };
    const target = path.join(dir, 'download.bin');
    for (let round = 0; round < ROUNDS; round++) {
      // Interleaved, so that a noisy neighbour hits every contender alike;
      // every upload and download writes a new file, none replaces one.
      const uploaded = path.join(pipeDir, 'upload.bin');
      await rm(uploaded, { force: true });
      results.pipeDefaultUp.push(await timed(() => baselineUpload(plain.port, source, undefined)));
      await rm(target, { force: true });
      results.pipeDefaultDown.push(await timed(() => baselineDownload(plain.port, target, undefined)));
      await rm(uploaded, { force: true });
      results.pipeUp.push(await timed(() => baselineUpload(tuned.port, source, HWM)));
      await rm(target, { force: true });
      results.pipeDown.push(await timed(() => baselineDownload(tuned.port, target, HWM)));
      await client.deleteFile('bench', 'big.bin').catch(() => undefined);
      results.up.push(await timed(async () => void (await uploadFile(client, source, 'bench', 'big.bin'))));
      await rm(target, { force: true });
      results.down.push(await timed(async () => void (await downloadFile(client, 'bench', 'big.bin', target))));
      if ((await stat(target)).size !== SIZE) throw new Error('download size mismatch');
      if (tlsClient) {
        const secureClient = tlsClient;
        await secureClient.deleteFile('bench', 'big.bin').catch(() => undefined);
        results.tlsUp.push(await timed(async () => void (await uploadFile(secureClient, source, 'bench', 'big.bin'))));
        await rm(target, { force: true });
        results.tlsDown.push(await timed(async () => void (await downloadFile(secureClient, 'bench', 'big.bin', target))));
        if ((await stat(target)).size !== SIZE) throw new Error('TLS download size mismatch');
      }
    }
    // Many small files: a server that stalls on Nagle's algorithm and
    // delayed ACKs manages a few dozen a second; this shows there is none.
    const small = Buffer.alloc(4096, 0x73);
    const smallStarted = process.hrtime.bigint();
    for (let i = 0; i < SMALL_FILES; i++) await client.upload('bench', `small-${i}.txt`, Readable.from([small]), small.length);
    const smallUpSeconds = Number(process.hrtime.bigint() - smallStarted) / 1e9;
    const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
    const smallDownStarted = process.hrtime.bigint();
    for (let i = 0; i < SMALL_FILES; i++) await client.download('bench', `small-${i}.txt`, sink);
    const smallDownSeconds = Number(process.hrtime.bigint() - smallDownStarted) / 1e9;
    // The same files sent at once (put), one at a time and 8 in flight on
    // the one connection: the server stores them while it reads the next,
    // and their folder fsyncs are shared.
    const putRate = async (inFlight: number, prefix: string): Promise<number> => {
      let next = 0;
      const started = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (next < SMALL_FILES) await client.put('bench', `${prefix}-${next++}.txt`, small);
        }),
      );
      return SMALL_FILES / (Number(process.hrtime.bigint() - started) / 1e9);
    };
    const putOneRate = await putRate(1, 'put-one');
    const putEightRate = await putRate(8, 'put-eight');
    await client.exit();
    await tlsClient?.exit();

    const row = (label: string, times: number[], baseline?: number[], of = 'baseline'): string => {
      const speed = mbps(best(times));
      const ratio = baseline ? `  ${((speed / mbps(best(baseline))) * 100).toFixed(0)}% of ${of}` : '';
      return `${label.padEnd(44)} ${speed.toFixed(0).padStart(6)} MB/s${ratio}`;
    };
    console.log(`bucketd transfer benchmark: ${SIZE_MB} MiB, best of ${ROUNDS}, files in ${base}, node ${process.version}`);
    console.log(row('plain pipe, default buffers, up', results.pipeDefaultUp));
    console.log(row('plain pipe, default buffers, down', results.pipeDefaultDown));
    console.log(row('plain pipe, 1 MiB buffers, up (baseline)', results.pipeUp));
    console.log(row('plain pipe, 1 MiB buffers, down (baseline)', results.pipeDown));
    console.log(row('bucketd UPLOAD_FILE (sha256, fsync, rename)', results.up, results.pipeUp));
    console.log(row('bucketd DOWNLOAD_FILE (sha256 both sides)', results.down, results.pipeDown));
    console.log(row('bucketd UPLOAD_FILE vs default pipe', results.up, results.pipeDefaultUp));
    console.log(row('bucketd DOWNLOAD_FILE vs default pipe', results.down, results.pipeDefaultDown));
    if (tlsClient) {
      console.log(row('bucketd over TLS, UPLOAD_FILE', results.tlsUp, results.up, 'plain bucketd'));
      console.log(row('bucketd over TLS, DOWNLOAD_FILE', results.tlsDown, results.down, 'plain bucketd'));
    }
    console.log(`${'bucketd 4 KiB files, one connection, up'.padEnd(44)} ${(SMALL_FILES / smallUpSeconds).toFixed(0).padStart(6)} files/s`);
    console.log(`${'bucketd 4 KiB files, one connection, down'.padEnd(44)} ${(SMALL_FILES / smallDownSeconds).toFixed(0).padStart(6)} files/s`);
    console.log(`${'bucketd 4 KiB put, one at a time'.padEnd(44)} ${putOneRate.toFixed(0).padStart(6)} files/s`);
    console.log(`${'bucketd 4 KiB put, 8 in flight'.padEnd(44)} ${putEightRate.toFixed(0).padStart(6)} files/s  ${(putEightRate / putOneRate).toFixed(2)}x one at a time`);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
