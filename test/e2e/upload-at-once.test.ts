/**
 * Uploads sent at once (protocol 5): UPLOAD_FILE with the body's SHA-256,
 * the body right after the line. Every refusal drops exactly the declared
 * bytes, so the stream stays in step whatever the body holds; uploads
 * pipeline; one that breaks off leaves nothing; and what a client was
 * told is stored survives the server being killed (group commit).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { BucketClient } from '../../src/client/client.js';
import { BucketError } from '../../src/errors.js';
import { bucketd, newRoot } from '../helpers/bucketd.js';
import { logIn } from '../helpers/login.js';
import { RawPeer } from '../helpers/raw.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const sha = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** An upload sent at once: its line and its body, as one piece of the stream. */
function atOnce(bucket: string, name: string, body: Buffer | string, hash = sha(body)): Buffer {
  const bytes = Buffer.from(body);
  return Buffer.concat([Buffer.from(`UPLOAD_FILE,${bucket},${name},${bytes.length},${hash}\n`), bytes]);
}

async function lines(peer: RawPeer, count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(await peer.line());
  return out;
}

async function staged(server: RunningServer): Promise<string[]> {
  return readdir(path.join(server.root, '.bucketd', 'uploads'));
}


test('an upload sent at once gets one reply; every refusal drops exactly its body, even one full of requests', async () => {
  const server = await startServer({ args: ['--max-file-size', '1K'] });
  try {
    const peer = await RawPeer.connect(server.port);
    // Bodies that would do harm if they were read as requests.
    const sneaky = 'HELLO\nDELETE_BUCKET,box,FORCE\nNEW_BUCKET,evil\n';
    const big = `${sneaky}${'x'.repeat(2000)}`;
    peer.send(
      Buffer.concat([
        Buffer.from('HELLO\nNEW_BUCKET,box\n'),
        atOnce('box', 'a.txt', sneaky),
        atOnce('nosuch', 'a.txt', sneaky),
        atOnce('box', '..', sneaky),
        atOnce('box', 'big.bin', big),
        atOnce('box', 'b.txt', sneaky, sha('something else')),
        atOnce('box', 'c.txt', sneaky, sha(sneaky).toUpperCase()),
        atOnce('box', 'd%ZZ.txt', sneaky),
        atOnce('box', 'my file.txt', sneaky),
        atOnce('box', 'empty.txt', ''),
        atOnce('box', 'e.txt', 'last'),
        Buffer.from('LIST_FILE,box\n'),
      ]),
    );
    const replies = await lines(peer, 16);
    assert.match(replies[0]!, /^200,bucketd,[^,]+,5,/, 'HELLO says protocol 5');
    assert.match(replies[1]!, /^201,box,/);
    assert.equal(replies[2], `201,box,a.txt,${sneaky.length},${sha(sneaky)} stored "a.txt" (${sneaky.length} bytes)`);
    assert.match(replies[3]!, /^404,NO_SUCH_BUCKET /);
    assert.match(replies[4]!, /^400,INVALID_FILE_NAME /);
    assert.match(replies[5]!, /^413,TOO_LARGE,1024 /);
    assert.match(replies[6]!, /^422,CHECKSUM_MISMATCH /);
    assert.match(replies[7]!, /^400,BAD_FIELD /);
    assert.match(replies[8]!, /^400,BAD_ENCODING /);
    assert.match(replies[9]!, /^400,SPACES_NOT_ALLOWED /);
    assert.equal(replies[10], `201,box,empty.txt,0,${sha('')} stored "empty.txt" (0 bytes)`);
    assert.equal(replies[11], `201,box,e.txt,4,${sha('last')} stored "e.txt" (4 bytes)`);
    assert.equal(replies[12], '200,3 3 files in "box"');
    assert.deepEqual(
      replies.slice(13).map((line) => line.split(',')[0]),
      ['a.txt', 'e.txt', 'empty.txt'],
    );
    // The stream is still in step, and nothing the bodies held was run.
    peer.send('LIST_BUCKET\n');
    assert.equal(await peer.line(), '200,1 1 bucket');
    assert.match(await peer.line(), /^box,/);
    assert.deepEqual(await staged(server), [], 'nothing is left staged');
    peer.close();
  } finally {
    await server.stop();
  }
});

