/**
 * Logins and permissions through the real programs: users made with
 * `bucketd user`, logins right and wrong, each grant allowing exactly what
 * it should, no bucket's existence leaked, grants changed while a client is
 * connected, and the anonymous user.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { BucketClient } from '../../src/client/client.js';
import { BucketError } from '../../src/errors.js';
import { bucketd, newRoot } from '../helpers/bucketd.js';
import { eventually } from '../helpers/login.js';
import { RawPeer } from '../helpers/raw.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const PASSWORDS = { alice: 'correct horse battery', bob: 'tr0ub4dor&3', root: 'the admin', nocreate: 'no buckets for me' };

async function rejectsWith(promise: Promise<unknown>, code: string, detail?: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof BucketError, `expected ${code}, got ${String(error)}`);
    assert.equal(error.code, code);
    if (detail !== undefined) assert.equal(error.details[0], detail);
    return true;
  });
}

async function login(port: number, user: keyof typeof PASSWORDS): Promise<BucketClient> {
  return BucketClient.connect({ port, credentials: { user, password: PASSWORDS[user] } });
}

const put = (client: BucketClient, bucket: string, name: string, text: string): Promise<unknown> =>
  client.upload(bucket, name, Readable.from([Buffer.from(text)]), Buffer.byteLength(text));

describe('logins and permissions', () => {
  let root: string;
  let server: RunningServer;

  before(async () => {
    root = await newRoot();
    for (const [user, password] of Object.entries(PASSWORDS)) {
      const extra = user === 'root' ? ['--admin'] : user === 'nocreate' ? ['--no-create'] : [];
      const made = await bucketd(['user', 'add', user, ...extra, '--root', root], `${password}\n`);
      assert.equal(made.code, 0, made.stderr);
    }
    server = await startServer({ root });
  });
  after(async () => {
    await server.stop();
  });

  test('HELLO says a login is required; before one, only HELLO, LIST_BUCKET and EXIT work', async () => {
    const anonymous = await BucketClient.connect({ port: server.port });
    const hello = await anonymous.hello();
    assert.equal(hello.login, 'required');
    assert.deepEqual(hello.mechanisms, ['SCRAM-SHA-256']);
    assert.deepEqual(await anonymous.listBuckets(), []);
    await rejectsWith(anonymous.createBucket('anything'), 'AUTH_REQUIRED');
    await rejectsWith(anonymous.listFiles('anything'), 'AUTH_REQUIRED');
    await anonymous.exit();
  });

  test('a wrong password and an unknown user get the same reply; a right one logs in', async () => {
    const wrong = await RawPeer.connect(server.port);
    const unknown = await RawPeer.connect(server.port);
    const { ScramClient } = await import('../../src/protocol/scram.js');
    const { encodeRequest } = await import('../../src/protocol/requests.js');
    const replies: string[] = [];
    for (const [peer, user] of [
      [wrong, 'alice'],
      [unknown, 'mallory'],
    ] as const) {
      const scram = new ScramClient(user, 'not the password');
      peer.send(encodeRequest({ command: 'LOGIN', mechanism: 'SCRAM-SHA-256', message: scram.firstMessage() }));
      const challenge = await peer.line();
      assert.match(challenge, /^130,r%3D[^,]+%2Cs%3D[A-Za-z0-9%]+%2Ci%3D4096 go on with LOGIN_PROOF$/);
      const serverFirst = decodeURIComponent(challenge.slice(4, challenge.indexOf(' ')));
      peer.send(encodeRequest({ command: 'LOGIN_PROOF', message: scram.finalMessage(serverFirst) }));
      replies.push(await peer.line(10_000));
      peer.close();
    }
    assert.deepEqual(replies, ['401,AUTH_FAILED login failed', '401,AUTH_FAILED login failed']);
    await rejectsWith(BucketClient.connect({ port: server.port, credentials: { user: 'alice', password: 'nope' } }), 'AUTH_FAILED');
    const alice = await login(server.port, 'alice');
    assert.equal(alice.user, 'alice');
    await alice.exit();
  });

  test('the users file holds no password', async () => {
    const file = await readFile(path.join(root, '.bucketd', 'access.json'));
    for (const password of Object.values(PASSWORDS)) assert.equal(file.indexOf(Buffer.from(password)), -1);
  });

  test('a creator administers its bucket; others cannot even tell it exists', async () => {
    const alice = await login(server.port, 'alice');
    const bob = await login(server.port, 'bob');
    await alice.createBucket('alpha');
    await put(alice, 'alpha', 'a.txt', 'from alice');
    assert.deepEqual((await alice.listBuckets()).map((b) => b.name), ['alpha']);
    assert.deepEqual(await bob.listBuckets(), []);
    await rejectsWith(bob.listFiles('alpha'), 'NO_SUCH_BUCKET');
    await rejectsWith(bob.listFiles('nonexistent'), 'NO_SUCH_BUCKET');
    await rejectsWith(put(bob, 'alpha', 'b.txt', 'x'), 'NO_SUCH_BUCKET');
    await rejectsWith(bob.deleteBucket('alpha', { force: true }), 'NO_SUCH_BUCKET');
    await rejectsWith(bob.createBucket('alpha'), 'BUCKET_EXISTS'); // the one way to learn it exists
    // Malformed names keep their own errors, in the documented order.
    await rejectsWith(bob.listFiles('NOT_A_BUCKET'), 'INVALID_BUCKET_NAME');
    await rejectsWith(bob.deleteFile('alpha', '..'), 'INVALID_FILE_NAME');
    await alice.exit();
    await bob.exit();
  });

  test('read allows reading only; write adds changing files; admin adds deleting the bucket', async () => {
    const bob = await login(server.port, 'bob');
    const sink = async (): Promise<void> => {
      const { Writable } = await import('node:stream');
      await bob.download('alpha', 'a.txt', new Writable({ write: (_chunk, _encoding, done) => done() }));
    };
    assert.equal((await bucketd(['user', 'grant', 'bob', 'alpha', 'read', '--root', root])).code, 0);
    // Seen by the running server within a second, on the connection already open.
    await eventually(async () => assert.deepEqual((await bob.listFiles('alpha')).map((f) => f.name), ['a.txt']));
    await sink();
    assert.deepEqual((await bob.listBuckets()).map((b) => b.name), ['alpha']);
    await rejectsWith(put(bob, 'alpha', 'b.txt', 'x'), 'FORBIDDEN', 'write');
    await rejectsWith(bob.deleteFile('alpha', 'a.txt'), 'FORBIDDEN', 'write');
    await rejectsWith(bob.deleteBucket('alpha', { force: true }), 'FORBIDDEN', 'admin');

    assert.equal((await bucketd(['user', 'grant', 'bob', 'alpha', 'write', '--root', root])).code, 0);
    await eventually(() => put(bob, 'alpha', 'b.txt', 'from bob').then(() => undefined));
    await bob.deleteFile('alpha', 'b.txt');
    await rejectsWith(bob.deleteBucket('alpha', { force: true }), 'FORBIDDEN', 'admin');

    assert.equal((await bucketd(['user', 'revoke', 'bob', 'alpha', '--root', root])).code, 0);
    await eventually(() => rejectsWith(bob.listFiles('alpha'), 'NO_SUCH_BUCKET'));
    await bob.exit();
  });

  test('creating needs the create right; a server admin sees and may do everything', async () => {
    const nocreate = await login(server.port, 'nocreate');
    await rejectsWith(nocreate.createBucket('mine'), 'FORBIDDEN', 'create');
    await nocreate.exit();
    const admin = await login(server.port, 'root');
    assert.ok((await admin.listBuckets()).some((b) => b.name === 'alpha'));
    await put(admin, 'alpha', 'by-admin.txt', 'x');
    await admin.createBucket('beta');
    await admin.deleteBucket('beta');
    await admin.exit();
  });

  test('a deleted bucket takes its grants with it', async () => {
    const alice = await login(server.port, 'alice');
    await alice.createBucket('gamma');
    assert.equal((await bucketd(['user', 'grant', 'bob', 'gamma', 'read', '--root', root])).code, 0);
    await alice.deleteBucket('gamma');
    const bob = await login(server.port, 'bob');
    await bob.createBucket('gamma'); // a new bucket of that name: bob's, and only bob's
    await rejectsWith(alice.listFiles('gamma'), 'NO_SUCH_BUCKET');
    await bob.deleteBucket('gamma');
    await alice.exit();
    await bob.exit();
  });

  test('a public bucket: the anonymous user reads it, and must log in for the rest', async () => {
    assert.equal((await bucketd(['user', 'grant', 'anonymous', 'alpha', 'read', '--root', root])).code, 0);
    const anonymous = await BucketClient.connect({ port: server.port });
    await eventually(async () => assert.equal((await anonymous.hello()).login, 'optional'));
    assert.ok((await anonymous.listFiles('alpha')).some((f) => f.name === 'a.txt'));
    await rejectsWith(put(anonymous, 'alpha', 'x.txt', 'x'), 'AUTH_REQUIRED');
    await anonymous.exit();
    assert.equal((await bucketd(['user', 'revoke', 'anonymous', 'alpha', '--root', root])).code, 0);
  });

  test('a removed user is logged out at its next request', async () => {
    assert.equal((await bucketd(['user', 'add', 'temp', '--root', root], 'temporary password\n')).code, 0);
    const temp = await BucketClient.connect({ port: server.port, credentials: { user: 'temp', password: 'temporary password' } });
    await temp.createBucket('temp-bucket');
    assert.equal((await bucketd(['user', 'remove', 'temp', '--root', root])).code, 0);
    await eventually(() => rejectsWith(temp.listFiles('temp-bucket'), 'AUTH_REQUIRED'));
    await temp.close();
  });

  test('bucket from the command line: --user with BUCKET_PASSWORD, and a wrong one in one line', async () => {
    const { runBucket } = await import('../helpers/cli.js');
    const ok = await runBucket(['--port', String(server.port), '--user', 'alice'], 'LIST_BUCKET\nEXIT\n', { env: { BUCKET_PASSWORD: PASSWORDS.alice } });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /alpha/);
    const bad = await runBucket(['--port', String(server.port), '--user', 'alice'], 'LIST_BUCKET\nEXIT\n', { env: { BUCKET_PASSWORD: 'wrong' } });
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr.trim(), 'error: login failed for "alice": wrong user name or password');
    const noPassword = await runBucket(['--port', String(server.port), '--user', 'alice'], 'EXIT\n', { env: { BUCKET_PASSWORD: undefined } });
    assert.equal(noPassword.code, 2);
    assert.match(noPassword.stderr, /BUCKET_PASSWORD/);
  });
});
