/**
 * The bucket program resumes: `put` after the program was killed mid-upload
 * sends only the rest (its upload id kept under XDG_STATE_HOME), `get`
 * after it was killed mid-download goes on from its partial file, a partial
 * for a file that changed since is dropped; broken connections are resumed
 * and said so; retries stop after --retries with the connection exit code.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runBucket, spawnBucket } from '../helpers/cli.js';
import { startCutProxy } from '../helpers/cut-proxy.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

const SIZE = 32 * 1024 * 1024;
const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

async function waitUntil(condition: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`${what}: not in time`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function records(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('bucket resumes', () => {
  let server: RunningServer;
  let work: string;
  let state: string;
  let content: Buffer;
  let source: string;
  const env = (): NodeJS.ProcessEnv => ({ XDG_STATE_HOME: state, BUCKET_SERVER: undefined, BUCKET_PROFILE: undefined });

  before(async () => {
    server = await startServer();
    work = await tempDir();
    state = await tempDir('bucket-state-');
    content = randomBytes(SIZE);
    source = path.join(work, 'big.bin');
    await writeFile(source, content);
    const made = await runBucket(['--port', String(server.port), 'mb', 'box'], '', { env: env() });
    assert.equal(made.code, 0, made.stderr);
  });

  after(async () => {
    await server.stop();
  });

  test('put killed mid-upload, run again: only the rest is sent, the result is whole, the record is gone', async () => {
    // The first run's bytes stop after 8 MiB; it is then killed.
    const proxy = await startCutProxy({ port: server.port }, [{ direction: 'up', after: 8 * 1024 * 1024, stall: true }]);
    const first = spawnBucket(['--port', String(proxy.port), 'put', source, 'box/big.bin'], { env: env() });
    await waitUntil(async () => proxy.cuts === 1, 'the first run stalled');
    first.child.kill('SIGKILL');
    await first.exited;
    const journal = JSON.parse(await readFile(path.join(state, 'bucket', 'uploads.json'), 'utf8')) as { uploads: Record<string, { uploadId: string }> };
    const [mark] = Object.values(journal.uploads);
    assert.match(mark?.uploadId ?? '', /^[0-9a-f]{32}$/, 'the upload id was recorded');
    // Once the server has staged what it got, `bucket uploads` shows it.
    let listed: Record<string, unknown> | undefined;
    await waitUntil(async () => {
      const uploads = await runBucket(['--port', String(server.port), '--json', 'uploads', 'box'], '', { env: env() });
      assert.equal(uploads.code, 0, uploads.stderr);
      listed = records(uploads.stdout).find((record) => record.id === mark!.uploadId);
      return listed !== undefined;
    }, 'the unfinished upload is listed');
    assert.deepEqual(Object.keys(listed!).sort(), ['bucket', 'expires', 'held', 'id', 'name', 'size', 'started', 'type']);
    assert.equal(listed!.type, 'upload');
    assert.equal(listed!.size, SIZE);
    const held = listed!.held as number;
    assert.ok(held > 0 && held <= 8 * 1024 * 1024, `held ${held}`);

    const before = proxy.bytesUp;
    const second = await runBucket(['--port', String(proxy.port), '--json', 'put', source, 'box/big.bin'], '', { env: env(), timeoutMs: 60_000 });
    assert.equal(second.code, 0, second.stderr);
    const sent = proxy.bytesUp - before;
    assert.ok(sent < SIZE - held + 64 * 1024, `the second run sent ${sent} bytes, the server held ${held}`);
    const resumed = records(second.stderr).find((record) => record.type === 'resumed');
    assert.deepEqual(resumed, { type: 'resumed', direction: 'upload', about: source, offset: held, size: SIZE, attempt: 0, cause: null });
    const [uploaded] = records(second.stdout);
    assert.equal(uploaded?.sha256, sha(content));
    assert.equal(sha(await readFile(path.join(server.root, 'box', 'big.bin'))), sha(content));
    const after = JSON.parse(await readFile(path.join(state, 'bucket', 'uploads.json'), 'utf8')) as { uploads: Record<string, unknown> };
    assert.deepEqual(after.uploads, {}, 'the record is removed on success');
    await proxy.close();
  });

  test('get killed mid-download, run again: goes on from the partial, which is gone afterwards', async () => {
    const folder = await tempDir();
    // get plans on a connection of its own; the download comes on the next one.
    const proxy = await startCutProxy({ port: server.port }, [{ direction: 'down', after: Number.MAX_SAFE_INTEGER }, { direction: 'down', after: 8 * 1024 * 1024, stall: true }]);
    const first = spawnBucket(['--port', String(proxy.port), 'get', 'box/big.bin', folder], { env: env() });
    const partial = `.big.bin.${sha(content).slice(0, 16)}.bucket-part`;
    let size = 0;
    await waitUntil(async () => {
      const now = (await stat(path.join(folder, partial)).catch(() => undefined))?.size ?? 0;
      const steady = proxy.cuts === 1 && now === size && now > 0;
      size = now;
      return steady;
    }, 'the partial stopped growing');
    first.child.kill('SIGKILL');
    await first.exited;
    assert.deepEqual(await readdir(folder), [partial]);

    const second = await runBucket(['--port', String(server.port), 'get', 'box/big.bin', folder], '', { env: env(), timeoutMs: 60_000 });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /resuming an unfinished download at \d/);
    assert.deepEqual(await readdir(folder), ['big.bin'], 'the partial is gone');
    assert.equal(sha(await readFile(path.join(folder, 'big.bin'))), sha(content));
    await proxy.close();
  });

  test('a partial for a file that changed on the server is dropped; the download starts over', async () => {
    const folder = await tempDir();
    const old = randomBytes(1024 * 1024);
    const stale = path.join(folder, `.small.bin.${sha(old).slice(0, 16)}.bucket-part`);
    await writeFile(stale, old.subarray(0, 500_000));
    const fresh = randomBytes(1024 * 1024);
    await writeFile(path.join(work, 'small.bin'), fresh);
    const put = await runBucket(['--port', String(server.port), 'put', path.join(work, 'small.bin'), 'box/small.bin'], '', { env: env() });
    assert.equal(put.code, 0, put.stderr);
    const get = await runBucket(['--port', String(server.port), 'get', 'box/small.bin', folder], '', { env: env() });
    assert.equal(get.code, 0, get.stderr);
    assert.doesNotMatch(get.stderr, /resuming/);
    assert.deepEqual(await readdir(folder), ['small.bin']);
    assert.equal(sha(await readFile(path.join(folder, 'small.bin'))), sha(fresh));
  });

  test('a cut connection is resumed and said so; the stored file is whole', async () => {
    const proxy = await startCutProxy({ port: server.port }, [{ direction: 'up', after: 4 * 1024 * 1024 }]);
    const put = await runBucket(['--port', String(proxy.port), 'put', source, 'box/cut.bin'], '', { env: env(), timeoutMs: 60_000 });
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stderr, /^connection lost, resuming at \d+(\.\d)? MiB \(.*big\.bin\)$/m);
    assert.equal(sha(await readFile(path.join(server.root, 'box', 'cut.bin'))), sha(content));
    await proxy.close();
  });

  test('the shell resumes a cut upload and says so', async () => {
    const proxy = await startCutProxy({ port: server.port }, [{ direction: 'up', after: 4 * 1024 * 1024 }]);
    const shell = await runBucket(['--port', String(proxy.port)], `UPLOAD_FILE\n${source}\nshell-cut.bin\nbox\n`, { env: env(), timeoutMs: 60_000 });
    assert.equal(shell.code, 0, shell.stderr);
    assert.match(shell.stderr, /^connection lost, resuming at \d+(\.\d)? MiB$/m);
    assert.match(shell.stdout, /uploaded "shell-cut\.bin"/);
    assert.equal(sha(await readFile(path.join(server.root, 'box', 'shell-cut.bin'))), sha(content));
    await proxy.close();
  });

  test('retries stop after --retries with the connection exit code', async () => {
    const proxy = await startCutProxy({ port: server.port }, [{ direction: 'up', after: 1024 * 1024 }, ...Array.from({ length: 10 }, () => ({ direction: 'up' as const, after: 0 }))]);
    const put = await runBucket(['--port', String(proxy.port), '--json', 'put', '--retries', '2', source, 'box/flaky.bin'], '', { env: env(), timeoutMs: 60_000 });
    assert.equal(put.code, 6, put.stderr);
    const [failure] = records(put.stderr).filter((record) => record.type === 'error');
    assert.equal(failure?.code, 'CONNECTION_LOST');
    assert.equal(proxy.connections, 3, 'the first connection and two retries');
    await proxy.close();
  });

  test('uploads and abort-upload, for people and with --json', async () => {
    const proxy = await startCutProxy({ port: server.port }, [{ direction: 'up', after: 2 * 1024 * 1024 }]);
    const put = await runBucket(['--port', String(proxy.port), 'put', '--retries', '0', source, 'box/left.bin'], '', { env: env() });
    assert.equal(put.code, 6, put.stderr);
    await proxy.close();
    let id = '';
    await waitUntil(async () => {
      const listed = await runBucket(['--port', String(server.port), 'uploads'], '', { env: env() });
      assert.equal(listed.code, 0, listed.stderr);
      const line = listed.stdout.split('\n').find((text) => text.endsWith('box/left.bin'));
      id = line?.slice(0, 32) ?? '';
      return line !== undefined;
    }, 'the upload is listed');
    assert.match(id, /^[0-9a-f]{32}$/);
    const aborted = await runBucket(['--port', String(server.port), '--json', 'abort-upload', id], '', { env: env() });
    assert.equal(aborted.code, 0, aborted.stderr);
    const [record] = records(aborted.stdout);
    assert.equal(record?.type, 'upload-aborted');
    assert.equal(record?.id, id);
    assert.ok((record?.released as number) > 0);
    const again = await runBucket(['--port', String(server.port), 'abort-upload', id], '', { env: env() });
    assert.equal(again.code, 3, 'NO_SUCH_UPLOAD is "not found"');
    assert.match(again.stderr, /^error: /m);
  });

  test('an id that is not one: BAD_FIELD (exit 2), nothing sent, the session goes on', async () => {
    const oneShot = await runBucket(['--port', String(server.port), 'abort-upload', 'nosuch'], '', { env: env() });
    assert.equal(oneShot.code, 2, oneShot.stderr);
    assert.match(oneShot.stderr, /^error: [^\n]*"nosuch" is not an upload id \(32 lower-case hex digits\)\n$/);
    const json = await runBucket(['--port', String(server.port), '--json', 'abort-upload', 'nosuch'], '', { env: env() });
    assert.equal(json.code, 2, json.stderr);
    assert.equal(records(json.stderr).find((record) => record.type === 'error')?.code, 'BAD_FIELD');
    // Piped: the error is said, and the next command still runs on the same connection.
    const shell = await runBucket(['--port', String(server.port)], 'ABORT_UPLOAD\nbogus\nHELLO\n', { env: env() });
    assert.match(shell.stderr, /"bogus" is not an upload id/);
    assert.doesNotMatch(shell.stderr, /connection/);
    assert.match(shell.stdout, /bucketd [^\n]* \(protocol \d+\)/);
  });

  test('the shell lists and aborts unfinished uploads', async () => {
    const proxy = await startCutProxy({ port: server.port }, [{ direction: 'up', after: 2 * 1024 * 1024 }]);
    const put = await runBucket(['--port', String(proxy.port), 'put', '--retries', '0', source, 'box/shell.bin'], '', { env: env() });
    assert.equal(put.code, 6, put.stderr);
    await proxy.close();
    let id = '';
    await waitUntil(async () => {
      const shell = await runBucket(['--port', String(server.port)], 'LIST_UPLOADS\nbox\n', { env: env() });
      assert.equal(shell.code, 0, shell.stderr);
      const line = shell.stdout.split('\n').find((text) => text.endsWith('box/shell.bin'));
      id = line?.slice(0, 32) ?? '';
      return line !== undefined;
    }, 'the shell lists the upload');
    const shell = await runBucket(['--port', String(server.port)], `ABORT_UPLOAD\n${id}\nLIST_UPLOADS\n\n`, { env: env() });
    assert.equal(shell.code, 0, shell.stderr);
    assert.match(shell.stdout, new RegExp(`aborted upload ${id} \\(`));
    assert.doesNotMatch(shell.stdout, /box\/shell\.bin/);
  });
});
