/**
 * bucket sync, through the real program against a real server: a tree
 * with names in many scripts goes up and comes down byte for byte; a
 * second run copies and hashes nothing; a change of size or of content is
 * caught (and, with --checksum, even one no file stamp shows); --delete,
 * --dry-run, --json records, which side is remote, exit codes, and a file
 * that fails while the rest go on.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, rm, stat, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { BucketClient } from '../../src/client/index.js';
import { runBucket, type CliResult } from '../helpers/cli.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

const WORDS = ['Ελληνικά', 'русский', '中文', 'العربية', 'हिन्दी', 'emoji 🎉🐈', 'spaces and, commas', 'café'];

let server: RunningServer;
let work: string;
let tree: string;
const sha = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex');
const bucket = (...args: string[]): Promise<CliResult> =>
  runBucket(['--port', String(server.port), ...args], '', { cwd: work, env: { XDG_CACHE_HOME: path.join(work, 'cache'), BUCKET_SERVER: undefined, BUCKET_PROFILE: undefined, BUCKET_USER: undefined } });

type Line = Record<string, unknown>;
interface SyncRun {
  code: number | null;
  stderr: string;
  records: Line[];
  summary: Line;
  of(type: string): Line[];
}

/** `bucket --json sync ARGS`, its records parsed; the last must be the summary. */
async function sync(...args: string[]): Promise<SyncRun> {
  const result = await bucket('--json', 'sync', ...args);
  const records = result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Line);
  const summary = records.at(-1)!;
  assert.equal(summary.type, 'summary', result.stdout + result.stderr);
  assert.equal(summary.verb, 'sync');
  return { code: result.code, stderr: result.stderr, records, summary, of: (type) => records.filter((record) => record.type === type) };
}

/** The summary's counts, for one assertion. */
function counts(run: SyncRun): Record<string, unknown> {
  const { copied, skipped, deleted, hashed, failed } = run.summary;
  return { copied, skipped, deleted, hashed, failed };
}

/** Every regular file under `dir`: relative path ("/"-joined) -> bytes. */
async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    files.set(path.relative(dir, full).split(path.sep).join('/'), await readFile(full));
  }
  return files;
}

/** What the server holds under `prefix`: name past the prefix -> SHA-256. */
async function remoteHashes(prefix: string): Promise<Map<string, string>> {
  const client = await BucketClient.connect({ port: server.port });
  try {
    const hashes = new Map<string, string>();
    for await (const file of client.iterateFiles('box', { prefix })) hashes.set(file.name.slice(prefix.length), file.sha256!);
    return hashes;
  } finally {
    client.close();
  }
}

const hashesOf = (files: Map<string, Buffer>): Map<string, string> => new Map([...files].map(([name, bytes]) => [name, sha(bytes)]));

/**
 * Rewrites a file with other bytes of the same size and puts its
 * modification time back (exactly for the whole seconds the tree starts
 * with; else to the millisecond, all utimes() takes).
 */
async function sameSizeEdit(file: string): Promise<void> {
  const before = await stat(file);
  const bytes = await readFile(file);
  assert.ok(bytes.length > 0);
  await writeFile(file, Buffer.from(bytes.map((byte) => byte ^ 0xff)));
  await utimes(file, before.atimeMs / 1000, before.mtimeMs / 1000);
  assert.equal(Math.round((await stat(file)).mtimeMs), Math.round(before.mtimeMs));
}