test('with users: a missing login, a missing grant and a full quota refuse an upload sent at once, and the connection goes on', async () => {
  const root = await newRoot();
  for (const user of ['alice', 'bob']) assert.equal((await bucketd(['user', 'add', user, '--root', root], `${user}'s password\n`)).code, 0);
  const server = await startServer({ root });
  try {
    const alice = await logIn(server.port, 'alice');
    alice.send('NEW_BUCKET,team\n');
    assert.match(await alice.line(), /^201,/);
    assert.equal((await bucketd(['bucket', 'quota', 'team', '100', '--root', root])).code, 0);
    assert.equal((await bucketd(['user', 'grant', 'bob', 'team', 'read', '--root', root])).code, 0);
    const body = 'y'.repeat(60);

    const anonymous = await RawPeer.connect(server.port);
    anonymous.send(Buffer.concat([atOnce('team', 'a.txt', body), Buffer.from('HELLO\n')]));
    assert.match(await anonymous.line(), /^401,AUTH_REQUIRED /);
    assert.match(await anonymous.line(), /^200,bucketd,/);

    const bob = await logIn(server.port, 'bob'); // may read team, not write it
    bob.send(Buffer.concat([atOnce('team', 'b.txt', body), Buffer.from('HELLO\n')]));
    assert.match(await bob.line(), /^403,FORBIDDEN/);
    assert.match(await bob.line(), /^200,bucketd,/);

    const alice2 = await logIn(server.port, 'alice'); // reads the quota afresh
    alice2.send(Buffer.concat([atOnce('team', 'c.txt', body), atOnce('team', 'd.txt', body), Buffer.from('LIST_FILE,team\n')]));
    assert.match(await alice2.line(), /^201,team,c\.txt,60,/);
    assert.match(await alice2.line(), /^413,QUOTA_EXCEEDED,40 /);
    assert.deepEqual(await lines(alice2, 2).then((got) => [got[0], got[1]!.split(',')[0]]), ['200,1 1 file in "team"', 'c.txt']);
    assert.deepEqual(await staged(server), []);
    for (const peer of [alice, anonymous, bob, alice2]) peer.close();
  } finally {
    await server.stop();
  }
});

test('an upload sent at once whose size cannot be read closes the connection; one cut short stores and stages nothing', async () => {
  const server = await startServer();
  try {
    const peer = await RawPeer.connect(server.port);
    peer.send(`NEW_BUCKET,box\nUPLOAD_FILE,box,a.txt,12x,${sha('x')}\nHELLO\n`);
    assert.match(await peer.line(), /^201,/);
    assert.match(await peer.line(), /^400,BAD_FIELD .*the connection closes$/);
    await peer.closedByPeer();

    const cut = await RawPeer.connect(server.port);
    const body = Buffer.alloc(100_000, 0x61);
    cut.send(atOnce('box', 'cut.bin', body).subarray(0, 60_000));
    await new Promise((resolve) => setTimeout(resolve, 200));
    cut.socket.end(); // half-closed: the server says why, then nothing is kept
    assert.match(await cut.line(), /^400,INCOMPLETE_BODY /);
    const after = await RawPeer.connect(server.port);
    after.send('LIST_FILE,box\nLIST_UPLOADS\n');
    assert.deepEqual(await lines(after, 2), ['200,0 0 files in "box"', '200,0 0 unfinished uploads']);
    assert.deepEqual(await staged(server), []);
    after.close();
  } finally {
    await server.stop();
  }
});

