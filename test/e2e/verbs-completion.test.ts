/**
 * `bucket completion bash` loaded by a real bash, and asked for
 * completions: verbs, options, local paths, remote buckets and keys from
 * a real server (names with spaces escaped, folders left open), and
 * nothing at all when the server cannot be reached.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { BucketClient } from '../../src/client/index.js';
import { runBucket } from '../helpers/cli.js';
import { BUCKET, startServer, tempDir, type RunningServer } from '../helpers/server.js';

let server: RunningServer;
let work: string;

before(async () => {
  server = await startServer();
  work = await tempDir();
  // `bucket` on the PATH, as an installed program would be.
  await mkdir(path.join(work, 'bin'));
  await writeFile(path.join(work, 'bin', 'bucket'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BUCKET)} "$@"\n`);
  await chmod(path.join(work, 'bin', 'bucket'), 0o755);
  await mkdir(path.join(work, 'photos'));
  await writeFile(path.join(work, 'photos', 'cat.jpg'), 'x');
  const client = await BucketClient.connect({ port: server.port });
  await client.createBucket('albums');
  await client.createBucket('archive');
  for (const name of ['2026/my file.txt', '2026/trip/a.jpg', 'top.txt']) await client.upload('albums', name, Readable.from([Buffer.from('x')]), 1);
  client.close();
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

/** Runs bash with the completion loaded; `complete WORD...` prints what _bucket offers, one per line. */
function bash(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const prelude = `source <(bucket completion bash) || exit 9
complete() { COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _bucket; printf '%s\\n' "\${COMPREPLY[@]}"; }
`;
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', prelude + script], { cwd: work, env: { ...process.env, PATH: `${path.join(work, 'bin')}:${process.env.PATH ?? ''}`, BUCKET_SERVER: `bucket://127.0.0.1:${server.port}` } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const lines = (text: string): string[] => text.split('\n').filter((line) => line !== '');

test('the script loads in bash and registers itself for bucket', async () => {
  const result = await bash("builtin complete -p bucket");
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'complete -F _bucket bucket\n');
});

test('verbs and options', async () => {
  assert.deepEqual(lines((await bash('complete bucket p')).stdout), ['ping', 'put']);
  assert.deepEqual(lines((await bash('complete bucket rb --')).stdout).slice(0, 1), ['--force']);
  assert.ok(lines((await bash('complete bucket ls -')).stdout).includes('--recursive'));
  assert.deepEqual(lines((await bash('complete bucket completion f')).stdout), ['fish']);
});

test('remote buckets, then keys one level at a time, escaped for the shell', async () => {
  assert.deepEqual(lines((await bash('complete bucket ls a')).stdout), ['albums/', 'archive/']);
  assert.deepEqual(lines((await bash('complete bucket ls albums/')).stdout), ['albums/2026/', 'albums/top.txt']);
  assert.deepEqual(lines((await bash('complete bucket cat albums/2026/m')).stdout), ['albums/2026/my\\ file.txt ']);
  // The server options typed before the verb reach the helper.
  const viaPort = await bash(`BUCKET_SERVER= complete bucket --port ${server.port} stat albums/2026/t`);
  assert.deepEqual(lines(viaPort.stdout), ['albums/2026/trip/']);
});

test('local paths for put, and both kinds for get and sync', async () => {
  assert.deepEqual(lines((await bash('complete bucket put pho')).stdout), ['photos/']);
  assert.deepEqual(lines((await bash('complete bucket put photos/c')).stdout), ['photos/cat.jpg ']);
  assert.deepEqual(lines((await bash('complete bucket get arc')).stdout), ['archive/']);
  // sync takes either kind in either place.
  assert.deepEqual(lines((await bash('complete bucket sync pho')).stdout), ['photos/']);
  assert.deepEqual(lines((await bash('complete bucket sync photos arc')).stdout), ['archive/']);
});

test('offline, remote completion offers nothing and says nothing', async () => {
  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(free));
    });
  });
  const result = await bash(`complete bucket --port ${port} ls a`);
  assert.equal(result.code, 0);
  assert.equal(result.stdout, '\n');
  assert.equal(result.stderr, '');
});

test('zsh and fish scripts cover every verb; an unknown shell is a usage error', async () => {
  const zsh = await runBucket(['completion', 'zsh'], '');
  assert.equal(zsh.code, 0);
  assert.match(zsh.stdout, /^#compdef bucket\n/);
  assert.match(zsh.stdout, /bashcompinit/);
  assert.match(zsh.stdout, /complete -F _bucket bucket/);
  const fish = await runBucket(['completion', 'fish'], '');
  assert.equal(fish.code, 0);
  for (const verb of ['ls', 'mb', 'rb', 'rm', 'stat', 'cat', 'ping', 'put', 'get', 'sync']) assert.match(fish.stdout, new RegExp(`^complete -c bucket -n "not __fish_seen_subcommand_from [^"]*" -a ${verb}$`, 'm'));
  assert.match(fish.stdout, /^complete -c bucket -n "__fish_seen_subcommand_from ls" -s r$/m);
  assert.match(fish.stdout, /bucket __complete \(commandline -ct\)/);
  const unknown = await runBucket(['completion', 'tcsh'], '');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^bucket: no completion for "tcsh"/);
});
