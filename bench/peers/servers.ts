/**
 * Starting and stopping the servers bench:peers compares, each a child
 * process on loopback with its root in a folder the bench made, stopped by
 * its PID; and reading their memory from /proc.
 */
import { startBucketd as startOne } from '../start.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

export interface Running {
  child: ChildProcess;
  port: number;
}

/** A port free on 127.0.0.1 just now (the kernel's pick, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once the port takes connections, or rejects when the child exits first or time runs out. */
async function waitForPort(child: ChildProcess, port: number, name: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before it listened`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${name} did not listen on ${port} within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Stops a child by its PID and waits for it to be gone. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

/** bucketd on port 0, as the other benches start it; the port comes from its first line. */
export async function startBucketd(bucketd: string, root: string): Promise<Running> {
  const { child, port } = await startOne(root, ['--log-level', 'warn'], bucketd);
  return { child, port };
}

/**
 * vsftpd in the foreground on 127.0.0.1, anonymous only (no system user to
 * make): anonymous may upload, make folders, overwrite and download what was
 * uploaded, all in `root`/pub. As root it chroots each session into
 * `root` and then runs as an unprivileged user, who owns pub/. The
 * sandboxes that need namespaces or seccomp are off, as containers often
 * refuse them.
 */
export async function startVsftpd(vsftpd: string, dir: string, root: string): Promise<Running> {
  const port = await freePort();
  const pasvMin = 20_000 + Math.floor(Math.random() * 40_000);
  const user = /^ftp:/m.test(readFileSync('/etc/passwd', 'utf8')) ? 'ftp' : 'nobody';
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n').find((line) => line.startsWith(`${user}:`))!.split(':');
  // vsftpd refuses a chroot its user may write to (allow_writeable_chroot notwithstanding),
  // so the root is root's and the files go in pub/, the user's.
  await mkdir(path.join(root, 'pub'), { recursive: true, mode: 0o755 });
  await chmod(root, 0o755);
  await chown(path.join(root, 'pub'), Number(passwd[2]), Number(passwd[3]));
  // vsftpd's empty chroot for its unprivileged helper: root's, not writable by others.
  const empty = path.join(dir, 'empty');
  await mkdir(empty, { recursive: true, mode: 0o755 });
  const config = path.join(dir, 'vsftpd.conf');
  await writeFile(
    config,
    [
      'listen=YES',
      'listen_ipv6=NO',
      'listen_address=127.0.0.1',
      `listen_port=${port}`,
      'background=NO',
      'anonymous_enable=YES',
      'local_enable=NO',
      'no_anon_password=YES',
      `ftp_username=${user}`,
      `anon_root=${root}`,
      'write_enable=YES',
      'anon_upload_enable=YES',
      'anon_mkdir_write_enable=YES',
      'anon_other_write_enable=YES',
      'anon_world_readable_only=NO',
      'anon_umask=022',
      'pasv_enable=YES',
      `pasv_min_port=${pasvMin}`,
      `pasv_max_port=${pasvMin + 200}`,
      'connect_from_port_20=NO',
      'seccomp_sandbox=NO',
      'isolate=NO',
      'isolate_network=NO',
      `secure_chroot_dir=${empty}`,
      'xferlog_enable=NO',
      'syslog_enable=NO',
      `vsftpd_log_file=${path.join(dir, 'vsftpd.log')}`,
      'max_clients=0',
      'max_per_ip=0',
      '',
    ].join('\n'),
  );
  const child = spawn(vsftpd, [config], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(child, port, 'vsftpd');
  return { child, port };
}

/** redis-server on 127.0.0.1 with nothing written to disk. */
export async function startRedis(redisServer: string, dir: string): Promise<Running> {
  const port = await freePort();
  const child = spawn(redisServer, ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir, '--logfile', ''], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(child, port, 'redis-server');
  return { child, port };
}

/** A field of /proc/PID/status in MiB (VmRSS now, VmHWM the peak so far); NaN if the process is gone. */
export function memoryMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** The PIDs below `pid` (its children, theirs, and so on), read from /proc. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // gone between the listing and the read
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/**
 * Samples, every `everyMs`, the summed VmRSS of the processes below `pid`
 * (vsftpd's sessions are forked children), and of `pid` itself when
 * `withSelf`; stop() gives the largest sum seen. Run on both sides of a
 * comparison, so that its own cost falls on both.
 */
export function sampleRss(pid: number, withSelf: boolean, everyMs = 20): { stop: () => number } {
  let peak = 0;
  const sample = (): void => {
    const pids = withSelf ? [pid, ...descendants(pid)] : descendants(pid);
    const sum = pids.reduce((total, each) => total + (memoryMiB(each, 'VmRSS') || 0), 0);
    peak = Math.max(peak, sum);
  };
  const timer = setInterval(sample, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      return peak > 0 ? peak : NaN; // nothing caught: the work was shorter than a sample
    },
  };
}
