/** `bucketd user ...` and `bucketd bucket ...` through the real program: errors, help, and where ROOT comes from. */
import assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { bucketd, failed, logsIn, misused, newRoot, ok, type Result } from '../helpers/bucketd.js';

test('errors: one line, exit 1; a bad permission word or a wrong call, exit 2', async () => {
  const root = await newRoot();
  await mkdir(path.join(root, 'photos'));
  ok(await bucketd(['user', 'add', 'alice', root], 'pw\n'), /added/);
  // Independent of each other: all at once.
  const checks: Array<[Promise<Result>, (result: Result, message: RegExp) => void, RegExp]> = [
    [bucketd(['user', 'add', 'alice', root], 'other\n'), failed, /^bucketd: user "alice" already exists$/m],
    [bucketd(['user', 'passwd', 'bob', root], 'pw\n'), failed, /^bucketd: no user "bob"$/m],
    [bucketd(['user', 'remove', 'bob', root]), failed, /^bucketd: no user "bob"$/m],
    [bucketd(['user', 'grant', 'bob', 'photos', 'read', root]), failed, /^bucketd: no user "bob"$/m],
    [bucketd(['user', 'add', 'anonymous', root], 'pw\n'), failed, /^bucketd: "anonymous" is reserved/],
    [bucketd(['user', 'add', 'a b', root], 'pw\n'), failed, /^bucketd: user names are/],
    [bucketd(['user', 'grant', 'alice', 'nosuch', 'read', root]), failed, /^bucketd: no bucket "nosuch"/],
    [bucketd(['user', 'grant', 'alice', 'My_Photos', 'read', root]), failed, /^bucketd: bucket names have/],
    [bucketd(['user', 'add', 'bob', root], ''), failed, /^bucketd: no password for "bob" on standard input/],
    [bucketd(['user', 'list', path.join(root, 'nowhere')]), failed, /^bucketd: no folder /],
    [bucketd(['user', 'grant', 'alice', 'photos', 'owner', root]), misused, /^bucketd: "owner" is not a permission/],
    [bucketd(['user', root]), misused, /^bucketd: unknown user command/],
    [bucketd(['user']), misused, /^bucketd: say which user command: add, list, passwd, remove, grant, revoke$/],
    [bucketd(['user', 'add', root, 'extra', 'more']), misused, /^bucketd: too many arguments for add/],
    [bucketd(['user', 'grant', 'alice', root]), misused, /^bucketd: grant needs NAME BUCKET PERMISSION$/],
    [bucketd(['user', 'list', '--admin', root]), misused, /^bucketd: --admin does not go with user list$/],
    [bucketd(['user', 'list', root, '--root', root]), misused, /^bucketd: give ROOT once/],
    [bucketd(['user', 'list', '--port', '1', root]), misused, /^bucketd: unknown option '--port'/],
    [bucketd(['bucket', 'frob', root]), misused, /^bucketd: unknown bucket command "frob"/],
  ];
  for (const [result, check, message] of checks) check(await result, message);
  // Nothing of the failures reached the file.
  ok(await bucketd(['user', 'list', root]), 'alice  create        -\n');
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
