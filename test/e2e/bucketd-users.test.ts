/** `bucketd user ...` and `bucketd bucket quota ...` through the real program. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { ScramClient, ScramServer, decoyVerifier } from '../../src/protocol/scram.js';
import { UserStore } from '../../src/server/users/index.js';
import { BUCKETD, startServer, tempDir } from '../helpers/server.js';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function bucketd(args: string[], input = '', cwd?: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BUCKETD, ...args], { stdio: ['pipe', 'pipe', 'pipe'], cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bucketd ${args.join(' ')} timed out; stderr: ${stderr}`));
    }, 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

const roots: string[] = [];
after(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});
async function newRoot(): Promise<string> {
  const root = await tempDir('bucketd-users-e2e-');
  roots.push(root);
  return root;
}

/** Whether `password` logs `user` in against the verifiers now in ROOT's access file. */
async function logsIn(root: string, user: string, password: string): Promise<boolean> {
  const store = await UserStore.open(path.join(root, '.bucketd'), { pollMs: 0 });
  try {
    const client = new ScramClient(user, password);
    const server = new ScramServer((name) => store.user(name)?.scram, (name) => decoyVerifier(store.decoySecret, name));
    const outcome = server.finish(client.finalMessage(server.start(client.firstMessage())));
    if (outcome.ok) client.verifyServer(outcome.serverFinal);
    return outcome.ok;
  } finally {
    store.close();
  }
}

const ok = (result: Result, stdout: string | RegExp): void => {
  assert.equal(result.code, 0, result.stderr);
  if (typeof stdout === 'string') assert.equal(result.stdout, stdout);
  else assert.match(result.stdout, stdout);
};

/** Exit 1, one line on stderr, nothing on stdout. */
const failed = (result: Result, message: RegExp): void => {
  assert.equal(result.code, 1, `${result.stdout}${result.stderr}`);
  assert.equal(result.stdout, '');
  assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
  assert.match(result.stderr, message);
};

/** Exit 2: one line and the usage line. */
const misused = (result: Result, message: RegExp): void => {
  assert.equal(result.code, 2, `${result.stdout}${result.stderr}`);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2, result.stderr);
  assert.match(lines[0]!, message);
  assert.match(lines[1]!, /^usage: bucketd (user|bucket) /);
};

test('add with a password on stdin, list, passwd, remove', async () => {
  const root = await newRoot();
  ok(await bucketd(['user', 'add', 'alice', '--root', root], 'wonder land\n'), 'added user "alice"\n');
  ok(await bucketd(['user', 'add', 'root@example.com', '--admin', '--no-create', root], 'x\r\n'), 'added user "root@example.com" (a server admin; may not create buckets)\n');
  assert.equal(await logsIn(root, 'alice', 'wonder land'), true, 'the whole line is the password, spaces included');
  assert.equal(await logsIn(root, 'alice', 'wonder'), false);
  assert.equal(await logsIn(root, 'root@example.com', 'x'), true, 'CRLF is a line end');
  assert.equal(await logsIn(root, 'nobody', 'x'), false);

  ok(await bucketd(['user', 'list', root]), 'alice             create        -\nroot@example.com  admin         -\n');

  ok(await bucketd(['user', 'passwd', 'alice', root], 'looking glass\n'), 'changed the password of "alice"\n');
  assert.equal(await logsIn(root, 'alice', 'wonder land'), false);
  assert.equal(await logsIn(root, 'alice', 'looking glass'), true);

  ok(await bucketd(['user', 'remove', 'alice', root]), 'removed user "alice"\n');
  ok(await bucketd(['user', 'list', '--root', root]), 'root@example.com  admin         -\n');
  assert.equal(await logsIn(root, 'alice', 'looking glass'), false);
});

test('--generate prints a fresh secret once, alone on stdout, and it logs in', async () => {
  const root = await newRoot();
  const added = await bucketd(['user', 'add', 'ci', '--generate', root]);
  assert.equal(added.code, 0, added.stderr);
  const secret = added.stdout.trimEnd();
  assert.match(added.stdout, /^[A-Za-z0-9_-]{43}\n$/, '32 random bytes, base64url, one line');
  assert.match(added.stderr, /added user "ci"/);
  assert.equal(await logsIn(root, 'ci', secret), true);

  const changed = await bucketd(['user', 'passwd', 'ci', '--generate', root]);
  assert.equal(changed.code, 0, changed.stderr);
  const fresh = changed.stdout.trimEnd();
  assert.notEqual(fresh, secret);
  assert.equal(await logsIn(root, 'ci', fresh), true);
  assert.equal(await logsIn(root, 'ci', secret), false);
});