test('the library pipelines puts on one connection: replies in order, a refusal fails only its own put', async () => {
  const server = await startServer();
  const client = await BucketClient.connect({ port: server.port });
  try {
    await client.createBucket('box');
    const files = Array.from({ length: 300 }, (_, i) => ({ name: `f${String(i).padStart(3, '0')}.bin`, data: Buffer.from(`file ${i} `.repeat(1 + (i % 50))) }));
    const results = await Promise.allSettled(files.map((file, i) => client.put(i === 150 ? 'nosuch' : 'box', file.name, file.data)));
    results.forEach((result, i) => {
      if (i === 150) {
        assert.equal(result.status, 'rejected');
        assert.ok(result.status === 'rejected' && result.reason instanceof BucketError && result.reason.code === 'NO_SUCH_BUCKET');
        return;
      }
      assert.equal(result.status, 'fulfilled', `put ${i}`);
      assert.deepEqual(result.status === 'fulfilled' && result.value, { bucket: 'box', name: files[i]!.name, size: files[i]!.data.length, sha256: sha(files[i]!.data) });
    });
    // Another kind of call after the puts waits for their replies, then works as before.
    const listed = await client.listFiles('box');
    assert.equal(listed.length, 299);
    for (const file of listed) assert.equal(file.sha256, sha(files[Number(file.name.slice(1, 4))]!.data));
  } finally {
    await client.exit();
    await server.stop();
  }
});

test('the library pipelines gets the same way; a file too large to hold drops only that connection, and the next call goes on', async () => {
  const server = await startServer();
  const client = await BucketClient.connect({ port: server.port });
  try {
    await client.createBucket('box');
    const files = Array.from({ length: 200 }, (_, i) => ({ name: `g${i}.bin`, data: Buffer.from(`get ${i} `.repeat(1 + (i % 70))) }));
    await Promise.all(files.map((file) => client.put('box', file.name, file.data)));
    await client.put('box', 'empty.bin', Buffer.alloc(0));
    const got = await Promise.allSettled([...files.map((file) => client.get('box', file.name)), client.get('box', 'missing.bin'), client.get('box', 'empty.bin')]);
    files.forEach((file, i) => {
      const result = got[i]!;
      assert.equal(result.status, 'fulfilled', file.name);
      assert.ok(result.status === 'fulfilled' && result.value.data.equals(file.data) && result.value.sha256 === sha(file.data), file.name);
    });
    const missing = got[files.length]!;
    assert.ok(missing.status === 'rejected' && missing.reason instanceof BucketError && missing.reason.code === 'NO_SUCH_FILE');
    const empty = got[files.length + 1]!;
    assert.ok(empty.status === 'fulfilled' && empty.value.size === 0 && empty.value.sha256 === sha(''));

    await assert.rejects(client.get('box', 'g199.bin', { maxBytes: 10 }), { code: 'TOO_LARGE_TO_HOLD' });
    assert.deepEqual((await client.get('box', 'g1.bin')).data, files[1]!.data, 'a fresh connection serves the next call');
  } finally {
    await client.exit();
    await server.stop();
  }
});

