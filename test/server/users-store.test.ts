/** The access file: what it holds, how it is written, and how changes from other processes arrive. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { BucketError } from '../../src/errors.js';
import { makeVerifier, ScramError } from '../../src/protocol/scram.js';
import { ACCESS_FILE, AccessFileError, ANONYMOUS, UserStore } from '../../src/server/users/index.js';
import { tempDir } from '../helpers/server.js';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A fresh ROOT/.bucketd. */
async function hiddenDir(): Promise<string> {
  const root = await tempDir('bucketd-users-');
  dirs.push(root);
  return path.join(root, '.bucketd');
}

const stores: UserStore[] = [];
after(() => stores.forEach((store) => store.close()));
async function openStore(dir: string, options: Parameters<typeof UserStore.open>[1] = { pollMs: 0 }): Promise<UserStore> {
  const store = await UserStore.open(dir, options);
  stores.push(store);
  return store;
}

const codeOf = (code: string) => (error: unknown) => error instanceof BucketError && error.code === code;

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return Date.now() - start;
}

test('no file: no users, anonymous has nothing, and reading writes nothing', async () => {
  const dir = await hiddenDir();
  const store = await openStore(dir);
  assert.equal(store.hasUsers, false);
  assert.equal(store.grantsOf(undefined).size, 0);
  assert.equal(store.user('alice'), undefined);
  assert.equal(store.decoySecret.length, 32);
  await store.forgetBucket('photos');
  assert.deepEqual(await readdir(dir), ['tmp'], 'no access file made for nothing');
});

test('users, grants and quotas: added, changed and removed', async () => {
  const store = await openStore(await hiddenDir());
  await store.addUser('alice', 'wonderland');
  await store.addUser('root@example.com', 'x', { admin: true, canCreate: false });
  assert.equal(store.hasUsers, true);
  const alice = store.user('alice')!;
  assert.deepEqual({ ...alice, scram: undefined, createdAt: undefined }, { name: 'alice', admin: false, canCreate: true, scram: undefined, grants: {}, createdAt: undefined });
  assert.ok(!Number.isNaN(Date.parse(alice.createdAt)));
  assert.equal(alice.scram.iterations, 4096);
  assert.deepEqual(
    store.listUsers().map((user) => [user.name, user.admin, user.canCreate]),
    [
      ['alice', false, true],
      ['root@example.com', true, false],
    ],
  );

  await store.grant('alice', 'photos', 'write');
  await store.grant('alice', 'docs', 'read');
  await store.grant('alice', 'photos', 'admin');
  await store.grant(ANONYMOUS, 'public', 'read');
  assert.deepEqual([...store.grantsOf('alice')].sort(), [
    ['docs', 'read'],
    ['photos', 'admin'],
  ]);
  assert.deepEqual(store.user('alice')!.grants, { docs: 'read', photos: 'admin' });
  assert.deepEqual([...store.grantsOf(undefined)], [['public', 'read']]);
  assert.deepEqual([...store.grantsOf(ANONYMOUS)], [['public', 'read']]);
  assert.equal(store.grantsOf('nobody').size, 0);
  assert.equal(store.permissionOn('alice', 'photos'), 'admin');
  assert.equal(store.permissionOn('alice', 'public'), undefined);
  assert.equal(store.permissionOn(undefined, 'public'), 'read');
  assert.equal(store.permissionOn('root@example.com', 'anything'), 'admin', 'a server admin holds every bucket');

  assert.equal(await store.revoke('alice', 'docs'), true);
  assert.equal(await store.revoke('alice', 'docs'), false);
  assert.deepEqual([...store.grantsOf('alice')], [['photos', 'admin']]);

  await store.setQuota('photos', 10 * 1024 ** 3);
  assert.equal(store.quota('photos'), 10 * 1024 ** 3);
  await store.setQuota('photos', undefined);
  assert.equal(store.quota('photos'), undefined);

  await store.setQuota('photos', 5);
  await store.grant(ANONYMOUS, 'photos', 'read');
  await store.forgetBucket('photos');
  assert.equal(store.quota('photos'), undefined);
  assert.equal(store.grantsOf('alice').size, 0);
  assert.deepEqual([...store.grantsOf(undefined)], [['public', 'read']]);

  const oldScram = store.user('alice')!.scram;
  await store.setPassword('alice', 'looking-glass');
  assert.notDeepEqual(store.user('alice')!.scram, oldScram);
  await store.setRights('alice', { admin: true });
  assert.equal(store.user('alice')!.admin, true);

  await store.removeUser('alice');
  assert.equal(store.user('alice'), undefined);
  await store.removeUser('root@example.com');
  assert.equal(store.hasUsers, false);
});

