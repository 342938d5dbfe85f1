/**
 * The limits around logins: failed logins slow down, connections that never
 * log in are closed, a server with no users stays on loopback unless told,
 * a fake server is caught by the client, and quotas hold under races.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { BucketClient } from '../../src/client/client.js';
import { ClientError } from '../../src/client/errors.js';
import { BucketError } from '../../src/errors.js';
import { encodeTyped, HELLO, LOGGED_IN, LOGIN_CONTINUE } from '../../src/protocol/messages.js';
import { parseRequest } from '../../src/protocol/requests.js';
import { makeVerifier, ScramServer } from '../../src/protocol/scram.js';
import { bucketd, newRoot } from '../helpers/bucketd.js';
import { proofRequest } from '../helpers/login.js';
import { RawPeer } from '../helpers/raw.js';
import { startServer } from '../helpers/server.js';

async function serverWithUser(args: string[] = []): Promise<{ root: string; server: Awaited<ReturnType<typeof startServer>> }> {
  const root = await newRoot();
  const made = await bucketd(['user', 'add', 'alice', '--root', root], 'sesame open\n');
  assert.equal(made.code, 0, made.stderr);
  return { root, server: await startServer({ root, args }) };
}

test('guessing passwords from one address slows down: few guesses fit in a bounded time', async () => {
  const { server } = await serverWithUser();
  try {
    const client = await BucketClient.connect({ port: server.port });
    const deadline = Date.now() + 3000;
    let attempts = 0;
    while (Date.now() < deadline && attempts < 100) {
      attempts++;
      await assert.rejects(client.login('alice', `guess ${attempts}`), (error: unknown) => error instanceof BucketError && error.code === 'AUTH_FAILED');
    }
    // Delays of 0.25, 0.5, 1 and 2 s: about four guesses in three seconds,
    // where an unthrottled server answers hundreds.
    assert.ok(attempts <= 6, `${attempts} guesses in 3 s`);
    assert.match(server.stderr(), /login failed .*peer=127\.0\.0\.1/);
    await client.exit();
  } finally {
    await server.stop();
  }
});

test('a connection that does not log in where a login is required is closed', async () => {
  const { server } = await serverWithUser(['--auth-timeout', '0.5']);
  try {
    const peer = await RawPeer.connect(server.port);
    peer.send('HELLO\n');
    assert.match(await peer.line(), /^200,bucketd,[^,]+,5,required,SCRAM-SHA-256 /);
    assert.match(await peer.line(3000), /^401,AUTH_TIMEOUT /);
    await peer.closedByPeer();
    // A client that logs in in time stays.
    const alice = await BucketClient.connect({ port: server.port, credentials: { user: 'alice', password: 'sesame open' } });
    await new Promise((resolve) => setTimeout(resolve, 800));
    assert.equal((await alice.hello()).name, 'bucketd');
    await alice.exit();
  } finally {
    await server.stop();
  }
});

test('a body declared before a login does not keep a connection past its login deadline', async () => {
  const { server } = await serverWithUser(['--auth-timeout', '1']);
  try {
    const peer = await RawPeer.connect(server.port);
    // An upload sent at once, refused (no login): its 1 GiB body would be read and dropped.
    peer.send(`UPLOAD_FILE,box,big.bin,${1024 ** 3},${'0'.repeat(64)}\n`);
    assert.match(await peer.line(), /^401,AUTH_REQUIRED /);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    const started = Date.now();
    // Fast enough for any minimum rate; bounded, so that the test ends either way.
    while (!peer.closed && Date.now() - started < 8000) {
      peer.send(chunk);
      sent += chunk.length;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.ok(peer.closed, `still open after ${sent} bytes and ${Date.now() - started} ms`);
    assert.match(peer.rest().toString(), /^401,AUTH_TIMEOUT /);
  } finally {
    await server.stop();
  }
});

test('with no users, bucketd listens beyond loopback only when told --allow-anonymous', async () => {
  const root = await newRoot();
  const refused = await bucketd(['--port', '0', '--host', '0.0.0.0', root]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /refusing to listen on 0\.0\.0\.0 with no users/);
  assert.equal(refused.stderr.trim().split('\n').length, 1);
  const allowed = await startServer({ root, args: ['--host', '0.0.0.0', '--allow-anonymous', '--log-level', 'warn'] });
  assert.match(allowed.stderr(), /no users on a non-loopback address/);
  await allowed.stop();
  assert.equal((await bucketd(['user', 'add', 'alice', '--root', root], 'sesame open\n')).code, 0);
  const withUsers = await startServer({ root, args: ['--host', '0.0.0.0'] });
  await withUsers.stop();
});

test('a fake server that cannot prove the password is caught, and the connection closed', async () => {
  // It plays the login with a verifier of another password: its proof is wrong.
  const fakeVerifier = makeVerifier('not the real one');
  const fake = net.createServer((socket) => {
    let scram: ScramServer | undefined;
    let buffer = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (let lf = buffer.indexOf('\n'); lf >= 0; lf = buffer.indexOf('\n')) {
        const parsed = parseRequest(Buffer.from(buffer.slice(0, lf), 'latin1'));
        buffer = buffer.slice(lf + 1);
        if (!parsed.ok) continue;
        const request = parsed.value;
        if (request.command === 'HELLO') socket.write(encodeTyped(HELLO, { name: 'bucketd', version: '9', protocol: 2, login: 'required', mechanisms: ['SCRAM-SHA-256'] }));
        if (request.command === 'LOGIN') {
          scram = new ScramServer(() => fakeVerifier, () => fakeVerifier);
          socket.write(encodeTyped(LOGIN_CONTINUE, { message: scram.start(request.message) }));
        }
        if (request.command === 'LOGIN_PROOF') {
          // A fake that says yes whatever the proof, with a signature it cannot make right.
          socket.write(encodeTyped(LOGGED_IN, { user: 'alice', message: `v=${Buffer.alloc(32, 7).toString('base64')}` }));
        }
      }
    });
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  const port = (fake.address() as net.AddressInfo).port;
  try {
    await assert.rejects(BucketClient.connect({ port, credentials: { user: 'alice', password: 'sesame open' } }), (error: unknown) => {
      assert.ok(error instanceof ClientError);
      assert.equal(error.code, 'SERVER_NOT_TRUSTED');
      return true;
    });
  } finally {
    fake.close();
  }
});

test('a quota holds under racing uploads: of two that fit only one at a time, one is refused before it sends', async () => {
  const { root, server } = await serverWithUser();
  try {
    const alice = await BucketClient.connect({ port: server.port, credentials: { user: 'alice', password: 'sesame open' } });
    await alice.createBucket('limited');
    assert.equal((await bucketd(['bucket', 'quota', 'limited', '10K', '--root', root])).code, 0);
    await alice.upload('limited', 'first.bin', Readable.from([Buffer.alloc(1000)]), 1000);
    // The running server sees the new quota within a second.
    let info = await alice.bucketInfo('limited');
    for (let i = 0; i < 50 && info.quota === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      info = await alice.bucketInfo('limited');
    }
    assert.deepEqual(info, { bucket: 'limited', files: 1, bytes: 1000, quota: 10240 });
    // Two raw uploads declared at once, before either sends a byte: 6,000 + 6,000 > 9,240 left.
    const { encodeRequest } = await import('../../src/protocol/requests.js');
    const { ScramClient } = await import('../../src/protocol/scram.js');
    const peers: RawPeer[] = [];
    for (let i = 0; i < 2; i++) {
      const peer = await RawPeer.connect(server.port);
      const scram = new ScramClient('alice', 'sesame open');
      peer.send(encodeRequest({ command: 'LOGIN', mechanism: 'SCRAM-SHA-256', message: scram.firstMessage() }));
      const challenge = await peer.line();
      peer.send(proofRequest(scram, challenge));
      assert.match(await peer.line(), /^200,alice,/);
      peers.push(peer);
    }
    for (const peer of peers) peer.send('UPLOAD_FILE,limited,racer.bin,6000\n');
    const answers = await Promise.all(peers.map((peer) => peer.line()));
    const goAhead = answers.filter((line) => line.startsWith('150,'));
    const refused = answers.filter((line) => line.startsWith('413,QUOTA_EXCEEDED,'));
    assert.equal(goAhead.length, 1, answers.join('\n'));
    assert.equal(refused.length, 1, answers.join('\n'));
    assert.match(refused[0]!, /^413,QUOTA_EXCEEDED,3240 /);
    for (const peer of peers) peer.close();
    // Nothing half-stored, and the quota counted what is there.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await assert.rejects(alice.upload('limited', 'too-big.bin', Readable.from([Buffer.alloc(9300)]), 9300), (error: unknown) => error instanceof BucketError && error.code === 'QUOTA_EXCEEDED' && error.details[0] === '9240');
    await alice.upload('limited', 'fits.bin', Readable.from([Buffer.alloc(9240)]), 9240);
    assert.deepEqual((await alice.listFiles('limited')).map((f) => f.name), ['first.bin', 'fits.bin']);
    await alice.exit();
  } finally {
    await server.stop();
  }
});