test('pipelined on one connection, uploads commit while the next are read: replies in order, the last of two to one name wins, and what follows sees them all', async () => {
  const server = await startServer({ args: ['--log-level', 'debug', '--log-format', 'json'] });
  try {
    const peer = await RawPeer.connect(server.port);
    const uploads = Array.from({ length: 40 }, (_, i) => ({ name: `f${String(i).padStart(2, '0')}.txt`, body: `body of file ${i}\n`.repeat(1 + (i % 7)) }));
    // The same name twice, far apart and close together: the later must win,
    // even right behind a large one whose fsync takes longer than its own.
    uploads.push({ name: 'f03.txt', body: 'the third, sent again' }, { name: 'f39.txt', body: 'the last, sent again' });
    for (let i = 0; i < 5; i++) uploads.push({ name: `dup${i}.txt`, body: `large ${i} `.repeat(100_000) }, { name: `dup${i}.txt`, body: `small ${i}` });
    // Refusals among them, each right behind an upload still committing: their
    // replies (which need no commit) must still wait for the upload's.
    const pipeline: Buffer[] = [Buffer.from('NEW_BUCKET,box\n')];
    const expected: Array<string | RegExp> = [/^201,box,/];
    for (const [i, { name, body }] of uploads.entries()) {
      pipeline.push(atOnce('box', name, body));
      expected.push(`201,box,${name},${body.length},${sha(body)} stored "${name}" (${body.length} bytes)`);
      if (name.startsWith('dup')) continue; // the pairs stay side by side
      if (i % 3 === 0) {
        pipeline.push(atOnce('nosuch', 'x.txt', 'HELLO\nHELLO\n'));
        expected.push(/^404,NO_SUCH_BUCKET /);
      } else if (i % 3 === 1) {
        pipeline.push(atOnce('box', 'y.txt', 'content', sha('other content')));
        expected.push(/^422,CHECKSUM_MISMATCH /);
      }
    }
    pipeline.push(atOnce('box', 'z.txt', 'after the refusals'), Buffer.from('DOWNLOAD_FILE,box,f03.txt\n'));
    expected.push(/^201,box,z\.txt,/);
    peer.send(Buffer.concat(pipeline));
    for (const [i, reply] of expected.entries()) {
      const line = await peer.line();
      if (typeof reply === 'string') assert.equal(line, reply, `reply ${i}`);
      else assert.match(line, reply, `reply ${i}`);
    }
    // A download right behind the uploads sees the later of the two.
    assert.match(await peer.line(), /^150,f03\.txt,21 /);
    assert.equal((await peer.bytes(21)).toString(), 'the third, sent again');
    assert.match(await peer.line(), new RegExp(`^200,${sha('the third, sent again')} `));
    peer.send('LIST_FILE,box\n');
    assert.match(await peer.line(), /^200,46 /);
    const listed = new Map<string, string>();
    for (let i = 0; i < 46; i++) {
      const [name, , , sha256] = (await peer.line()).split(',');
      listed.set(name!, sha256!);
    }
    assert.equal(listed.get('f39.txt'), sha('the last, sent again'));
    assert.equal(listed.get('f00.txt'), sha(uploads[0]!.body));
    for (let i = 0; i < 5; i++) assert.equal(listed.get(`dup${i}.txt`), sha(`small ${i}`), `the later upload to dup${i}.txt stays`);
    peer.close();
    await server.stop();
    // The uploads did commit while the next were read (the server says so at debug level).
    const overlapping = server
      .stderr()
      .split('\n')
      .filter((line) => line.includes('reading on while uploads commit'))
      .map((line) => (JSON.parse(line) as { committing: number }).committing);
    assert.ok(overlapping.some((committing) => committing >= 2), `never two uploads committing at once: ${JSON.stringify(overlapping)}`);
    // Each upload's log line counts its own bytes, not those of the requests read while it committed.
    const logged = server
      .stderr()
      .split('\n')
      .filter((line) => line.includes('"command":"UPLOAD_FILE"') && line.includes('"code":"OK"'))
      .map((line) => JSON.parse(line) as { name?: string; bytesIn: number; bytesOut: number });
    assert.equal(logged.length, uploads.length + 1);
    for (const [i, { name, body }] of uploads.entries()) {
      const line = logged[i]!;
      assert.equal(line.name, name);
      assert.equal(line.bytesIn, atOnce('box', name, body).length, `bytes in of ${name}`);
      assert.equal(line.bytesOut, `201,box,${name},${body.length},${sha(body)} stored "${name}" (${body.length} bytes)\n`.length, `bytes out of ${name}`);
    }
  } finally {
    await server.stop();
  }
});