test('refusals carry stable codes', async () => {
  const store = await openStore(await hiddenDir());
  await store.addUser('alice', 'pw');
  await assert.rejects(store.addUser('alice', 'other'), codeOf('USER_EXISTS'));
  for (const name of ['', 'anonymous', 'Anonymous', 'a b', 'a/b', 'x'.repeat(65), 'é']) {
    await assert.rejects(store.addUser(name, 'pw'), codeOf('INVALID_USER_NAME'), JSON.stringify(name));
  }
  await store.addUser('x'.repeat(64), 'pw');
  await assert.rejects(store.setPassword('bob', 'pw'), codeOf('NO_SUCH_USER'));
  await assert.rejects(store.removeUser('bob'), codeOf('NO_SUCH_USER'));
  await assert.rejects(store.removeUser(ANONYMOUS), codeOf('INVALID_USER_NAME'));
  await assert.rejects(store.grant('bob', 'photos', 'read'), codeOf('NO_SUCH_USER'));
  await assert.rejects(store.revoke('bob', 'photos'), codeOf('NO_SUCH_USER'));
  await assert.rejects(store.grant('alice', 'My_Photos', 'read'), codeOf('INVALID_BUCKET_NAME'));
  await assert.rejects(store.grant('alice', 'photos', 'owner' as 'read'), codeOf('BAD_FIELD'));
  await assert.rejects(store.setQuota('photos', -1), codeOf('BAD_FIELD'));
  await assert.rejects(store.setQuota('photos', 1.5), codeOf('BAD_FIELD'));
  await assert.rejects(store.addUser('bob', ''), (error: unknown) => error instanceof ScramError);
  assert.equal(store.user('bob'), undefined);
});

test('the file: mode 0600, verifiers only, never the password', async () => {
  const dir = await hiddenDir();
  const store = await openStore(dir);
  const password = 'Tr0ub4dor&3-pässwörd-🔑';
  await store.addUser('alice', password);
  await store.setPassword('alice', `${password}!`);
  await store.addUser('bob', password);
  const file = path.join(dir, ACCESS_FILE);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const bytes = await readFile(file);
  for (const secret of [password, `${password}!`]) {
    assert.equal(bytes.includes(Buffer.from(secret, 'utf8')), false);
    assert.equal(bytes.includes(Buffer.from(secret, 'utf8').toString('base64')), false);
    assert.equal(bytes.includes(Buffer.from(secret, 'utf8').toString('hex')), false);
  }
  const json = JSON.parse(bytes.toString('utf8'));
  assert.deepEqual(Object.keys(json.users[0].scram).sort(), ['iterations', 'salt', 'serverKey', 'storedKey']);
  assert.deepEqual(await readdir(path.join(dir, 'tmp')), [], 'no temporary file left');
});

