/**
 * docs/PROTOCOL.md stays true: every server line it shows (times masked) is
 * produced, byte for byte, by a session against the real bucketd — except
 * the few that need a full disk, a long wait or a broken server to appear,
 * which other tests cover by their codes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { proofRequest } from '../helpers/login.js';
import { RawPeer } from '../helpers/raw.js';
import { encodeRequest } from '../../src/protocol/requests.js';
import { ScramClient } from '../../src/protocol/scram.js';
import { bucketd, newRoot } from '../helpers/bucketd.js';
import { REPO_ROOT, startServer } from '../helpers/server.js';

// TLS_REQUIRED needs a server with a certificate: test/e2e/tls-mismatch.test.ts replays it.
// RFC 7677's login (random nonces here) is checked line by line in test/protocol/scram-doc.test.ts.
const NOT_REPLAYED = ['IDLE_TIMEOUT', 'TOO_MANY_CONNECTIONS', 'SHUTTING_DOWN', 'NO_SPACE', 'CORRUPT_FILE', 'STORAGE_FAILED', 'INTERNAL', 'big.bin', 'TLS_REQUIRED', 'rOprNGfwEbeRWgbNEkqO', '6rriTRBi23WpRR'];
// Times and upload ids (random) are masked; SHA-256 digests (64 hex digits) are not.
const mask = (line: string): string => line.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, '<time>').replace(/(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])/g, '<id>');
const sha = (data: string): string => createHash('sha256').update(data).digest('hex');

function documentedServerLines(): string[] {
  const doc = readFileSync(path.join(REPO_ROOT, 'docs/PROTOCOL.md'), 'utf8');
  return doc
    .split('\n')
    .filter((line) => line.startsWith('S: '))
    .map((line) => line.slice(3).replace(/^<[^>]*>/, '')) // drop a body shown before a status line
    .filter((line) => !NOT_REPLAYED.some((skip) => line.includes(skip)))
    .map(mask);
}

test('every server line in docs/PROTOCOL.md is what bucketd sends', async () => {
  const server = await startServer({ args: ['--max-file-size', '1G'] });
  const seen = new Set<string>();
  const exchange = async (peer: RawPeer, request: string | Buffer, lines = 1): Promise<void> => {
    peer.send(request);
    for (let i = 0; i < lines; i++) seen.add(mask(await peer.line()));
  };
  try {
    const peer = await RawPeer.connect(server.port);
    await exchange(peer, 'HELLO\n');
    await exchange(peer, 'NEW_BUCKET,photos\n');
    await exchange(peer, 'NEW_BUCKET,photos\n');
    await exchange(peer, 'NEW_BUCKET,My_Photos\n');
    await exchange(peer, 'LIST_BUCKET\n', 2);
    const catName = 'my%20cat%2C%20Tom%20%F0%9F%90%88.txt';
    await exchange(peer, 'UPLOAD_FILE,photos,cat.txt,5\n');
    await exchange(peer, `meow\nSHA256,${sha('meow\n')}\n`);
    await exchange(peer, `UPLOAD_FILE,photos,${catName},0\n`);
    await exchange(peer, `SHA256,${sha('')}\n`);
    await exchange(peer, 'UPLOAD_FILE,photos,bad.txt,3\n');
    await exchange(peer, `abcSHA256,${sha('xyz')}\n`);
    await exchange(peer, 'UPLOAD_FILE,nosuch,a.txt,3\n');
    await exchange(peer, 'UPLOAD_FILE,photos,..,3\n');
    await exchange(peer, 'UPLOAD_FILE,photos,huge.iso,5000000000\n');
    await exchange(peer, 'UPLOAD_FILE,photos,a,12x\n');
    await exchange(peer, 'LIST_FILE,photos\n', 3);
    await exchange(peer, 'LIST_FILE,nosuch\n');
    peer.send('DOWNLOAD_FILE,photos,cat.txt\n');
    seen.add(mask(await peer.line()));
    assert.equal((await peer.bytes(5)).toString(), 'meow\n');
    seen.add(mask(await peer.line()));
    await exchange(peer, 'DOWNLOAD_FILE,photos,dog.txt\n');
    // From an offset (protocol 4).
    peer.send('DOWNLOAD_FILE,photos,cat.txt,2\n');
    seen.add(mask(await peer.line()));
    assert.equal((await peer.bytes(3)).toString(), 'ow\n');
    seen.add(mask(await peer.line()));
    await exchange(peer, 'DOWNLOAD_FILE,photos,cat.txt,6\n');
    await exchange(peer, 'DELETE_FILE,photos,cat.txt\n');
    await exchange(peer, 'DELETE_FILE,photos,cat.txt\n');
    await exchange(peer, 'UPLOAD_FILE,photos,cat.txt,5\n');
    await exchange(peer, `meow\nSHA256,${sha('meow\n')}\n`);
    await exchange(peer, 'DELETE_BUCKET,photos\n');
    await exchange(peer, 'DELETE_BUCKET,photos,YES\n');
    await exchange(peer, 'DELETE_BUCKET,photos,FORCE\n');
    await exchange(peer, 'DELETE_BUCKET,photos\n');
    for (const request of ['hello', 'HELLO ', 'NEW_BUCKET', 'NEW_BUCKET,my photos', 'NEW_BUCKET,%G0']) await exchange(peer, `${request}\n`);
    // Folders inside a bucket (protocol 3).
    await exchange(peer, 'NEW_BUCKET,albums\n');
    for (const [name, body] of [['2026%2Ftrip%2Fimg%2001.jpg', 'jpeg'], ['2026%2Fnotes.txt', 'notes\n'], ['readme.txt', 'hi\n']] as const) {
      await exchange(peer, `UPLOAD_FILE,albums,${name},${body.length}\n`);
      await exchange(peer, `${body}SHA256,${sha(body)}\n`);
    }
    await exchange(peer, 'LIST_FILE,albums\n', 4);
    await exchange(peer, 'LIST_FILE,albums,,%2F\n', 3);
    await exchange(peer, 'LIST_FILE,albums,2026%2F,%2F\n', 3);
    await exchange(peer, 'LIST_FILE,albums,2026%2Ft\n', 2);
    await exchange(peer, 'LIST_FILE,albums,2026%2F,%5C\n');
    await exchange(peer, 'UPLOAD_FILE,albums,readme.txt%2Fmore.txt,1\n');
    await exchange(peer, 'UPLOAD_FILE,albums,2026,1\n');
    await exchange(peer, 'UPLOAD_FILE,albums,2026%2F%2Fx,1\n');
    await exchange(peer, 'EXIT\n');

    // Uploads sent at once (protocol 5): each refusal drops exactly the body, so the next line is a request.
    const atOnce = await RawPeer.connect(server.port);
    const purr = 'purr\n';
    await exchange(atOnce, 'NEW_BUCKET,photos\n');
    await exchange(atOnce, `UPLOAD_FILE,photos,purr.txt,5,${sha(purr)}\n${purr}`);
    await exchange(atOnce, `UPLOAD_FILE,nosuch,purr.txt,5,${sha(purr)}\n${purr}`);
    await exchange(atOnce, `UPLOAD_FILE,photos,hiss.txt,5,${sha('hiss\n')}\n${purr}`);
    await exchange(atOnce, `UPLOAD_FILE,photos,purr.txt,5,${sha(purr).toUpperCase()}\n${purr}`);
    await exchange(atOnce, `UPLOAD_FILE,photos,purr.txt,5x,${sha(purr)}\n`);
    const after = await RawPeer.connect(server.port);
    await exchange(after, 'DELETE_BUCKET,photos,FORCE\n');
    after.close();

    // Resumable uploads (protocol 4).
    const idOf = (line: string): string => /^150,[^,]+,\d+,([0-9a-f]{32})/.exec(line)?.[1] ?? assert.fail(`no upload id in ${line}`);
    const holding = async (id: string, held: number): Promise<void> => {
      // The server makes a broken upload's bytes durable as it notices the break.
      for (const deadline = Date.now() + 5000; ; ) {
        const lister = await RawPeer.connect(server.port);
        lister.send('LIST_UPLOADS\n');
        const count = Number(/^200,(\d+)/.exec(await lister.line())?.[1]);
        const items: string[] = [];
        for (let i = 0; i < count; i++) items.push(await lister.line());
        lister.close();
        if (items.some((item) => item.startsWith(`${id},`) && item.split(',')[4] === String(held))) return;
        assert.ok(Date.now() < deadline, `upload ${id} never held ${held} bytes`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };
    // A broken upload's bytes can be listed a moment before its connection's
    // end lets go of it: until then a resume is UPLOAD_BUSY (shown above on purpose).
    const exchangeOnceFree = async (peer: RawPeer, request: string): Promise<void> => {
      for (const deadline = Date.now() + 5000; ; ) {
        peer.send(request);
        const line = mask(await peer.line());
        if (!line.startsWith('409,UPLOAD_BUSY') || Date.now() >= deadline) {
          seen.add(line);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };
    const broken = await RawPeer.connect(server.port);
    await exchange(broken, 'NEW_BUCKET,photos\n'); // deleted above
    broken.send('UPLOAD_FILE,photos,big.iso,10\n');
    const brokenGoAhead = await broken.line();
    seen.add(mask(brokenGoAhead));
    const bigId = idOf(brokenGoAhead);
    broken.send('0123');
    broken.socket.destroy();
    await holding(bigId, 4);
    const resumer = await RawPeer.connect(server.port);
    await exchangeOnceFree(resumer, `RESUME_UPLOAD,${bigId}\n`);
    await exchange(resumer, `456789SHA256,${sha('0123456789')}\n`);
    await exchange(resumer, `RESUME_UPLOAD,${bigId}\n`);
    await exchange(resumer, 'RESUME_UPLOAD,big.iso\n');
    const feeder = await RawPeer.connect(server.port);
    feeder.send('UPLOAD_FILE,photos,video.mp4,10\n');
    const videoId = idOf(await feeder.line());
    feeder.send('abcd');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await exchange(resumer, `RESUME_UPLOAD,${videoId}\n`); // UPLOAD_BUSY: the feeder is still on it
    feeder.socket.destroy();
    await holding(videoId, 4);
    await exchangeOnceFree(resumer, `RESUME_UPLOAD,${videoId},9\n`);
    await exchange(resumer, 'LIST_UPLOADS\n', 2);
    await exchange(resumer, 'LIST_UPLOADS,albums\n');
    await exchange(resumer, `ABORT_UPLOAD,${videoId}\n`);
    await exchange(resumer, `ABORT_UPLOAD,${videoId}\n`);
    resumer.close();

    const long = await RawPeer.connect(server.port);
    await exchange(long, Buffer.alloc(70_000, 'A'));
    const trailer = await RawPeer.connect(server.port);
    await exchange(trailer, 'NEW_BUCKET,photos\nUPLOAD_FILE,photos,cat.txt,3\n', 2);
    await exchange(trailer, 'abcthis is not a trailer\n');
    const half = await RawPeer.connect(server.port);
    await exchange(half, 'UPLOAD_FILE,photos,half.bin,1000000\n');
    half.send(Buffer.alloc(400_000));
    half.socket.end();
    seen.add(mask(await half.line()));
    // A TLS ClientHello, to this plain server.
    const tlsClient = await RawPeer.connect(server.port);
    await exchange(tlsClient, Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03]));

    // The deadlines, on a server that keeps them short (and documents 30 s).
    const strict = await startServer({ args: ['--request-timeout', '0.3', '--min-rate', '1024', '--rate-window', '0.5'] });
    try {
      const dripping = await RawPeer.connect(strict.port);
      dripping.send('HEL');
      seen.add(mask(await dripping.line()).replace('0.3 s', '30 s'));
      const slow = await RawPeer.connect(strict.port);
      await exchange(slow, 'NEW_BUCKET,photos\nUPLOAD_FILE,photos,drip.bin,1000000\n', 2);
      slow.send('abc');
      seen.add(mask(await slow.line()).replace('0.5 s', '30 s'));
    } finally {
      await strict.stop();
    }

    // Logins, permissions and quotas, on a server with users.
    const root = await newRoot();
    for (const user of ['alice', 'bob']) assert.equal((await bucketd(['user', 'add', user, '--root', root], `${user}'s password\n`)).code, 0);
    const guarded = await startServer({ root });
    try {
      const loginAs = async (user: string): Promise<RawPeer> => {
        const peer = await RawPeer.connect(guarded.port);
        const scram = new ScramClient(user, `${user}'s password`);
        peer.send(encodeRequest({ command: 'LOGIN', mechanism: 'SCRAM-SHA-256', message: scram.firstMessage() }));
        const challenge = await peer.line();
        peer.send(proofRequest(scram, challenge));
        await peer.line();
        return peer;
      };
      const anonymous = await RawPeer.connect(guarded.port);
      await exchange(anonymous, 'LOGIN,PLAIN,x\n');
      await exchange(anonymous, 'LOGIN_PROOF,x\n');
      const wrong = new ScramClient('alice', 'not it');
      anonymous.send(encodeRequest({ command: 'LOGIN', mechanism: 'SCRAM-SHA-256', message: wrong.firstMessage() }));
      const challenge = await anonymous.line();
      await exchange(anonymous, proofRequest(wrong, challenge));
      await exchange(anonymous, 'LIST_FILE,photos\n');
      const alice = await loginAs('alice');
      await exchange(alice, 'NEW_BUCKET,shared\nNEW_BUCKET,private\nNEW_BUCKET,photos\n', 3);
      await exchange(alice, `UPLOAD_FILE,photos,a.txt,5\n`);
      await exchange(alice, `meow\nSHA256,${sha('meow\n')}\n`);
      await exchange(alice, `UPLOAD_FILE,photos,b.txt,12\n`);
      await exchange(alice, `twelve bytes${''}SHA256,${sha('twelve bytes')}\n`);
      assert.equal((await bucketd(['user', 'grant', 'bob', 'shared', 'read', '--root', root])).code, 0);
      assert.equal((await bucketd(['bucket', 'quota', 'photos', '1000', '--root', root])).code, 0);
      const bob = await loginAs('bob'); // a login reads the access file afresh
      await exchange(bob, 'UPLOAD_FILE,shared,a.txt,3\n');
      await exchange(bob, 'LIST_FILE,private\n');
      await exchange(bob, 'NEW_BUCKET,private\n');
      await exchange(alice, 'BUCKET_INFO,photos\n');
      await exchange(alice, 'UPLOAD_FILE,photos,big.bin,5000\n');
      for (const grant of ['bob,read', 'anonymous,read', 'bob,none', 'carol,read', 'bob,owner']) await exchange(alice, `GRANT,photos,${grant}\n`);
    } finally {
      await guarded.stop();
    }

    const missing = documentedServerLines().filter((line) => !seen.has(line));
    assert.deepEqual(missing, [], `documented but not sent:\n${missing.join('\n')}\n\nsent:\n${[...seen].join('\n')}`);
  } finally {
    await server.stop();
  }
});
