/**
 * The edges of trust, each once a hole: the last user removed, a quota read
 * racing a commit, a failed re-login, guesses spread over connections, an
 * auth deadline kept busy, public buckets for logged-in users, a quota
 * outliving its bucket, sessions outliving a password, and GRANT.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'node:test';
import { BucketClient } from '../../src/client/client.js';
import { BucketError } from '../../src/errors.js';
import { encodeRequest } from '../../src/protocol/requests.js';
import { ScramClient } from '../../src/protocol/scram.js';
import { QuotaKeeper } from '../../src/server/auth/quotas.js';
import { FsStorage } from '../../src/storage/fs/fs-storage.js';
import { bucketd, newRoot } from '../helpers/bucketd.js';
import { eventually, proofRequest } from '../helpers/login.js';
import { RawPeer } from '../helpers/raw.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

const PASSWORDS: Record<string, string> = { alice: 'sesame open', bob: 'tr0ub4dor&3' };

async function serverWith(users: string[], args: string[] = []): Promise<{ root: string; server: RunningServer }> {
  const root = await newRoot();
  for (const user of users) {
    const made = await bucketd(['user', 'add', user, '--root', root], `${PASSWORDS[user]}\n`);
    assert.equal(made.code, 0, made.stderr);
  }
  return { root, server: await startServer({ root, args }) };
}

const login = (port: number, user: string, password = PASSWORDS[user]!): Promise<BucketClient> => BucketClient.connect({ port, credentials: { user, password } });

function isCode(code: string): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.equal((error as { code?: string }).code, code, String(error));
    return true;
  };
}

const put = (client: BucketClient, bucket: string, name: string, text: string): Promise<unknown> =>
  client.upload(bucket, name, Readable.from([Buffer.from(text)]), Buffer.byteLength(text));

test('removing the last user does not open the running server to everyone', async () => {
  const { root, server } = await serverWith(['alice']);
  try {
    const alice = await login(server.port, 'alice');
    await alice.createBucket('photos');
    await alice.exit();
    assert.equal((await bucketd(['user', 'remove', 'alice', '--root', root])).code, 0);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // the server has seen the change
    const anonymous = await BucketClient.connect({ port: server.port });
    assert.equal((await anonymous.hello()).login, 'required');
    await assert.rejects(anonymous.listFiles('photos'), isCode('AUTH_REQUIRED'));
    await assert.rejects(anonymous.createBucket('other'), isCode('AUTH_REQUIRED'));
    assert.deepEqual(await anonymous.listBuckets(), []);
    await anonymous.exit();
  } finally {
    await server.stop();
  }
});

test('a file stored while a quota reads the usage is counted, and the usage is read again', async () => {
  const base = await tempDir();
  const storage = await FsStorage.open(path.join(base, 'root'));
  try {
    await storage.createBucket('box');
    const sink = await storage.startUpload('box', 'a.bin', 100);
    await sink.write(Buffer.alloc(100));
    const { createHash } = await import('node:crypto');
    await sink.commit(createHash('sha256').update(Buffer.alloc(100)).digest('hex'));
    const keeper = new QuotaKeeper(storage, { quota: () => 1000 });
    const reading = keeper.usage('box');
    keeper.stored('box', 50); // committed while the listing is read: it may not be in it
    const during = await reading;
    assert.deepEqual([during.files, during.bytes], [2, 150]);
    // Read again next time, from what the storage holds (the 50 were never written here).
    const again = await keeper.usage('box');
    assert.deepEqual([again.files, again.bytes], [1, 100]);
  } finally {
    await storage.close();
    await rm(base, { recursive: true, force: true });
  }
});

test('a client whose login fails on reconnecting does not go on without it', async () => {
  const { root, server } = await serverWith(['alice']);
  try {
    const alice = await login(server.port, 'alice');
    await alice.createBucket('box');
    assert.equal((await bucketd(['user', 'passwd', 'alice', '--root', root], 'a new password\n')).code, 0);
    // A cancelled upload makes the client open a fresh connection next time.
    const source = new PassThrough();
    source.write(Buffer.alloc(1000));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    await assert.rejects(alice.upload('box', 'quiet.bin', source, 1_000_000, { signal: controller.signal }), isCode('CANCELLED'));
    // The old password no longer logs in: each call says so, none runs anonymously.
    await assert.rejects(alice.listFiles('box'), isCode('AUTH_FAILED'));
    await assert.rejects(alice.listBuckets(), isCode('AUTH_FAILED'));
    alice.close();
  } finally {
    await server.stop();
  }
});

test('guesses spread over parallel connections still take turns', async () => {
  const { server } = await serverWith(['alice']);
  try {
    const clients = await Promise.all(Array.from({ length: 8 }, () => BucketClient.connect({ port: server.port })));
    let attempts = 0;
    const deadline = Date.now() + 3000;
    await Promise.all(
      clients.map(async (client, index) => {
        while (Date.now() < deadline && attempts < 200) {
          attempts++;
          await assert.rejects(client.login('alice', `guess ${index}-${attempts}`), isCode('AUTH_FAILED'));
        }
      }),
    );
    // One connection gets about four guesses in three seconds; eight together
    // must not get eight times as many (unthrottled, they get hundreds).
    assert.ok(attempts <= 16, `${attempts} guesses in 3 s over 8 connections`);
    for (const client of clients) client.close();
  } finally {
    await server.stop();
  }
});

test('failing logins back to back do not hold off the auth deadline', async () => {
  const { server } = await serverWith(['alice'], ['--auth-timeout', '1']);
  try {
    const peer = await RawPeer.connect(server.port);
    const started = Date.now();
    let closedWith: string | undefined;
    while (Date.now() - started < 15_000 && closedWith === undefined) {
      const scram = new ScramClient('alice', 'wrong');
      peer.send(encodeRequest({ command: 'LOGIN', mechanism: 'SCRAM-SHA-256', message: scram.firstMessage() }));
      const challenge = await peer.line(10_000).catch(() => 'closed');
      if (!challenge.startsWith('130,')) {
        closedWith = challenge;
        break;
      }
      peer.send(proofRequest(scram, challenge));
      const answer = await peer.line(10_000).catch(() => 'closed');
      if (!answer.startsWith('401,AUTH_FAILED')) closedWith = answer;
    }
    assert.ok(closedWith !== undefined, 'the connection was never closed');
    assert.match(closedWith, /^401,AUTH_TIMEOUT /);
    // The deadline, plus at most the request running when it passed (a
    // failure's delay is capped at a few seconds).
    assert.ok(Date.now() - started < 7000, `closed after ${Date.now() - started} ms`);
  } finally {
    await server.stop();
  }
});

test('a logged-in user may do what the anonymous user may: public buckets stay visible', async () => {
  const { server } = await serverWith(['alice', 'bob']);
  try {
    const alice = await login(server.port, 'alice');
    await alice.createBucket('public');
    await put(alice, 'public', 'readme.txt', 'hello');
    await alice.grant('public', 'anonymous', 'read');
    const bob = await login(server.port, 'bob');
    assert.deepEqual((await bob.listBuckets()).map((bucket) => bucket.name), ['public']);
    assert.deepEqual((await bob.listFiles('public')).map((file) => file.name), ['readme.txt']);
    await assert.rejects(put(bob, 'public', 'mine.txt', 'x'), isCode('FORBIDDEN'));
    // A grant of its own adds to what anonymous may.
    await alice.grant('public', 'bob', 'write');
    await put(bob, 'public', 'mine.txt', 'x');
    await Promise.all([alice.exit(), bob.exit()]);
  } finally {
    await server.stop();
  }
});

test("a bucket's quota, set by the operator, outlives the bucket", async () => {
  const { root, server } = await serverWith(['alice']);
  try {
    const alice = await login(server.port, 'alice');
    await alice.createBucket('photos');
    assert.equal((await bucketd(['bucket', 'quota', 'photos', '10', '--root', root])).code, 0);
    await eventually(async () => assert.equal((await alice.bucketInfo('photos')).quota, 10));
    await alice.deleteBucket('photos');
    await alice.createBucket('photos');
    assert.equal((await alice.bucketInfo('photos')).quota, 10);
    await assert.rejects(put(alice, 'photos', 'big.txt', 'more than ten bytes'), isCode('QUOTA_EXCEEDED'));
    await alice.exit();
  } finally {
    await server.stop();
  }
});

test('a changed password logs out sessions; a new LOGIN logs out until it succeeds', async () => {
  const { root, server } = await serverWith(['alice']);
  try {
    const alice = await login(server.port, 'alice');
    await alice.createBucket('box');
    assert.equal((await bucketd(['user', 'passwd', 'alice', '--root', root], 'a new password\n')).code, 0);
    await eventually(() => assert.rejects(alice.listFiles('box'), isCode('AUTH_REQUIRED')));
    alice.close();

    const again = await login(server.port, 'alice', 'a new password');
    assert.deepEqual(await again.listFiles('box'), []);
    again.close();

    const peer = await RawPeer.connect(server.port);
    const scram = new ScramClient('alice', 'a new password');
    peer.send(encodeRequest({ command: 'LOGIN', mechanism: 'SCRAM-SHA-256', message: scram.firstMessage() }));
    const challenge = await peer.line();
    peer.send(proofRequest(scram, challenge));
    assert.match(await peer.line(), /^200,alice,/);
    peer.send('LIST_FILE,box\n');
    assert.match(await peer.line(), /^200,0 /);
    peer.send(encodeRequest({ command: 'LOGIN', mechanism: 'SCRAM-SHA-256', message: new ScramClient('alice', 'x').firstMessage() }));
    assert.match(await peer.line(), /^130,/);
    peer.send('LIST_FILE,box\n');
    assert.match(await peer.line(), /^401,AUTH_REQUIRED /);
    peer.socket.destroy();
  } finally {
    await server.stop();
  }
});

test("GRANT: a bucket's admin grants others, no one else may, and the checks hold", async () => {
  const { server } = await serverWith(['alice', 'bob']);
  try {
    const alice = await login(server.port, 'alice');
    const bob = await login(server.port, 'bob');
    await alice.createBucket('team');
    await assert.rejects(bob.grant('team', 'bob', 'admin'), isCode('NO_SUCH_BUCKET')); // no grant: not even there
    await alice.grant('team', 'bob', 'write');
    await put(bob, 'team', 'notes.txt', 'hi');
    await assert.rejects(bob.grant('team', 'bob', 'admin'), (error: unknown) => {
      assert.ok(error instanceof BucketError);
      assert.equal(error.code, 'FORBIDDEN');
      assert.deepEqual(error.details, ['admin']);
      return true;
    });
    await assert.rejects(bob.deleteBucket('team', { force: true }), isCode('FORBIDDEN'));
    await alice.grant('team', 'bob', 'admin');
    await bob.grant('team', 'alice', 'read'); // an admin may lower another admin
    await assert.rejects(put(alice, 'team', 'x.txt', 'x'), isCode('FORBIDDEN'));
    await bob.grant('team', 'alice', 'admin');
    await alice.grant('team', 'bob', 'none');
    await assert.rejects(bob.listFiles('team'), isCode('NO_SUCH_BUCKET'));
    await assert.rejects(alice.grant('team', 'carol', 'read'), isCode('NO_SUCH_USER'));
    await assert.rejects(alice.grant('team', 'not a name', 'read'), isCode('INVALID_USER_NAME'));
    await assert.rejects(alice.grant('nosuch', 'bob', 'read'), isCode('NO_SUCH_BUCKET'));
    await Promise.all([alice.exit(), bob.exit()]);
  } finally {
    await server.stop();
  }

  const open = await startServer();
  try {
    const client = await BucketClient.connect({ port: open.port });
    await client.createBucket('box');
    await assert.rejects(client.grant('box', 'anonymous', 'read'), isCode('FORBIDDEN'));
    await client.exit();
  } finally {
    await open.stop();
  }
});
