/**
 * One server per ROOT: a server holds its ROOT by listening on a Linux
 * abstract socket named after the folder's device and inode, before it
 * touches anything there. A second server on the same folder (by any path
 * to it) finds the name taken and stops, instead of emptying the first
 * one's uploads in flight, which each server does at start with what it
 * takes for an earlier run's leftovers. The kernel frees the name when the
 * process ends, however it ends: no stale lock file after a crash. Asked,
 * the holder says its pid.
 *
 * The name lives in the network namespace: servers in containers with
 * namespaces of their own do not see each other. Elsewhere than Linux
 * there are no abstract sockets, and nothing is held.
 */
import { createHash } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { errnoOf } from '../util/file-errors.js';

/** Another server holds this ROOT. */
export class RootTakenError extends Error {}

export interface RootLock {
  release(): Promise<void>;
}

const ASK_MS = 1000;

/**
 * Holds `root` (created if absent, as the store would) for this process;
 * undefined where it cannot be held (not Linux, or a ROOT the store will
 * refuse with its own reason). Throws RootTakenError when another server
 * holds it.
 */
export async function holdRoot(root: string): Promise<RootLock | undefined> {
  if (process.platform !== 'linux') return undefined;
  const where = path.resolve(root);
  const stats = await mkdir(where, { recursive: true }).then(
    () => stat(where),
    () => undefined,
  );
  if (stats === undefined || !stats.isDirectory()) return undefined;
  const name = `\0bucketd.root.${createHash('sha256').update(`${stats.dev}:${stats.ino}`).digest('hex')}`;
  for (let attempt = 0; ; attempt++) {
    const server = net.createServer((socket) => socket.end(`${process.pid}\n`));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(name, () => resolve());
      });
    } catch (error) {
      if (errnoOf(error) !== 'EADDRINUSE') return undefined; // no abstract sockets here: nothing to hold
      const holder = await askHolder(name);
      // The holder went between our try and our question: try again, once.
      if (holder === undefined && attempt === 0) continue;
      throw new RootTakenError(`another bucketd serves it${holder === undefined ? '' : ` (pid ${holder})`}; run one server per ROOT`);
    }
    server.unref(); // it holds the name; it must not hold the process
    return { release: () => new Promise((resolve) => server.close(() => resolve())) };
  }
}

/** The pid the holder of `name` answers with, or undefined when none answers. */
function askHolder(name: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = net.connect(name);
    socket.setEncoding('utf8');
    socket.setTimeout(ASK_MS, () => socket.destroy());
    socket.on('data', (text: string) => (answer += text));
    socket.on('error', () => resolve(undefined));
    socket.on('close', () => resolve(/^\d+\n$/.test(answer) ? answer.trim() : undefined));
  });
}
