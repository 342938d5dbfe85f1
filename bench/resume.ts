/**
 * npm run bench:resume (and part of npm run bench) — what resuming costs: a
 * 1 GiB upload cut at 90% and resumed, against the time of the last 10%
 * sent alone (a fresh upload of that size) and against a whole upload, in
 * the same run, on a root in tmpfs. The resume is timed from the new
 * connection to the stored reply. The server goes on from where its hash
 * stood (or, after a restart, reads the 90% it holds once more: a row of
 * its own); the client, which must send the whole file's SHA-256, hashes
 * its own 90% again (shown apart). The client here speaks the
 * protocol over a plain socket, so what is measured is the protocol and
 * the server, not a client library's choices.
 *
 *   npm run bench:resume
 *   BENCH_MB=256 BENCH_ROUNDS=5 npm run bench:resume
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BucketClient, uploadFile } from '../src/client/index.js';
import { startBucketd } from './start.js';

const SIZE_MB = Number(process.env.BENCH_MB ?? 1024);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SIZE = SIZE_MB * 1024 * 1024;
const CUT = Math.floor(SIZE * 0.9);
const CHUNK = 1024 * 1024;
const BASE = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();

// One source of bytes for every upload: a chunk repeated, with the chunk's index stamped in.
const block = Buffer.alloc(CHUNK, 0x5a);
function chunkAt(index: number, length = CHUNK): Buffer {
  const chunk = Buffer.from(block.subarray(0, length));
  chunk.writeUInt32BE(index, 0);
  return chunk;
}

/** A line-at-a-time reader over a socket. */
class Peer {
  readonly socket: net.Socket;
  #buffer = '';
  #waiting: (() => void) | undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      this.#buffer += text;
      this.#waiting?.();
    });
    socket.on('error', () => undefined);
  }

  static async connect(port: number): Promise<Peer> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new Peer(socket);
  }

  async line(): Promise<string> {
    for (;;) {
      const end = this.#buffer.indexOf('\n');
      if (end >= 0) {
        const line = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 1);
        return line;
      }
      await new Promise<void>((resolve) => (this.#waiting = resolve));
    }
  }

  /** Sends the bytes of [from, to) of the file, with backpressure. */
  async send(from: number, to: number): Promise<void> {
    for (let at = from; at < to; ) {
      const index = Math.floor(at / CHUNK);
      const within = at - index * CHUNK;
      const end = Math.min(to, (index + 1) * CHUNK);
      const chunk = chunkAt(index).subarray(within, within + (end - at));
      if (!this.socket.write(chunk)) await new Promise((resolve) => this.socket.once('drain', resolve));
      at = end;
    }
  }
}

/** The SHA-256 of the file's bytes [0, size). */
function hashOf(size: number): string {
  const hash = createHash('sha256');
  for (let at = 0; at < size; at += CHUNK) hash.update(chunkAt(at / CHUNK, Math.min(CHUNK, size - at)));
  return hash.digest('hex');
}

async function upload(port: number, name: string, size: number, digest: string): Promise<number> {
  const started = performance.now();
  const peer = await Peer.connect(port);
  peer.socket.write(`UPLOAD_FILE,bench,${name},${size}\n`);
  const goAhead = await peer.line();
  if (!goAhead.startsWith('150,')) throw new Error(goAhead);
  await peer.send(0, size);
  peer.socket.write(`SHA256,${digest}\n`);
  const reply = await peer.line();
  if (!reply.startsWith('201,')) throw new Error(reply);
  peer.socket.destroy();
  return (performance.now() - started) / 1000;
}

/**
 * Cuts an upload at CUT, then resumes it (after `between`, e.g. a restart
 * of the server, which gives the port to resume on); seconds of the resume
 * alone, and of the client's hashing within it.
 */
async function cutAndResume(port: number, name: string, digest: string, between?: () => Promise<number>): Promise<{ seconds: number; clientHash: number }> {
  const first = await Peer.connect(port);
  first.socket.write(`UPLOAD_FILE,bench,${name},${SIZE}\n`);
  const id = /^150,[^,]+,\d+,([0-9a-f]{32})/.exec(await first.line())?.[1];
  if (!id) throw new Error('no upload id: a server older than protocol 4?');
  await first.send(0, CUT);
  await new Promise<void>((resolve) => first.socket.end(() => resolve()));
  await first.line(); // INCOMPLETE_BODY: the server has made the 90% durable
  first.socket.destroy();
  if (between) port = await between();

  const started = performance.now();
  // What a client must do again: hash the part it sent, to send the whole file's SHA-256.
  const hashStarted = performance.now();
  const whole = hashOf(SIZE);
  const clientHash = (performance.now() - hashStarted) / 1000;
  if (whole !== digest) throw new Error('hash drift');
  const peer = await Peer.connect(port);
  peer.socket.write(`RESUME_UPLOAD,${id}\n`);
  const goAhead = await peer.line();
  const offset = Number(/^150,[^,]+,\d+,[0-9a-f]{32},(\d+) /.exec(goAhead)?.[1] ?? Number.NaN);
  if (offset !== CUT) throw new Error(`resumed at ${offset}, not ${CUT}: ${goAhead}`);
  await peer.send(offset, SIZE);
  peer.socket.write(`SHA256,${whole}\n`);
  const reply = await peer.line();
  if (!reply.startsWith('201,')) throw new Error(reply);
  peer.socket.destroy();
  return { seconds: (performance.now() - started) / 1000, clientHash };
}