test('writes are atomic: a reader never sees a partial file, and each write is a new file', async () => {
  const dir = await hiddenDir();
  const file = path.join(dir, ACCESS_FILE);
  const store = await openStore(dir);
  await store.addUser('first', 'pw');
  const inodes = new Set<number>();
  let reads = 0;
  let writing = true;
  const reader = (async () => {
    while (writing) {
      const text = await readFile(file, 'utf8');
      JSON.parse(text); // throws on a torn file
      inodes.add((await stat(file)).ino);
      reads++;
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  for (let i = 0; i < 40; i++) await store.grant('first', `bucket-${i}`, 'read');
  writing = false;
  await reader;
  assert.ok(reads > 0);
  assert.equal(store.grantsOf('first').size, 40);
  assert.ok(inodes.size > 1, 'the file is replaced, not rewritten in place');
});

test('the decoy secret is made once and kept in the file', async () => {
  const dir = await hiddenDir();
  const store = await openStore(dir);
  await store.addUser('alice', 'pw');
  const secret = Buffer.from(store.decoySecret);
  assert.deepEqual((await openStore(dir)).decoySecret, secret);
  await store.removeUser('alice');
  assert.deepEqual((await openStore(dir)).decoySecret, secret);
});

test('a link in place of the file, or of .bucketd/tmp, is refused and never followed', async () => {
  const dir = await hiddenDir();
  await mkdir(dir);
  const elsewhere = path.join(path.dirname(dir), 'elsewhere.json');
  await writeFile(elsewhere, 'do not touch');
  await symlink(elsewhere, path.join(dir, ACCESS_FILE));
  await assert.rejects(UserStore.open(dir, { pollMs: 0 }), (error: unknown) => error instanceof AccessFileError && /symbolic link/.test(error.message));

  await unlink(path.join(dir, ACCESS_FILE));
  const store = await openStore(dir);
  await store.addUser('alice', 'pw');
  // Planted after the store opened: the next change refuses it.
  await rm(path.join(dir, ACCESS_FILE));
  await symlink(elsewhere, path.join(dir, ACCESS_FILE));
  await assert.rejects(store.addUser('bob', 'pw'), AccessFileError);
  assert.equal(await readFile(elsewhere, 'utf8'), 'do not touch');
  assert.ok((await lstat(path.join(dir, ACCESS_FILE))).isSymbolicLink());
  assert.deepEqual(await readdir(path.join(dir, 'tmp')), []);

  const other = await hiddenDir();
  await mkdir(other);
  await symlink(path.dirname(elsewhere), path.join(other, 'tmp'));
  await assert.rejects(UserStore.open(other, { pollMs: 0 }), AccessFileError);
});

test('a change from another store (another process) is seen within the poll interval', async () => {
  const dir = await hiddenDir();
  let reloads = 0;
  const errors: Error[] = [];
  const server = await openStore(dir, { pollMs: 50, onReload: () => reloads++, onError: (error) => errors.push(error) });
  const cli = await openStore(dir);
  await cli.addUser('alice', 'pw');
  const waited = await waitFor(() => server.user('alice') !== undefined, 1000);
  assert.ok(waited < 1000);
  assert.equal(reloads, 1);
  assert.deepEqual(server.decoySecret, cli.decoySecret, 'the secret written by the first change is the one everyone uses');
  await cli.grant('alice', 'photos', 'read');
  await waitFor(() => server.grantsOf('alice').get('photos') === 'read', 1000);
  // Its own changes do not count as reloads.
  await server.grant(ANONYMOUS, 'public', 'read');
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.equal(reloads, 2);

  // A file broken by hand, or removed, is reported; what was read stays.
  await writeFile(path.join(dir, ACCESS_FILE), '{"version": 1, "users": ');
  await waitFor(() => errors.length > 0, 1000);
  assert.ok(errors[0] instanceof AccessFileError);
  assert.ok(server.user('alice'));
  await unlink(path.join(dir, ACCESS_FILE));
  await waitFor(() => errors.length > 1, 1000);
  assert.ok(server.user('alice'));
  assert.equal(server.grantsOf(undefined).get('public'), 'read');
});

test('an invalid file stops the open, with the reason', async () => {
  const dir = await hiddenDir();
  await mkdir(dir);
  const file = path.join(dir, ACCESS_FILE);
  const valid = { version: 1, decoySecret: Buffer.alloc(32).toString('base64'), users: [], anonymous: { grants: {} }, quotas: {} };
  const user = { name: 'alice', admin: false, canCreate: true, createdAt: new Date().toISOString(), scram: makeVerifier('pw'), grants: {} };
  const rows: Array<[string, unknown]> = [
    ['not JSON', 'nope'],
    ['version 2', { ...valid, version: 2 }],
    ['a short secret', { ...valid, decoySecret: 'AAAA' }],
    ['a bad user name', { ...valid, users: [{ ...user, name: 'anonymous' }] }],
    ['a user twice', { ...valid, users: [user, user] }],
    ['too few iterations', { ...valid, users: [{ ...user, scram: { ...user.scram, iterations: 1000 } }] }],
    ['a password', { ...valid, users: [{ ...user, scram: undefined, password: 'pw' }] }],
    ['a bad permission', { ...valid, users: [{ ...user, grants: { photos: 'owner' } }] }],
    ['a bad bucket', { ...valid, anonymous: { grants: JSON.parse('{"__proto__": "read"}') } }],
    ['a bad quota', { ...valid, quotas: { photos: -1 } }],
  ];
  for (const [what, content] of rows) {
    await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
    await assert.rejects(UserStore.open(dir, { pollMs: 0 }), AccessFileError, what);
  }
  await writeFile(file, JSON.stringify({ ...valid, users: [user] }));
  assert.ok((await openStore(dir)).user('alice'));
});

/** Runs a child node process that adds `count` users named prefix0.. to the store. */
function addUsersInChild(dir: string, prefix: string, count: number): Promise<void> {
  const store = new URL('../../src/server/users/index.js', import.meta.url).href;
  const script = `
    const { UserStore } = await import(${JSON.stringify(store)});
    const store = await UserStore.open(${JSON.stringify(dir)}, { pollMs: 0 });
    for (let i = 0; i < ${count}; i++) {
      await store.addUser(${JSON.stringify(prefix)} + i, 'pw');
      await store.grant(${JSON.stringify(prefix)} + i, 'shared', 'read');
    }
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child exited ${code}: ${stderr}`))));
  });
}

test('two processes adding users at once lose none', async () => {
  const dir = await hiddenDir();
  await mkdir(dir);
  await Promise.all([addUsersInChild(dir, 'a', 25), addUsersInChild(dir, 'b', 25), addUsersInChild(dir, 'c', 25)]);
  const store = await openStore(dir);
  assert.equal(store.listUsers().length, 75);
  for (const prefix of ['a', 'b', 'c']) {
    for (let i = 0; i < 25; i++) assert.equal(store.grantsOf(`${prefix}${i}`).get('shared'), 'read', `${prefix}${i}`);
  }
  assert.deepEqual((await readdir(dir)).sort(), [ACCESS_FILE, 'tmp'], 'no lock or temporary file left behind');
});

test('two stores in one process interleaving changes lose none', async () => {
  const dir = await hiddenDir();
  const [one, two] = [await openStore(dir), await openStore(dir)];
  await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? one : two).addUser(`u${i}`, 'pw')));
  assert.equal((await openStore(dir)).listUsers().length, 20);
});
