/**
 * Request round trips on one connection: HELLO to bucketd from a tiny
 * driver here, and PING to redis both from redis-benchmark and from the
 * same tiny driver, at depth 1 (each request waits for the previous
 * reply) and pipelined. The same driver against both servers shows the
 * servers alone; redis-benchmark, written in C, shows what a person
 * comparing the two would see.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Requests per second of `HELLO` to bucketd (every reply a 200), from the driver below. */
export function helloRate(port: number, count: number, depth: number): Promise<number> {
  return lineRate(port, 'HELLO\n', '2', count, depth);
}

/** Requests per second of an inline `PING` to redis (every reply `+PONG`), from the same driver as helloRate. */
export function redisPingDriverRate(port: number, count: number, depth: number): Promise<number> {
  return lineRate(port, 'PING\r\n', '+', count, depth);
}

/**
 * Sends `line` `count` times on one TCP connection, keeping `depth`
 * requests outstanding (a new one goes out as each reply's line ends), and
 * returns replies per second. Every reply must be one line starting with
 * `accepted`.
 */
function lineRate(port: number, line: string, accepted: string, count: number, depth: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const request = Buffer.from(line);
    const acceptedByte = accepted.charCodeAt(0);
    let sent = 0;
    let replies = 0;
    let started = 0;
    let lineStart = true;
    const send = (howMany: number): void => {
      const n = Math.min(howMany, count - sent);
      if (n <= 0) return;
      sent += n;
      socket.write(n === 1 ? request : Buffer.concat(Array.from({ length: n }, () => request)));
    };
    socket.once('connect', () => {
      started = performance.now();
      send(depth);
    });
    socket.on('data', (chunk: Buffer) => {
      let ended = 0;
      for (let i = 0; i < chunk.length; i++) {
        if (lineStart && chunk[i] !== acceptedByte) {
          socket.destroy();
          return reject(new Error(`${line.trim()} was refused: ${chunk.subarray(i, i + 80).toString()}`));
        }
        lineStart = chunk[i] === 0x0a;
        if (lineStart) ended++;
      }
      replies += ended;
      if (replies >= count) {
        const seconds = (performance.now() - started) / 1000;
        socket.end();
        return resolve(count / seconds);
      }
      send(ended);
    });
    socket.once('error', reject);
  });
}

/**
 * redis-benchmark's PING_INLINE (a plain line, as HELLO is) on one
 * connection (-c 1), `depth` pipelined (-P); requests per second.
 */
export async function redisPingRate(redisBenchmark: string, port: number, count: number, depth: number): Promise<number> {
  const { stdout } = await run(redisBenchmark, ['-h', '127.0.0.1', '-p', String(port), '-c', '1', '-n', String(count), '-P', String(depth), '-t', 'ping', '--csv']);
  const line = stdout.split('\n').find((each) => each.startsWith('"PING_INLINE"'));
  const rate = line ? Number(line.split(',')[1]!.replaceAll('"', '')) : NaN;
  if (!Number.isFinite(rate)) throw new Error(`no PING_INLINE rate in redis-benchmark's output: ${stdout}`);
  return rate;
}