before(async () => {
  server = await startServer();
  work = await tempDir('bucket-sync-');
  tree = path.join(work, 'tree');
  let n = 0;
  for (const first of WORDS) {
    for (const second of WORDS.slice(0, 2)) {
      const folder = path.join(tree, first, second);
      await mkdir(folder, { recursive: true });
      for (let i = 0; i < 2; i++) await writeFile(path.join(folder, `${WORDS[(n + i) % WORDS.length]} ${n++}.bin`), Buffer.alloc(n % 5 === 0 ? 0 : (n * 131) % 3000, n));
    }
  }
  await writeFile(path.join(tree, 'top level, file.txt'), 'top');
  // Whole seconds, so that a time put back is the very same to the nanosecond.
  let second = 1_700_000_000;
  for (const name of (await snapshot(tree)).keys()) await utimes(path.join(tree, ...name.split('/')), second, second++);
  assert.equal((await bucket('mb', 'box')).code, 0);
});
after(async () => {
  assert.equal(await server.stop(), 0);
  await rm(work, { recursive: true, force: true });
});

test('up: the tree arrives under the prefix byte for byte; a second run copies and hashes nothing', async () => {
  const sent = await snapshot(tree);
  assert.ok(sent.size > 30, `${sent.size} files`);
  const first = await sync('--parallel', '3', 'tree', 'box/up');
  assert.equal(first.code, 0, first.stderr);
  const uploaded = first.of('uploaded');
  assert.equal(uploaded.length, sent.size);
  for (const record of uploaded) {
    assert.deepEqual(Object.keys(record).sort(), ['bucket', 'name', 'path', 'reason', 'sha256', 'size', 'type']);
    const relative = String(record.name).slice('up/'.length);
    assert.equal(record.sha256, sha(sent.get(relative)!), relative);
    assert.equal(record.path, path.join('tree', ...relative.split('/')));
    assert.equal(record.reason, 'new');
  }
  const bytes = [...sent.values()].reduce((sum, file) => sum + file.length, 0);
  assert.deepEqual(first.summary, { type: 'summary', verb: 'sync', done: sent.size, failed: 0, bytes, copied: sent.size, skipped: 0, deleted: 0, hashed: 0, dryRun: false });
  assert.deepEqual(await remoteHashes('up/'), hashesOf(sent));

  const second = await sync('tree', 'box/up/');
  assert.deepEqual(counts(second), { copied: 0, skipped: sent.size, deleted: 0, hashed: 0, failed: 0 });
  assert.equal(second.records.length, 1, 'only the summary');
  const human = await bucket('sync', 'tree', 'box/up');
  assert.equal(human.code, 0);
  assert.equal(human.stdout, `sync: 0 copied (0 B), ${sent.size} skipped, 0 deleted, 0 hashed\n`);
});

test('up: a change of size, a change of content behind an old modification time, and --checksum', async () => {
  const files = [...(await snapshot(tree)).keys()];
  const grown = path.join(tree, files[3]!);
  await writeFile(grown, 'grown to another size, surely');
  const sized = await sync('tree', 'box/up');
  assert.deepEqual(counts(sized), { copied: 1, skipped: files.length - 1, deleted: 0, hashed: 0, failed: 0 });
  assert.equal(sized.of('uploaded')[0]!.reason, 'size');

  // Same size, the very same modification time: the change time still tells, so the file is hashed and sent.
  const edited = path.join(tree, 'top level, file.txt');
  const { mtimeNs: timeBefore } = await lstat(edited, { bigint: true });
  await sameSizeEdit(edited);
  assert.equal((await lstat(edited, { bigint: true })).mtimeNs, timeBefore);
  const content = await sync('tree', 'box/up');
  assert.deepEqual(counts(content), { copied: 1, skipped: files.length - 1, deleted: 0, hashed: 1, failed: 0 });
  assert.deepEqual(content.of('uploaded').map((record) => [record.name, record.reason, record.sha256]), [['up/top level, file.txt', 'content', sha(await readFile(edited))]]);

  // A change no stamp shows (here: the cache told a stale hash) goes unseen, unless --checksum.
  const cacheFile = path.join(work, 'cache', 'bucket', 'hashes.json');
  const remembered = JSON.parse(await readFile(cacheFile, 'utf8')) as { entries: Record<string, { sha256: string }> };
  const entry = remembered.entries[path.resolve(edited)]!;
  await sameSizeEdit(edited);
  const { mtimeNs, ctimeNs, ino } = await lstat(edited, { bigint: true });
  Object.assign(entry, { mtimeNs: String(mtimeNs), ctimeNs: String(ctimeNs), ino: String(ino) });
  await writeFile(cacheFile, JSON.stringify(remembered));
  assert.deepEqual(counts(await sync('tree', 'box/up')), { copied: 0, skipped: files.length, deleted: 0, hashed: 0, failed: 0 });
  const checked = await sync('--checksum', 'tree', 'box/up');
  assert.deepEqual(counts(checked), { copied: 1, skipped: files.length - 1, deleted: 0, hashed: files.length, failed: 0 }, 'every file of the same size as its remote is hashed');
  assert.equal(checked.of('uploaded')[0]!.reason, 'content');
  assert.deepEqual(await remoteHashes('up/'), hashesOf(await snapshot(tree)));
  assert.deepEqual(counts(await sync('tree', 'box/up')), { copied: 0, skipped: files.length, deleted: 0, hashed: 0, failed: 0 });
});