/** A relay to bucketd that cuts its first connection once `after` bytes went up; later ones pass. */
async function cuttingRelay(port: number, after: number): Promise<net.Server> {
  let first = true;
  const relay = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    const cut = first ? after : Number.POSITIVE_INFINITY;
    first = false;
    let passed = 0;
    client.on('data', (chunk: Buffer) => {
      if (passed + chunk.length >= cut) {
        upstream.write(chunk.subarray(0, cut - passed), () => {
          client.destroy();
          upstream.destroy();
        });
        passed = cut;
        return;
      }
      passed += chunk.length;
      if (!upstream.write(chunk)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    });
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return relay;
}

/** The library's uploadFile cut at 90% through the relay, resuming by itself: seconds from its resume to the stored reply. */
async function libraryResume(port: number, file: string, name: string): Promise<number> {
  const relay = await cuttingRelay(port, CUT);
  try {
    const client = await BucketClient.connect({ port: (relay.address() as net.AddressInfo).port });
    let resumedAt = 0;
    await uploadFile(client, file, 'bench', name, { onResume: () => (resumedAt = performance.now()) });
    const seconds = (performance.now() - resumedAt) / 1000;
    client.close();
    if (resumedAt === 0) throw new Error('the upload was never cut');
    return seconds;
  } finally {
    relay.close();
  }
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const base = await mkdtemp(path.join(BASE, 'bucketd-bench-resume-'));
  const root = path.join(base, 'root');
  let server = await startBucketd(root);
  const restart = async (): Promise<number> => {
    server.child.kill('SIGTERM');
    await new Promise((resolve) => server.child.once('exit', resolve));
    server = await startBucketd(root);
    return server.port;
  };
  try {
    const setup = await Peer.connect(server.port);
    setup.socket.write('NEW_BUCKET,bench\n');
    await setup.line();
    setup.socket.destroy();
    const digest = hashOf(SIZE);
    const tail = SIZE - CUT;
    const tailDigest = hashOf(tail);
    // The same bytes as a local file, for the library's own resume.
    const local = path.join(base, 'source.bin');
    const handle = await open(local, 'w');
    for (let at = 0; at < SIZE; at += CHUNK) await handle.write(chunkAt(at / CHUNK, Math.min(CHUNK, SIZE - at)));
    await handle.close();
    const times = { full: [] as number[], tail: [] as number[], resume: [] as number[], clientHash: [] as number[], restarted: [] as number[], library: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      times.full.push(await upload(server.port, `full-${round}`, SIZE, digest));
      times.tail.push(await upload(server.port, `tail-${round}`, tail, tailDigest));
      const resumed = await cutAndResume(server.port, `cut-${round}`, digest);
      times.resume.push(resumed.seconds);
      times.clientHash.push(resumed.clientHash);
      // After a restart the server reads its 90% once more to rebuild the hash.
      const afterRestart = await cutAndResume(server.port, `restart-${round}`, digest, restart);
      times.restarted.push(afterRestart.seconds - afterRestart.clientHash);
      times.library.push(await libraryResume(server.port, local, `library-${round}`));
    }
    const [full, last, resume, clientHash, restarted, library] = [median(times.full), median(times.tail), median(times.resume), median(times.clientHash), median(times.restarted), median(times.library)];
    console.log(`${SIZE_MB} MiB upload cut at 90%, ${ROUNDS} rounds, medians (${BASE}):`);
    console.log(`  whole upload                       ${full.toFixed(2).padStart(7)} s`);
    console.log(`  the last 10% alone (fresh upload)  ${last.toFixed(2).padStart(7)} s`);
    console.log(`  resume (reconnect, send the last 10%, commit)  ${resume.toFixed(2).padStart(7)} s, of which the client hashing its 90% again ${clientHash.toFixed(2)} s`);
    console.log(`  the same after a server restart, less the client's hashing (the server reads its 90% again) ${restarted.toFixed(2)} s`);
    console.log(`  resume / last 10% alone: ${(resume / last).toFixed(2)}x;  resume / whole upload: ${(resume / full).toFixed(2)}x`);
    console.log(`  the library's uploadFile resuming by itself (reconnect, re-hash from its last mark, send, commit) ${library.toFixed(2)} s: ${(library / last).toFixed(2)}x the last 10% alone`);
    console.log(`  less the client's rehash: ${((resume - clientHash) / last).toFixed(2)}x the last 10% alone; after a restart: ${(restarted / last).toFixed(2)}x the last 10%, ${(restarted / full).toFixed(2)}x the whole upload`);
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((resolve) => server.child.once('exit', resolve));
    await rm(base, { recursive: true, force: true });
  }
}

await main();
