/** `bucketd user ...` and `bucketd bucket quota ...` through the real program: what each command does. */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { bucketd, logsIn, newRoot, failed, misused, ok } from '../helpers/bucketd.js';
import { startServer } from '../helpers/server.js';

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
  const grants = await Promise.all([
    bucketd(['user', 'grant', 'alice', 'photos', 'write', root]),
    bucketd(['user', 'grant', 'alice', 'public', 'admin', root]),
    bucketd(['user', 'grant', 'anonymous', 'public', 'read', root]),
  ]);
  ok(grants[0]!, 'granted write on "photos" to "alice"\n');
  ok(grants[1]!, 'granted admin on "public" to "alice"\n');
  ok(grants[2]!, 'granted read on "public" to anonymous\n');
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
  const [noBucket, badSize] = await Promise.all([bucketd(['bucket', 'quota', 'nosuch', '1G', root]), bucketd(['bucket', 'quota', 'photos', 'lots', root])]);
  failed(noBucket, /^bucketd: no bucket "nosuch"/);
  misused(badSize, /^bucketd: invalid SIZE "lots"/);
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