test('up: --delete removes what the tree no longer has; --dry-run says so and changes nothing', async () => {
  const files = [...(await snapshot(tree)).keys()];
  const goneName = files[5]!;
  await unlink(path.join(tree, goneName));
  await writeFile(path.join(tree, files[6]!), 'changed for the dry run');
  const before = await remoteHashes('up/');

  const kept = await sync('tree', 'box/up');
  assert.equal(kept.summary.deleted, 0);
  assert.ok((await remoteHashes('up/')).has(goneName), 'without --delete, nothing is deleted');

  await writeFile(path.join(tree, files[6]!), 'changed again for the dry run');
  const dry = await sync('--dry-run', '--delete', 'tree', 'box/up');
  assert.equal(dry.code, 0);
  assert.deepEqual(dry.of('would-delete'), [{ type: 'would-delete', bucket: 'box', name: `up/${goneName}` }]);
  assert.deepEqual(dry.of('would-upload'), [{ type: 'would-upload', bucket: 'box', name: `up/${files[6]}`, path: path.join('tree', ...files[6]!.split('/')), size: 29, reason: 'size' }]);
  assert.deepEqual(dry.summary, { type: 'summary', verb: 'sync', done: 2, failed: 0, bytes: 29, copied: 1, skipped: files.length - 2, deleted: 1, hashed: 0, dryRun: true });
  const stillThere = await remoteHashes('up/');
  assert.equal(stillThere.get(files[6]!), sha('changed for the dry run'));
  assert.equal(stillThere.size, before.size);
  const humanDry = await bucket('sync', '--dry-run', '--delete', 'tree', 'box/up');
  assert.match(humanDry.stdout, /^would upload .* \(29 B, size differs\)$/m);
  assert.match(humanDry.stdout, new RegExp(`^would delete box/up/${goneName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  assert.match(humanDry.stdout, /^sync \(dry run\): 1 to copy \(29 B\), \d+ skipped, 1 to delete, 0 hashed\n$/m);

  const deleted = await sync('--delete', 'tree', 'box/up');
  assert.deepEqual(deleted.of('deleted'), [{ type: 'deleted', bucket: 'box', name: `up/${goneName}` }]);
  assert.equal(deleted.summary.deleted, 1);
  assert.deepEqual(await remoteHashes('up/'), hashesOf(await snapshot(tree)));
});

test('down: the prefix arrives in a new folder byte for byte; a second run copies and hashes nothing', async () => {
  const expected = await snapshot(tree);
  const first = await sync('--parallel', '4', 'box/up/', './down');
  assert.equal(first.code, 0, first.stderr);
  const downloaded = first.of('downloaded');
  assert.equal(downloaded.length, expected.size);
  for (const record of downloaded) assert.deepEqual(Object.keys(record).sort(), ['bucket', 'name', 'path', 'reason', 'sha256', 'size', 'type']);
  assert.deepEqual(await snapshot(path.join(work, 'down')), expected);
  assert.deepEqual(counts(first), { copied: expected.size, skipped: 0, deleted: 0, hashed: 0, failed: 0 });
  // A file's time is when the server stored it.
  const client = await BucketClient.connect({ port: server.port });
  const [remote] = await client.listFiles('box', { prefix: 'up/top level' });
  client.close();
  assert.equal(Math.round((await stat(path.join(work, 'down', 'top level, file.txt'))).mtimeMs), remote!.modifiedAt.getTime());

  assert.deepEqual(counts(await sync('box/up/', './down')), { copied: 0, skipped: expected.size, deleted: 0, hashed: 0, failed: 0 });
});

test('down: a remote change of size or content, a local edit, --delete and --dry-run', async () => {
  const down = path.join(work, 'down');
  const all = await snapshot(down);
  const total = all.size;
  // Files with bytes in them, so that an edit of the same size changes something.
  const files = [...all].filter(([, bytes]) => bytes.length > 0).map(([name]) => name);
  // The remote changes: one file grows, one keeps its size. Neither needs a local file hashed.
  await writeFile(path.join(tree, files[0]!), 'a new size from elsewhere');
  await sameSizeEdit(path.join(tree, files[1]!));
  assert.equal((await sync('tree', 'box/up')).summary.copied, 2);
  const remoteChanged = await sync('box/up', './down');
  assert.deepEqual(counts(remoteChanged), { copied: 2, skipped: total - 2, deleted: 0, hashed: 0, failed: 0 });
  assert.deepEqual(remoteChanged.of('downloaded').map((record) => record.reason).sort(), ['content', 'size']);
  assert.deepEqual(await snapshot(down), await snapshot(tree));

  // A local edit behind its old modification time is hashed, found different, and put right.
  await sameSizeEdit(path.join(down, files[2]!));
  const localEdit = await sync('box/up', './down');
  assert.deepEqual(counts(localEdit), { copied: 1, skipped: total - 1, deleted: 0, hashed: 1, failed: 0 });
  assert.deepEqual(await snapshot(down), await snapshot(tree));

  // Local files the remote lacks stay, unless --delete; a folder it leaves empty goes with it.
  await mkdir(path.join(down, 'extra', 'deeper'), { recursive: true });
  await writeFile(path.join(down, 'extra', 'deeper', 'only here.txt'), 'local only');
  assert.equal((await sync('box/up', './down')).summary.deleted, 0);
  const dry = await sync('--delete', '--dry-run', 'box/up', './down');
  assert.deepEqual(dry.of('would-delete-local'), [{ type: 'would-delete-local', path: path.join('down', 'extra', 'deeper', 'only here.txt') }]);
  assert.equal(dry.summary.dryRun, true);
  assert.equal(await readFile(path.join(down, 'extra', 'deeper', 'only here.txt'), 'utf8'), 'local only');
  // A remote change is only announced by a dry run.
  await writeFile(path.join(tree, files[3]!), 'another size again, for the dry run');
  assert.equal((await sync('tree', 'box/up')).summary.copied, 1);
  const dryCopy = await sync('--dry-run', 'box/up', './down');
  assert.deepEqual(dryCopy.of('would-download').map((record) => [record.name, record.reason]), [[`up/${files[3]}`, 'size']]);
  assert.notEqual(await readFile(path.join(down, files[3]!), 'utf8'), 'another size again, for the dry run');

  const deleted = await sync('--delete', 'box/up', './down');
  assert.deepEqual(deleted.of('deleted-local'), [{ type: 'deleted-local', path: path.join('down', 'extra', 'deeper', 'only here.txt') }]);
  assert.deepEqual(counts(deleted), { copied: 1, skipped: total - 1, deleted: 1, hashed: 0, failed: 0 });
  await assert.rejects(stat(path.join(down, 'extra')), { code: 'ENOENT' });
  assert.deepEqual(await snapshot(down), await snapshot(tree));
});

test('names in another Unicode form are the same file; links are neither sent, followed nor deleted', async () => {
  const forms = path.join(work, 'forms');
  await mkdir(path.join(forms, 'sub'), { recursive: true });
  const decomposed = 'cafe\u0301 nfd.txt';
  await writeFile(path.join(forms, decomposed), 'decomposed');
  await writeFile(path.join(forms, 'sub', 'real.txt'), 'real');
  await symlink(path.join(forms, 'sub', 'real.txt'), path.join(forms, 'link.txt'));
  await symlink(path.join(forms, 'sub'), path.join(forms, 'linked folder'));
  const up = await sync('--delete', 'forms', 'box/forms');
  assert.equal(up.code, 0, up.stderr);
  assert.deepEqual([...(await remoteHashes('forms/')).keys()].sort(), ['caf\u00e9 nfd.txt', 'sub/real.txt']);
  assert.deepEqual(counts(await sync('--delete', 'forms', 'box/forms')), { copied: 0, skipped: 2, deleted: 0, hashed: 0, failed: 0 });

  // Down into the same folder: the decomposed name is the file the server has; the links stay as they are.
  const down = await sync('--delete', 'box/forms', './forms');
  assert.deepEqual(counts(down), { copied: 0, skipped: 2, deleted: 0, hashed: 0, failed: 0 });
  assert.ok((await lstat(path.join(forms, 'link.txt'))).isSymbolicLink());
  assert.ok((await lstat(path.join(forms, 'linked folder'))).isSymbolicLink());
  assert.deepEqual((await readdir(forms)).sort(), [decomposed, 'link.txt', 'linked folder', 'sub'].sort());
});

test('a folder that holds the hash cache (a home folder) is synced without it', async () => {
  const home = path.join(work, 'home');
  await mkdir(home);
  await writeFile(path.join(home, 'notes.txt'), 'notes');
  const env = { XDG_CACHE_HOME: path.join(home, '.cache'), BUCKET_SERVER: undefined, BUCKET_PROFILE: undefined, BUCKET_USER: undefined };
  for (const copied of [1, 0]) {
    const result = await runBucket(['--port', String(server.port), 'sync', 'home', 'box/home'], '', { cwd: work, env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^sync: ${copied} copied`, 'm'));
  }
  assert.ok((await stat(path.join(home, '.cache', 'bucket', 'hashes.json'))).isFile());
  assert.deepEqual([...(await remoteHashes('home/')).keys()], ['notes.txt']);
});

