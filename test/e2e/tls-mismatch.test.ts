/**
 * When client and server disagree about TLS, each side says so in one
 * readable line and closes: plain text to a TLS server gets TLS_REQUIRED,
 * a TLS handshake to a plain server gets TLS_NOT_AVAILABLE (both byte for
 * byte as docs/PROTOCOL.md shows them), and the library reports them as
 * ClientErrors of those codes. A handshake that stalls is closed after the
 * request timeout.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import { BucketClient, ClientError } from '../../src/client/index.js';
import { certificatesOrSkip } from '../helpers/certs.js';
import { RawPeer } from '../helpers/raw.js';
import { REPO_ROOT, startServer } from '../helpers/server.js';

/** The server line docs/PROTOCOL.md shows for `code`. */
function documentedLine(code: string): string {
  const doc = readFileSync(path.join(REPO_ROOT, 'docs/PROTOCOL.md'), 'utf8');
  const line = doc.split('\n').find((text) => text.startsWith(`S: 400,${code} `));
  assert.ok(line, `docs/PROTOCOL.md shows no S: line for ${code}`);
  return line.slice(3);
}

// The start of a TLS 1.2 ClientHello record, enough for the server to tell.
const CLIENT_HELLO_START = Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03]);

test('plain text to a TLS server gets the documented TLS_REQUIRED line and a close', async (t) => {
  const certs = await certificatesOrSkip(t);
  if (!certs) return;
  const server = await startServer({ args: ['--tls-cert', certs.server.cert, '--tls-key', certs.server.key, '--log-level', 'info'] });
  try {
    const peer = await RawPeer.connect(server.port);
    peer.send('HELLO\n');
    assert.equal(await peer.line(), documentedLine('TLS_REQUIRED'));
    await peer.closedByPeer();
    // The library, plain, hears it as TLS_REQUIRED on its first request.
    const plain = await BucketClient.connect({ port: server.port });
    await assert.rejects(plain.hello(), (error) => error instanceof ClientError && error.code === 'TLS_REQUIRED' && /speaks TLS only/.test(error.message));
    await assert.rejects(plain.hello(), (error) => error instanceof ClientError && error.code === 'TLS_REQUIRED');
    plain.close();
  } finally {
    assert.equal(await server.stop(), 0);
  }
  assert.match(server.stderr(), /info plain-text client on a TLS server; closing peer=127\.0\.0\.1:\d+\n/);
});

test('a TLS handshake to a plain server gets the documented TLS_NOT_AVAILABLE line; the library says so', async () => {
  const server = await startServer();
  try {
    const peer = await RawPeer.connect(server.port);
    peer.send(CLIENT_HELLO_START);
    assert.equal(await peer.line(), documentedLine('TLS_NOT_AVAILABLE'));
    await peer.closedByPeer();
    await assert.rejects(BucketClient.connect({ port: server.port, tls: true }), (error) => error instanceof ClientError && error.code === 'TLS_NOT_AVAILABLE' && /does not speak TLS/.test(error.message));
    // Plain clients are served as ever.
    const plain = await BucketClient.connect({ port: server.port });
    assert.equal((await plain.hello()).name, 'bucketd');
    await plain.exit();
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('a handshake that stalls is closed after the request timeout, and logged in one line', async (t) => {
  const certs = await certificatesOrSkip(t);
  if (!certs) return;
  const server = await startServer({ args: ['--tls-cert', certs.server.cert, '--tls-key', certs.server.key, '--request-timeout', '0.5', '--log-level', 'info'] });
  try {
    const stalled = await RawPeer.connect(server.port);
    stalled.send(CLIENT_HELLO_START); // ...and the rest never comes
    const started = Date.now();
    await stalled.closedByPeer(5000);
    assert.ok(Date.now() - started >= 400, 'closed before the timeout');
    // The server goes on serving TLS clients.
    const client = await BucketClient.connect({ port: server.port, tls: { ca: await readFile(certs.ca) } });
    assert.equal((await client.hello()).name, 'bucketd');
    await client.exit();
  } finally {
    assert.equal(await server.stop(), 0);
  }
  assert.equal(server.stderr().match(/TLS handshake not done in time; closing/g)?.length, 1, server.stderr());
});

test('garbage after a handshake byte, and a client that drops mid-handshake, are one log line each; none lingers', async (t) => {
  const certs = await certificatesOrSkip(t);
  if (!certs) return;
  const server = await startServer({ args: ['--tls-cert', certs.server.cert, '--tls-key', certs.server.key, '--log-level', 'info'] });
  const ports: Record<string, number | undefined> = {};
  try {
    const garbage = await RawPeer.connect(server.port);
    ports.garbage = garbage.socket.localPort;
    garbage.send(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05]), Buffer.from('HELLO\nHELLO\n')]));
    await garbage.closedByPeer();
    const dropped = await RawPeer.connect(server.port);
    ports.dropped = dropped.socket.localPort;
    dropped.send(CLIENT_HELLO_START);
    await new Promise((resolve) => setTimeout(resolve, 100));
    dropped.socket.end();
    await dropped.closedByPeer();
    // A client that connects and leaves without a word.
    const silent = await RawPeer.connect(server.port);
    silent.socket.end();
    await silent.closedByPeer();
    // A real TLS client that refuses the certificate.
    await new Promise<void>((resolve) => {
      const socket = tls.connect({ port: server.port, host: '127.0.0.1', maxVersion: 'TLSv1.2' });
      socket.once('secureConnect', () => assert.fail('the certificate was not refused'));
      socket.once('error', () => resolve());
    });
    const client = await BucketClient.connect({ port: server.port, tls: { ca: await readFile(certs.ca) } });
    assert.equal((await client.hello()).name, 'bucketd');
    await client.exit();
  } finally {
    assert.equal(await server.stop(), 0);
  }
  const log = server.stderr();
  for (const [who, port] of Object.entries(ports)) {
    assert.equal(log.split('\n').filter((line) => line.includes(`peer=127.0.0.1:${port}`)).length, 1, `${who}: ${log}`);
  }
  assert.match(log, /info TLS connection error peer=\S+ code=ERR_SSL_\w+ reason="[^"\n]+"\n/);
  assert.match(log, /info TLS handshake not completed: the client closed the connection peer=/);
  assert.doesNotMatch(log, /grace period over/, 'a connection stayed at the gate');
  assert.doesNotMatch(log, /\.js:\d+/, 'no stack traces');
});

/** The first line a TLS connection is sent. */
function firstTlsLine(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', ca });
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\n')) {
        socket.destroy();
        resolve(text.slice(0, text.indexOf('\n')));
      }
    });
    socket.once('error', reject);
  });
}

test('a TLS server refuses a connection past its limit inside TLS to a TLS client, in plain text to others', async (t) => {
  const certs = await certificatesOrSkip(t);
  if (!certs) return;
  const server = await startServer({ args: ['--tls-cert', certs.server.cert, '--tls-key', certs.server.key, '--max-connections', '1'] });
  try {
    const ca = await readFile(certs.ca);
    const holder = await BucketClient.connect({ port: server.port, tls: { ca } });
    assert.equal((await holder.hello()).name, 'bucketd');
    assert.match(await firstTlsLine(server.port, ca), /^503,TOO_MANY_CONNECTIONS /);
    const silent = await RawPeer.connect(server.port);
    assert.match(await silent.line(), /^503,TOO_MANY_CONNECTIONS /);
    await silent.closedByPeer();
    await holder.exit();
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