test('grant and revoke, for users and anonymous; list shows them', async () => {
  const root = await newRoot();
  await mkdir(path.join(root, 'photos'));
  await mkdir(path.join(root, 'public'));
  ok(await bucketd(['user', 'add', 'alice', root], 'pw\n'), /added/);
  ok(await bucketd(['user', 'grant', 'alice', 'photos', 'write', root]), 'granted write on "photos" to "alice"\n');
  ok(await bucketd(['user', 'grant', 'alice', 'public', 'admin', root]), 'granted admin on "public" to "alice"\n');
  ok(await bucketd(['user', 'grant', 'anonymous', 'public', 'read', root]), 'granted read on "public" to anonymous\n');
  ok(await bucketd(['user', 'list', root]), 'alice      create        photos=write public=admin\nanonymous  -             public=read\n');
  ok(await bucketd(['user', 'revoke', 'alice', 'photos', root]), 'revoked the grant of "alice" on "photos"\n');
  ok(await bucketd(['user', 'revoke', 'alice', 'photos', root]), '"alice" had no grant on "photos"\n');
  ok(await bucketd(['user', 'revoke', 'anonymous', 'public', root]), 'revoked the grant of anonymous on "public"\n');
  ok(await bucketd(['user', 'list', root]), 'alice  create        public=admin\n');
});

test('bucket quota: set, shown, removed', async () => {
  const root = await newRoot();
  await mkdir(path.join(root, 'photos'));
  ok(await bucketd(['bucket', 'quota', 'photos', '10G', root]), 'quota of "photos" set to 10.0 GiB (10737418240 bytes)\n');
  ok(await bucketd(['bucket', 'quotas', root]), 'photos  10737418240  10.0 GiB\n');
  ok(await bucketd(['bucket', 'quota', 'photos', '512k', '--root', root]), 'quota of "photos" set to 512 KiB (524288 bytes)\n');
  ok(await bucketd(['bucket', 'quota', 'photos', 'none', root]), 'removed the quota of "photos"\n');
  ok(await bucketd(['bucket', 'quota', 'photos', 'none', root]), '"photos" has no quota\n');
  ok(await bucketd(['bucket', 'quotas', root]), '');
  failed(await bucketd(['bucket', 'quota', 'nosuch', '1G', root]), /^bucketd: no bucket "nosuch"/);
  misused(await bucketd(['bucket', 'quota', 'photos', 'lots', root]), /^bucketd: invalid SIZE "lots"/);
});

test('errors: one line, exit 1; a bad permission word or a wrong call, exit 2', async () => {
  const root = await newRoot();
  await mkdir(path.join(root, 'photos'));
  ok(await bucketd(['user', 'add', 'alice', root], 'pw\n'), /added/);
  failed(await bucketd(['user', 'add', 'alice', root], 'other\n'), /^bucketd: user "alice" already exists$/m);
  failed(await bucketd(['user', 'passwd', 'bob', root], 'pw\n'), /^bucketd: no user "bob"$/m);
  failed(await bucketd(['user', 'remove', 'bob', root]), /^bucketd: no user "bob"$/m);
  failed(await bucketd(['user', 'grant', 'bob', 'photos', 'read', root]), /^bucketd: no user "bob"$/m);
  failed(await bucketd(['user', 'add', 'anonymous', root], 'pw\n'), /^bucketd: "anonymous" is reserved/);
  failed(await bucketd(['user', 'add', 'a b', root], 'pw\n'), /^bucketd: user names are/);
  failed(await bucketd(['user', 'grant', 'alice', 'nosuch', 'read', root]), /^bucketd: no bucket "nosuch"/);
  failed(await bucketd(['user', 'grant', 'alice', 'My_Photos', 'read', root]), /^bucketd: bucket names have/);
  failed(await bucketd(['user', 'add', 'bob', root], ''), /^bucketd: no password for "bob" on standard input/);
  failed(await bucketd(['user', 'list', path.join(root, 'nowhere')]), /^bucketd: no folder /);

  misused(await bucketd(['user', 'grant', 'alice', 'photos', 'owner', root]), /^bucketd: "owner" is not a permission/);
  misused(await bucketd(['user', root]), /^bucketd: unknown user command/);
  misused(await bucketd(['user']), /^bucketd: say which user command: add, list, passwd, remove, grant, revoke$/);
  misused(await bucketd(['user', 'add', root, 'extra', 'more']), /^bucketd: too many arguments for add/);
  misused(await bucketd(['user', 'grant', 'alice', root]), /^bucketd: grant needs NAME BUCKET PERMISSION$/);
  misused(await bucketd(['user', 'list', '--admin', root]), /^bucketd: --admin does not go with user list$/);
  misused(await bucketd(['user', 'list', root, '--root', root]), /^bucketd: give ROOT once/);
  misused(await bucketd(['user', 'list', '--port', '1', root]), /^bucketd: unknown option '--port'/);
  misused(await bucketd(['bucket', 'frob', root]), /^bucketd: unknown bucket command "frob"/);
  // Nothing of the failures reached the file.
  ok(await bucketd(['user', 'list', root]), 'alice  create        -\n');
});

