/** Garbage, malformed lines and broken uploads on a raw socket: clear errors, no damage. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RawPeer } from '../helpers/raw.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const sha = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const codeOf = (line: string): string => line.split(' ')[0]!;

describe('bad input', () => {
  let server: RunningServer;
  const tmpFiles = (): Promise<string[]> => readdir(path.join(server.root, '.bucketd', 'tmp'));
  const bucketFiles = (): Promise<string[]> => readdir(path.join(server.root, 'box'));

  before(async () => {
    server = await startServer();
    const peer = await RawPeer.connect(server.port);
    peer.send('NEW_BUCKET,box\n');
    assert.match(await peer.line(), /^201,box,/);
    peer.close();
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test('each malformed request gets its error code and the connection stays usable', async () => {
    const peer = await RawPeer.connect(server.port);
    const rows: Array<[string, string]> = [
      ['hello', '400,UNKNOWN_COMMAND'],
      [' HELLO', '400,UNKNOWN_COMMAND'],
      ['HELLO ', '400,UNKNOWN_COMMAND'],
      ['', '400,UNKNOWN_COMMAND'],
      ['NEW_BUCKET', '400,WRONG_FIELD_COUNT'],
      ['HELLO,extra', '400,WRONG_FIELD_COUNT'],
      ['NEW_BUCKET,my box', '400,SPACES_NOT_ALLOWED'],
      ['NEW_BUCKET,%zz', '400,BAD_ENCODING'],
      ['NEW_BUCKET,%C3%28', '400,BAD_ENCODING'],
      ['NEW_BUCKET,Box', '400,INVALID_BUCKET_NAME'],
      ['UPLOAD_FILE,box,a,-5', '400,BAD_FIELD'],
      ['UPLOAD_FILE,box,..,5', '400,INVALID_FILE_NAME'],
      ['UPLOAD_FILE,box,%2E%2E%2Fescape,5', '400,INVALID_FILE_NAME'],
      ['DOWNLOAD_FILE,box,%2Fetc%2Fpasswd', '400,INVALID_FILE_NAME'],
      ['DOWNLOAD_FILE,..,passwd', '400,INVALID_BUCKET_NAME'],
      ['LIST_FILE,nope', '404,NO_SUCH_BUCKET'],
      ['DELETE_FILE,box,nope', '404,NO_SUCH_FILE'],
      ['\u0000\u0001\u00ff garbage \u001b[31m', '400,UNKNOWN_COMMAND'],
    ];
    for (const [line, expected] of rows) {
      peer.send(`${line}\r\n`);
      const reply = await peer.line();
      assert.equal(codeOf(reply), expected, `${JSON.stringify(line)} -> ${reply}`);
      assert.ok(reply.length > expected.length + 1, 'the reply has a readable message');
    }
    peer.send('HELLO\n');
    assert.match(await peer.line(), /^200,bucketd,/);
    peer.close();
  });

  test('a line over 64 KiB gets LINE_TOO_LONG and the connection is closed', async () => {
    const peer = await RawPeer.connect(server.port);
    peer.send(Buffer.alloc(70 * 1024, 'A'));
    assert.equal(codeOf(await peer.line()), '400,LINE_TOO_LONG');
    await peer.closedByPeer();
  });

  test('random garbage never crashes the server or hangs the connection', async () => {
    for (let round = 0; round < 20; round++) {
      const peer = await RawPeer.connect(server.port);
      peer.send(randomBytes(1 + Math.floor(Math.random() * 4096)));
      peer.send('\nHELLO\n');
      // Every reply is a well-formed status line until HELLO answers, or
      // the server closed a connection whose framing it could not trust.
      for (;;) {
        let reply: string;
        try {
          reply = await peer.line();
        } catch {
          assert.ok(peer.closed);
          break;
        }
        assert.match(reply, /^[1-5]\d\d[, ]/);
        if (reply.startsWith('200,bucketd')) break;
      }
      peer.close();
    }
    const check = await RawPeer.connect(server.port);
    check.send('HELLO\n');
    assert.match(await check.line(), /^200,bucketd,/);
    check.close();
  });

  test('an upload with a wrong checksum is refused and stores nothing', async () => {
    const peer = await RawPeer.connect(server.port);
    peer.send('UPLOAD_FILE,box,wrong.txt,5\n');
    assert.match(await peer.line(), /^150,wrong\.txt,5,[0-9a-f]{32} /);
    peer.send(`helloSHA256,${sha('HELLO')}\n`);
    assert.equal(codeOf(await peer.line()), '422,CHECKSUM_MISMATCH');
    peer.send('LIST_FILE,box\n');
    assert.match(await peer.line(), /^200,0 /);
    assert.deepEqual(await tmpFiles(), []);
    peer.close();
  });

  test('a malformed trailer gets BAD_TRAILER, a close, and nothing stored', async () => {
    const peer = await RawPeer.connect(server.port);
    peer.send('UPLOAD_FILE,box,trailer.txt,3\n');
    assert.match(await peer.line(), /^150,/);
    peer.send('abcdefgh\n');
    assert.equal(codeOf(await peer.line()), '400,BAD_TRAILER');
    await peer.closedByPeer();
    assert.deepEqual(await bucketFiles(), []);
    assert.deepEqual(await tmpFiles(), []);
  });

  test('an upload whose declared bytes never arrive leaves nothing behind', async () => {
    const peer = await RawPeer.connect(server.port);
    peer.send('UPLOAD_FILE,box,half.bin,1000000\n');
    assert.match(await peer.line(), /^150,/);
    peer.send(Buffer.alloc(400_000, 1));
    // Half-close: the client says it is done sending, short of the size.
    peer.socket.end();
    assert.equal(codeOf(await peer.line()), '400,INCOMPLETE_BODY');
    await peer.closedByPeer();
    await waitFor(async () => (await tmpFiles()).length === 0);
    assert.deepEqual(await bucketFiles(), []);
  });

  test('a byte-exact upload and download over a raw socket', async () => {
    const peer = await RawPeer.connect(server.port);
    const body = Buffer.from('line one\nline two\n,,%%\r\n');
    peer.send(`UPLOAD_FILE,box,raw%20file.txt,${body.length}\n`);
    assert.match(await peer.line(), new RegExp(`^150,raw%20file\\.txt,${body.length},[0-9a-f]{32} send ${body.length} bytes, then the SHA256 trailer$`));
    peer.send(Buffer.concat([body, Buffer.from(`SHA256,${sha(body)}\n`)]));
    assert.equal(await peer.line(), `201,box,raw%20file.txt,${body.length},${sha(body)} stored "raw file.txt" (${body.length} bytes)`);
    peer.send('DOWNLOAD_FILE,box,raw%20file.txt\n');
    assert.equal(await peer.line(), `150,raw%20file.txt,${body.length} sending ${body.length} bytes, then a status line`);
    assert.deepEqual(await peer.bytes(body.length), body);
    assert.equal(await peer.line(), `200,${sha(body)} sent ${body.length} bytes`);
    peer.send('DELETE_FILE,box,raw%20file.txt\nEXIT\n');
    assert.equal(await peer.line(), '200,box,raw%20file.txt file "raw file.txt" deleted');
    assert.equal(await peer.line(), '221 goodbye');
    await peer.closedByPeer();
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
