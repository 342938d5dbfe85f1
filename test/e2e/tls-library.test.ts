/**
 * The client library over TLS against the real bucketd: files go up and
 * down verified inside TLS; a certificate nobody vouches for, or one for
 * another host, is refused with TLS_UNTRUSTED; `insecure` connects anyway;
 * a connection reopened after a cancelled transfer speaks TLS again.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { BucketClient, ClientError, downloadFile, uploadFile, type ClientErrorCode } from '../../src/client/index.js';
import { certificatesOrSkip } from '../helpers/certs.js';
import { startServer, tempDir } from '../helpers/server.js';

async function refusedWith(promise: Promise<unknown>, code: ClientErrorCode): Promise<ClientError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ClientError, String(error));
    assert.equal(error.code, code, error.message);
    assert.doesNotMatch(error.message, /\n/);
    return error;
  }
  assert.fail(`expected ${code}`);
}

test('files go up and down through TLS, checked against the given CA', async (t) => {
  const certs = await certificatesOrSkip(t);
  if (!certs) return;
  const server = await startServer({ args: ['--tls-cert', certs.server.cert, '--tls-key', certs.server.key] });
  const work = await tempDir();
  try {
    const ca = await readFile(certs.ca);
    const client = await BucketClient.connect({ port: server.port, tls: { ca } });
    await client.createBucket('secret');
    const data = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(path.join(work, 'data.bin'), data);
    const stored = await uploadFile(client, path.join(work, 'data.bin'), 'secret');
    assert.equal(stored.size, data.length);
    await downloadFile(client, 'secret', 'data.bin', path.join(work, 'copy.bin'));
    assert.ok((await readFile(path.join(work, 'copy.bin'))).equals(data));
    await client.exit();
    // By host name too: the certificate names localhost.
    const byName = await BucketClient.connect({ host: 'localhost', port: server.port, tls: { ca } });
    assert.equal((await byName.listFiles('secret'))[0]?.name, 'data.bin');
    await byName.exit();
  } finally {
    assert.equal(await server.stop(), 0);
    await rm(work, { recursive: true, force: true });
  }
});

test('an untrusted or misnamed certificate is refused in one line; insecure connects anyway', async (t) => {
  const certs = await certificatesOrSkip(t);
  if (!certs) return;
  const untrusted = await startServer({ args: ['--tls-cert', certs.untrusted.cert, '--tls-key', certs.untrusted.key] });
  const elsewhere = await startServer({ args: ['--tls-cert', certs.otherHost.cert, '--tls-key', certs.otherHost.key] });
  try {
    const ca = await readFile(certs.ca);
    const selfSigned = await refusedWith(BucketClient.connect({ port: untrusted.port, tls: { ca } }), 'TLS_UNTRUSTED');
    assert.match(selfSigned.message, /not trusted \(self-signed certificate\)/);
    // Against the system's CAs, our test CA is nobody.
    await refusedWith(BucketClient.connect({ port: untrusted.port, tls: true }), 'TLS_UNTRUSTED');
    const misnamed = await refusedWith(BucketClient.connect({ port: elsewhere.port, tls: { ca } }), 'TLS_UNTRUSTED');
    assert.match(misnamed.message, /not for this host \(it names DNS:elsewhere\.example\)/);
    // The name the certificate carries makes it good.
    const named = await BucketClient.connect({ port: elsewhere.port, tls: { ca, servername: 'elsewhere.example' } });
    assert.equal((await named.hello()).name, 'bucketd');
    await named.exit();
    const insecure = await BucketClient.connect({ port: untrusted.port, tls: { insecure: true } });
    assert.equal((await insecure.hello()).name, 'bucketd');
    await insecure.exit();
  } finally {
    assert.equal(await untrusted.stop(), 0);
    assert.equal(await elsewhere.stop(), 0);
  }
});

test('after a cancelled transfer the client reconnects with the same TLS options', async (t) => {
  const certs = await certificatesOrSkip(t);
  if (!certs) return;
  const server = await startServer({ args: ['--tls-cert', certs.server.cert, '--tls-key', certs.server.key] });
  try {
    const client = await BucketClient.connect({ port: server.port, tls: { ca: await readFile(certs.ca) } });
    await client.createBucket('box');
    const controller = new AbortController();
    let sent = 0;
    const endless = new Readable({
      read() {
        sent += 64 * 1024;
        if (sent > 1024 * 1024) controller.abort();
        this.push(Buffer.alloc(64 * 1024));
      },
    });
    await refusedWith(client.upload('box', 'big.bin', endless, 100 * 1024 * 1024, { signal: controller.signal }), 'CANCELLED');
    // A plain reconnect would meet TLS_REQUIRED here.
    assert.equal((await client.hello()).name, 'bucketd');
    assert.deepEqual(await client.listFiles('box'), []);
    await client.exit();
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