test('SIGTERM while pipelined uploads commit: every upload answered is stored, and SHUTTING_DOWN comes only after their replies', async () => {
  const root = await newRoot();
  let server = await startServer({ root });
  try {
    const peer = await RawPeer.connect(server.port);
    peer.send('NEW_BUCKET,box\n');
    assert.match(await peer.line(), /^201,box,/);
    const bodies = Array.from({ length: 400 }, (_, i) => `file ${i} `.repeat(50));
    peer.send(Buffer.concat(bodies.map((body, i) => atOnce('box', `f${i}.txt`, body))));
    assert.match(await peer.line(), /^201,box,f0\.txt,/);
    server.child.kill('SIGTERM');
    // Whatever came: 201s in order, then at most one SHUTTING_DOWN, then the end.
    const answered: number[] = [0];
    for (;;) {
      const line = await peer.line().catch(() => undefined);
      if (line === undefined) break;
      const stored = /^201,box,f(\d+)\.txt,/.exec(line);
      if (stored) {
        assert.equal(Number(stored[1]), answered.length, `replies in order: ${line}`);
        answered.push(Number(stored[1]));
        continue;
      }
      assert.match(line, /^503,SHUTTING_DOWN /);
      assert.equal(await peer.line().catch(() => undefined), undefined, 'nothing after SHUTTING_DOWN');
      break;
    }
    const code = server.child.exitCode ?? (await new Promise<number | null>((resolve) => server.child.once('exit', resolve)));
    assert.equal(code, 0);
    server = await startServer({ root });
    const client = await BucketClient.connect({ port: server.port });
    const listed = new Map((await client.listFiles('box')).map((file) => [file.name, file.sha256]));
    for (const i of answered) assert.equal(listed.get(`f${i}.txt`), sha(bodies[i]!), `f${i}.txt was answered as stored`);
    // And the other way: an upload the server took in was answered before it closed.
    assert.equal(listed.size, answered.length, `stored ${listed.size}, answered ${answered.length}`);
    await client.exit();
  } finally {
    await server.stop();
  }
});

test('group commit: every file a client was told is stored is there, whole, after the server is killed (kill -9) and started again', async () => {
  const root = await newRoot();
  const stored = new Map<string, string>();
  let server = await startServer({ root });
  const port = server.port;
  await (await BucketClient.connect({ port })).createBucket('box');
  // Four connections, each with 16 uploads in flight into the same folders, until the kill.
  const writers = Array.from({ length: 4 }, async (_, lane) => {
    const client = await BucketClient.connect({ port });
    let next = 0;
    const one = async (): Promise<void> => {
      for (;;) {
        const name = `dir${next % 3}/l${lane}-${next++}.bin`;
        const data = Buffer.from(`${name} `.repeat(20 + (next % 200)));
        try {
          const result = await client.put('box', name, data);
          stored.set(result.name, result.sha256);
        } catch {
          return; // the server is gone
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, one));
    client.close();
  });
  await new Promise((resolve) => setTimeout(resolve, 700));
  server.child.kill('SIGKILL');
  await Promise.all(writers);
  assert.ok(stored.size > 20, `only ${stored.size} uploads were answered before the kill`);
  server = await startServer({ root });
  const client = await BucketClient.connect({ port: server.port });
  try {
    const listed = new Map((await client.listFiles('box')).map((file) => [file.name, file]));
    for (const [name, sha256] of stored) {
      assert.equal(listed.get(name)?.sha256, sha256, `${name} was stored`);
    }
    // Nothing listed is half a file: each one's bytes match its name's pattern.
    for (const file of listed.values()) {
      const chunks: Buffer[] = [];
      const { Writable } = await import('node:stream');
      await client.download('box', file.name, new Writable({ write: (chunk: Buffer, _encoding, done) => (chunks.push(chunk), done()) }));
      const bytes = Buffer.concat(chunks).toString();
      assert.ok(bytes.length > 0 && bytes.split(`${file.name} `).join('') === '', `${file.name} is whole`);
    }
  } finally {
    await client.exit();
    await server.stop();
  }
});