test('the access file holds verifiers only: no password, mode 0600, nothing left in tmp', async () => {
  const root = await newRoot();
  const password = 'correct horse battery staple ✓';
  ok(await bucketd(['user', 'add', 'alice', root], `${password}\n`), /added/);
  ok(await bucketd(['user', 'passwd', 'alice', root], `${password}!\n`), /changed/);
  const file = path.join(root, '.bucketd', 'access.json');
  const bytes = await readFile(file);
  for (const secret of [password, `${password}!`, 'correct horse']) assert.equal(bytes.includes(Buffer.from(secret)), false, secret);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(path.join(root, '.bucketd', 'tmp')), []);
  assert.deepEqual((await readdir(path.join(root, '.bucketd'))).sort(), ['access.json', 'tmp'], 'no lock left');
});

test('ROOT: a last argument, --root, or one piped line before the password; ./user is a folder', async () => {
  const base = await newRoot();
  const root = path.join(base, 'data', 'deep');
  ok(await bucketd(['user', 'add', 'alice'], `${root}\nsecret\n`), 'added user "alice"\n');
  assert.equal(await logsIn(root, 'alice', 'secret'), true, 'ROOT made with its parents, then the password from the next line');
  ok(await bucketd(['user', 'list'], `${root}\n`), /^alice /);
  misused(await bucketd(['user', 'list'], ''), /^bucketd: no ROOT folder given$/);
  // A listing makes nothing under a ROOT that has no bookkeeping.
  const bare = path.join(base, 'bare');
  await mkdir(bare);
  ok(await bucketd(['user', 'list', bare]), '');
  assert.deepEqual(await readdir(bare), []);

  // `bucketd user` is the command; a folder named user is ./user.
  ok(await bucketd(['user', 'add', 'bob', './user'], 'pw\n', base), /added/);
  assert.equal(await logsIn(path.join(base, 'user'), 'bob', 'pw'), true);
  const server = await bucketd(['--port', '0', 'user'], '', base);
  assert.equal(server.code, 2);
  assert.match(server.stderr, /a ROOT folder named user is written \.\/user/);
});

test('help: bucketd user --help lists the commands; bucketd --help mentions them', async () => {
  const help = await bucketd(['user', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: bucketd user /);
  for (const word of ['add NAME', 'list', 'passwd NAME', 'remove NAME', 'grant NAME BUCKET read|write|admin', 'revoke NAME BUCKET', '--generate', './user']) {
    assert.ok(help.stdout.includes(word), word);
  }
  const bucket = await bucketd(['bucket', '-h']);
  assert.match(bucket.stdout, /quota BUCKET SIZE\|none/);
  const server = await bucketd(['--help']);
  assert.match(server.stdout, /^usage: bucketd \[options\] \[ROOT\]/);
  assert.match(server.stdout, /bucketd user \.\.\./);
});

test('they work while a server runs on the same ROOT', async () => {
  const root = await newRoot();
  const server = await startServer({ root });
  try {
    await mkdir(path.join(root, 'photos'));
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => bucketd(['user', 'add', `user${i}`, root], 'pw\n')));
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    ok(await bucketd(['user', 'grant', 'user0', 'photos', 'read', root]), /granted/);
    ok(await bucketd(['bucket', 'quota', 'photos', '1G', root]), /quota/);
    const listed = await bucketd(['user', 'list', root]);
    assert.equal(listed.stdout.trimEnd().split('\n').length, 6);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
