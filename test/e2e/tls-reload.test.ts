/**
 * bucketd re-reads its certificate and key on SIGHUP: new connections get
 * the new certificate while a connection opened before keeps working; a
 * pair that cannot be used is one log line and the old one stays. Starting
 * with a missing, unreadable or mismatched pair is one line and exit 1.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import tls from 'node:tls';
import { BucketClient } from '../../src/client/index.js';
import { certificatesOrSkip } from '../helpers/certs.js';
import { BUCKETD, startServer, tempDir, type RunningServer } from '../helpers/server.js';

/** The fingerprint of the certificate a new TLS connection is given. */
function servedFingerprint(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', ca }, () => {
      const { fingerprint256 } = socket.getPeerCertificate();
      socket.destroy();
      resolve(fingerprint256);
    });
    socket.once('error', reject);
  });
}

async function waitForLog(server: RunningServer, pattern: RegExp, count: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while ((server.stderr().match(new RegExp(pattern, 'g'))?.length ?? 0) < count) {
    assert.ok(Date.now() < deadline, `never logged ${pattern} ${count} times: ${server.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const fingerprintOf = async (file: string): Promise<string> => new X509Certificate(await readFile(file)).fingerprint256;

test('SIGHUP serves a renewed certificate to new connections; open ones keep working; a bad pair keeps the old', async (t) => {
  const certs = await certificatesOrSkip(t);
  if (!certs) return;
  const dir = await tempDir();
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  await copyFile(certs.server.cert, cert);
  await copyFile(certs.server.key, key);
  const server = await startServer({ args: ['--tls-cert', cert, '--tls-key', key, '--log-level', 'info'] });
  try {
    const ca = await readFile(certs.ca);
    assert.equal(await servedFingerprint(server.port, ca), await fingerprintOf(certs.server.cert));
    const before = await BucketClient.connect({ port: server.port, tls: { ca } });
    await before.createBucket('box');

    await copyFile(certs.renewed.cert, cert);
    await copyFile(certs.renewed.key, key);
    server.child.kill('SIGHUP');
    await waitForLog(server, / info TLS certificate reloaded subject="CN=renewed"/, 1);
    assert.equal(await servedFingerprint(server.port, ca), await fingerprintOf(certs.renewed.cert));
    // The connection opened before the reload goes on, on its first certificate.
    const stored = await before.upload('box', 'after-reload.txt', Readable.from([Buffer.from('still here\n')]), 11);
    assert.equal(stored.size, 11);
    assert.equal((await before.hello()).name, 'bucketd');

    // A broken certificate, then a pair that does not match: one line each, the renewed one stays.
    await writeFile(cert, 'not a certificate\n');
    server.child.kill('SIGHUP');
    await waitForLog(server, / error TLS reload failed; still serving the previous certificate /, 1);
    await copyFile(certs.renewed.cert, cert);
    await copyFile(certs.server.key, key);
    server.child.kill('SIGHUP');
    await waitForLog(server, / error TLS reload failed; still serving the previous certificate /, 2);
    assert.match(server.stderr(), /reason="the key does not match the certificate[^"]*"\n/);
    assert.equal(await servedFingerprint(server.port, ca), await fingerprintOf(certs.renewed.cert));
    const after = await BucketClient.connect({ port: server.port, tls: { ca } });
    assert.deepEqual((await after.listFiles('box')).map((file) => file.name), ['after-reload.txt']);
    await after.exit();
    await before.exit();
  } finally {
    assert.equal(await server.stop(), 0);
    await rm(dir, { recursive: true, force: true });
  }
  assert.equal(server.stderr().match(/TLS reload failed/g)?.length, 2, server.stderr());
});

function runBucketd(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BUCKETD, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      if (stdout.includes('listening on')) child.kill('SIGTERM');
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('bucketd refuses a half, missing, unreadable or mismatched TLS pair in one line', async (t) => {
  const certs = await certificatesOrSkip(t);
  if (!certs) return;
  const root = await tempDir();
  try {
    const half = await runBucketd(['--tls-cert', certs.server.cert, root]);
    assert.equal(half.code, 2);
    assert.match(half.stderr, /^bucketd: --tls-cert and --tls-key go together: give both or neither\nusage: bucketd /);
    const missing = path.join(root, 'missing.pem');
    const absent = await runBucketd(['--tls-cert', missing, '--tls-key', certs.server.key, root]);
    assert.equal(absent.code, 1);
    assert.equal(absent.stderr, `bucketd: cannot read --tls-cert ${missing}: no such file\n`);
    const folder = await runBucketd(['--tls-cert', certs.server.cert, '--tls-key', root, root]);
    assert.equal(folder.code, 1);
    assert.equal(folder.stderr, `bucketd: cannot read --tls-key ${root}: it is a folder\n`);
    const swapped = await runBucketd(['--tls-cert', certs.server.key, '--tls-key', certs.server.cert, root]);
    assert.equal(swapped.code, 1);
    assert.match(swapped.stderr, /^bucketd: cannot use --tls-cert \S+ with --tls-key \S+: the certificate is not a PEM certificate[^\n]*\n$/);
    const mismatched = await runBucketd(['--tls-cert', certs.server.cert, '--tls-key', certs.untrusted.key, root]);
    assert.equal(mismatched.code, 1);
    assert.match(mismatched.stderr, /^bucketd: cannot use --tls-cert \S+ with --tls-key \S+: the key does not match the certificate[^\n]*\n$/);
    const good = await runBucketd(['--tls-cert', certs.server.cert, '--tls-key', certs.server.key, '--log-level', 'warn', root]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /^bucketd \S+ listening on 127\.0\.0\.1:\d+ with TLS \(root /);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
