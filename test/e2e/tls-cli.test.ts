/**
 * The bucket program over TLS, against the real bucketd: `--ca` (or
 * BUCKET_TLS=1 and BUCKET_CA) for a verified session, one clear line and
 * exit 1 for a certificate it cannot trust or a server that disagrees about
 * TLS, `--insecure` with one warning line.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { certificatesOrSkip } from '../helpers/certs.js';
import { runBucket } from '../helpers/cli.js';
import { startServer, tempDir } from '../helpers/server.js';

test('bucket --ca uploads and downloads through TLS; BUCKET_CA (alone or with BUCKET_TLS) does the same', async (t) => {
  const certs = await certificatesOrSkip(t);
  if (!certs) return;
  const server = await startServer({ args: ['--tls-cert', certs.server.cert, '--tls-key', certs.server.key] });
  const work = await tempDir();
  try {
    const data = randomBytes(5 * 1024 * 1024 + 3);
    await writeFile(path.join(work, 'photo.bin'), data);
    const script = 'NEW_BUCKET\nphotos\nUPLOAD_FILE\nphoto.bin\n\nphotos\nDOWNLOAD_FILE\nphotos\nphoto.bin\ncopy.bin\nEXIT\n';
    const result = await runBucket(['--port', String(server.port), '--ca', certs.ca], script, { cwd: work });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    assert.match(result.stdout, /uploaded "photo\.bin" to bucket "photos"/);
    assert.match(result.stdout, /downloaded "photo\.bin" to copy\.bin \(5\.0 MiB, sha256 verified\)/);
    assert.ok((await readFile(path.join(work, 'copy.bin'))).equals(data));

    const byEnv = await runBucket(['--port', String(server.port)], 'LIST_FILE\nphotos\n', { env: { BUCKET_TLS: '1', BUCKET_CA: certs.ca } });
    assert.equal(byEnv.code, 0, byEnv.stderr);
    assert.match(byEnv.stdout, /photo\.bin/);
    // As --ca implies --tls, so does BUCKET_CA: piped and one-shot alike.
    const caAlone = await runBucket(['--port', String(server.port)], 'LIST_FILE\nphotos\n', { env: { BUCKET_CA: certs.ca } });
    assert.equal(caAlone.code, 0, caAlone.stderr);
    assert.match(caAlone.stdout, /photo\.bin/);
    const oneShot = await runBucket(['--port', String(server.port), 'ls', 'photos'], '', { env: { BUCKET_CA: certs.ca } });
    assert.equal(oneShot.code, 0, oneShot.stderr);
    assert.match(oneShot.stdout, /photo\.bin/);
    // Turned off in so many words, it stays off: plain text, which this server refuses.
    const off = await runBucket(['--port', String(server.port), 'ls', 'photos'], '', { env: { BUCKET_CA: certs.ca, BUCKET_TLS: '0' } });
    assert.equal(off.code, 6, off.stderr);
    assert.match(off.stderr, /speaks TLS only/);
  } finally {
    assert.equal(await server.stop(), 0);
    await rm(work, { recursive: true, force: true });
  }
});

test('bucket refuses an untrusted or misnamed certificate in one line; --insecure warns once and connects', async (t) => {
  const certs = await certificatesOrSkip(t);
  if (!certs) return;
  const untrusted = await startServer({ args: ['--tls-cert', certs.untrusted.cert, '--tls-key', certs.untrusted.key] });
  const elsewhere = await startServer({ args: ['--tls-cert', certs.otherHost.cert, '--tls-key', certs.otherHost.key] });
  try {
    const refused = await runBucket(['--port', String(untrusted.port), '--tls'], 'HELLO\n');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^error: cannot connect to 127\.0\.0\.1:\d+ with TLS: the server's certificate is not trusted \(self-signed certificate\)[^\n]*\n$/);
    assert.equal(refused.stdout, '');

    const misnamed = await runBucket(['--port', String(elsewhere.port), '--ca', certs.ca], 'HELLO\n');
    assert.equal(misnamed.code, 1);
    assert.match(misnamed.stderr, /^error: cannot connect to 127\.0\.0\.1:\d+ with TLS: the server's certificate is not for this host \(it names DNS:elsewhere\.example\)\n$/);

    const insecure = await runBucket(['--port', String(untrusted.port), '--insecure'], 'HELLO\n');
    assert.equal(insecure.code, 0, insecure.stderr);
    assert.match(insecure.stderr, /^bucket: warning: --insecure: the server's certificate is not checked[^\n]*\n$/);
    assert.match(insecure.stdout, /^bucketd \S+ \(protocol 5\) at 127\.0\.0\.1:\d+\n$/);
  } finally {
    assert.equal(await untrusted.stop(), 0);
    assert.equal(await elsewhere.stop(), 0);
  }
});

test('bucket says in one line when it and the server disagree about TLS', async (t) => {
  const certs = await certificatesOrSkip(t);
  if (!certs) return;
  const secure = await startServer({ args: ['--tls-cert', certs.server.cert, '--tls-key', certs.server.key] });
  const plain = await startServer();
  try {
    const plainToTls = await runBucket(['--port', String(secure.port)], 'HELLO\nLIST_BUCKET\n');
    assert.equal(plainToTls.code, 1);
    assert.equal(plainToTls.stderr, `error: the server at 127.0.0.1:${secure.port} speaks TLS only; connect with TLS (bucket --tls)\n`);
    const tlsToPlain = await runBucket(['--port', String(plain.port), '--tls'], 'HELLO\n');
    assert.equal(tlsToPlain.code, 1);
    assert.equal(tlsToPlain.stderr, `error: cannot connect to 127.0.0.1:${plain.port} with TLS: the server does not speak TLS (it answered in plain text)\n`);
  } finally {
    assert.equal(await secure.stop(), 0);
    assert.equal(await plain.stop(), 0);
  }
});

test('bucket TLS options that cannot work are one line each', async () => {
  const work = await tempDir();
  try {
    const both = await runBucket(['--ca', 'ca.pem', '--insecure'], '');
    assert.equal(both.code, 2);
    assert.match(both.stderr, /^bucket: give --ca or --insecure, not both\nusage: bucket /);
    const badEnv = await runBucket([], '', { env: { BUCKET_TLS: 'maybe' } });
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.stderr, /^bucket: invalid BUCKET_TLS "maybe": use 1 or 0\n/);
    const missing = await runBucket(['--ca', path.join(work, 'nope.pem')], '');
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `bucket: cannot read --ca ${path.join(work, 'nope.pem')}: no such file\n`);
    await writeFile(path.join(work, 'junk.pem'), 'not a certificate\n');
    const junk = await runBucket(['--ca', path.join(work, 'junk.pem')], '');
    assert.equal(junk.code, 1);
    assert.match(junk.stderr, /^bucket: cannot use --ca \S+junk\.pem: it is not a PEM certificate/);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