test('which side is remote: a path written as local, else the one on disk; otherwise a usage error', async () => {
  await writeFile(path.join(work, 'a-file'), 'x');
  const exits = async (args: string[], code: number, stderr: RegExp): Promise<void> => {
    const result = await bucket('sync', ...args);
    assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, stderr);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  };
  await exits(['./tree', './down'], 2, /both local paths/);
  await exits(['tree', 'down'], 2, /cannot tell which .*\(both exist/);
  await exits(['box/up', 'nothing-here'], 2, /cannot tell which .*\(neither exists.*\.\/PATH/);
  await exits(['box/up', './a-file'], 2, /not a folder/);
  await exits(['tree', 'box/up', '--parallel', '0'], 2, /--parallel/);
  await exits(['./no-such-folder', 'box/up'], 3, /no such local folder/);
  await exits(['tree', 'nosuchbucket/x/'], 3, /no bucket "nosuchbucket"/);
  await exits(['tree'], 2, /missing required argument/);

  // An explicit local path makes the other word remote, even where a local folder of that name exists.
  await mkdir(path.join(work, 'box', 'up'), { recursive: true });
  const explicit = await sync('./tree', 'box/up');
  assert.equal(explicit.code, 0, explicit.stderr);
  assert.equal(explicit.summary.copied, 0);
  await rm(path.join(work, 'box'), { recursive: true });

  const absolute = await bucket('sync', 'box/partial-none/', path.join(work, 'made'));
  assert.equal(absolute.code, 0, 'an absolute path is local');
  assert.ok((await stat(path.join(work, 'made'))).isDirectory(), 'the folder is made');
  const missing = await bucket('--json', 'sync', 'nosuchbucket/', './down');
  assert.equal(missing.code, 3);
  assert.deepEqual(JSON.parse(missing.stderr), { type: 'error', code: 'NO_SUCH_BUCKET', message: 'no bucket "nosuchbucket"', exit: 3 });
  assert.equal(missing.stdout, '');
});

// Root reads every folder, so this runs only for other users.
test('a local folder that cannot be read: the rest is copied, and nothing is deleted', { skip: process.getuid?.() === 0 ? 'root can read any folder' : false }, async () => {
  const locked = path.join(work, 'locked');
  await mkdir(path.join(locked, 'open'), { recursive: true });
  await mkdir(path.join(locked, 'shut'));
  await writeFile(path.join(locked, 'open', 'a.txt'), 'a');
  await writeFile(path.join(locked, 'shut', 'b.txt'), 'b');
  assert.equal((await sync('locked', 'box/locked')).summary.copied, 2);
  await writeFile(path.join(locked, 'open', 'c.txt'), 'c');
  await chmod(path.join(locked, 'shut'), 0o000);
  try {
    const run = await sync('--delete', 'locked', 'box/locked');
    assert.equal(run.code, 1);
    assert.deepEqual(counts(run), { copied: 1, skipped: 1, deleted: 0, hashed: 0, failed: 2 });
    assert.deepEqual(run.stderr.trim().split('\n').map((line) => (JSON.parse(line) as Line).code), ['LOCAL_FILE_ERROR', 'SYNC_INCOMPLETE']);
    assert.ok((await remoteHashes('locked/')).has('shut/b.txt'));
  } finally {
    await chmod(path.join(locked, 'shut'), 0o755);
  }
});

test('a file that fails does not stop the others; the run ends non-zero with its summary', async () => {
  const partial = path.join(work, 'partial');
  await mkdir(partial);
  await writeFile(path.join(partial, 'good one.txt'), 'good');
  await writeFile(path.join(partial, 'bad\u0001name.txt'), 'refused: a control character');
  await writeFile(path.join(partial, 'good two.txt'), 'good too');
  const up = await sync('partial', 'box/partial/');
  assert.equal(up.code, 2, 'INVALID_FILE_NAME is a usage-class failure');
  assert.deepEqual(counts(up), { copied: 2, skipped: 0, deleted: 0, hashed: 0, failed: 1 });
  const errors = up.stderr.trim().split('\n').map((line) => JSON.parse(line) as Line);
  assert.deepEqual(errors.map((error) => [error.type, error.code, error.exit, error.about]), [['error', 'INVALID_FILE_NAME', 2, path.join('partial', 'bad\u0001name.txt')]]);
  assert.deepEqual([...(await remoteHashes('partial/')).keys()].sort(), ['good one.txt', 'good two.txt']);

  // Down: a local folder where a remote file goes is a conflict (exit 5); the other file arrives.
  const back = path.join(work, 'back');
  await mkdir(path.join(back, 'good one.txt'), { recursive: true });
  const human = await bucket('sync', 'box/partial', './back');
  assert.equal(human.code, 5, human.stderr);
  assert.match(human.stderr, /^error: box\/partial\/good one\.txt: a folder stands where/);
  assert.match(human.stdout, /^sync: 1 copied \(8 B\), 0 skipped, 0 deleted, 0 hashed, 1 failed\n$/m);
  assert.equal(await readFile(path.join(back, 'good two.txt'), 'utf8'), 'good too');
});
