/**
 * Resumable uploads, from the server's side, over raw sockets to the real
 * bucketd: bytes survive a broken connection and a SIGKILL, nothing partial
 * is ever listed, one connection feeds an upload at a time, expired uploads
 * go, staged bytes count against quotas, and every bad resume gets its code
 * with the staged upload left usable.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { logIn } from '../helpers/login.js';
import { mountTinyDisk, unmountTinyDisk } from '../helpers/disk.js';
import { RawPeer } from '../helpers/raw.js';
import { bucketd, newRoot } from '../helpers/bucketd.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

const MiB = 1024 * 1024;
const sha = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** Bytes that differ along their length, so that a misplaced range shows. */
function patterned(size: number, seed = 1): Buffer {
  const bytes = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

interface Listed {
  id: string;
  bucket: string;
  name: string;
  size: number;
  held: number;
  expires: string;
}

async function request(port: number, line: string, peer?: RawPeer): Promise<string> {
  const own = peer ?? (await RawPeer.connect(port));
  try {
    own.send(`${line}\n`);
    return await own.line();
  } finally {
    if (!peer) own.close();
  }
}

/**
 * The reply to a RESUME_UPLOAD or ABORT_UPLOAD of an upload whose
 * connection was just cut: the server lets go of it only once it has seen
 * the break (and made what arrived durable), and answers UPLOAD_BUSY until
 * then, so that is asked again, for a few seconds at most.
 */
async function onceLetGo(port: number, line: string, peer?: RawPeer): Promise<string> {
  const own = peer ?? (await RawPeer.connect(port));
  try {
    for (let attempt = 1; ; attempt++) {
      own.send(`${line}\n`);
      const reply = await own.line();
      if (!reply.startsWith('409,UPLOAD_BUSY ') || attempt === 50) return reply;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    if (!peer) own.close();
  }
}

async function listItems(port: number, line: string, peer?: RawPeer): Promise<string[]> {
  const own = peer ?? (await RawPeer.connect(port));
  try {
    own.send(`${line}\n`);
    const head = await own.line();
    const count = Number(/^200,(\d+) /.exec(head)?.[1] ?? Number.NaN);
    assert.ok(Number.isInteger(count), `a list reply: ${head}`);
    const items: string[] = [];
    for (let i = 0; i < count; i++) items.push(await own.line());
    return items;
  } finally {
    if (!peer) own.close();
  }
}

async function uploads(port: number, peer?: RawPeer): Promise<Listed[]> {
  return (await listItems(port, 'LIST_UPLOADS', peer)).map((item) => {
    const [id = '', bucket = '', name = '', size = '', held = '', , expires = ''] = item.split(',');
    return { id, bucket, name, size: Number(size), held: Number(held), expires };
  });
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    assert.ok(Date.now() < deadline, `${what}: not in time`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Waits until the upload is listed holding at least `atLeast` bytes. */
function heldAtLeast(port: number, id: string, atLeast: number): Promise<Listed> {
  return eventually(`upload ${id} holding ${atLeast} bytes`, async () => (await uploads(port)).find((upload) => upload.id === id && upload.held >= atLeast));
}

/** Starts an upload on a fresh connection; the go-ahead's id. */
async function start(port: number, bucket: string, name: string, size: number): Promise<{ peer: RawPeer; id: string }> {
  const peer = await RawPeer.connect(port);
  peer.send(`UPLOAD_FILE,${bucket},${name},${size}\n`);
  const goAhead = await peer.line();
  const id = new RegExp(`^150,${name.replace(/\./g, '\\.')},${size},([0-9a-f]{32}) `).exec(goAhead)?.[1];
  assert.ok(id, `a go-ahead with an id: ${goAhead}`);
  return { peer, id };
}

/** Sends `bytes` in pieces, letting the server take them. */
async function feed(peer: RawPeer, bytes: Buffer, piece = 256 * 1024): Promise<void> {
  for (let at = 0; at < bytes.length; at += piece) {
    peer.send(bytes.subarray(at, at + piece));
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function resume(port: number, id: string, body: Buffer, offset?: number): Promise<string[]> {
  const peer = await RawPeer.connect(port);
  try {
    const goAhead = await onceLetGo(port, `RESUME_UPLOAD,${id}${offset === undefined ? '' : `,${offset}`}`, peer);
    const match = /^150,[^,]+,(\d+),([0-9a-f]{32}),(\d+) /.exec(goAhead);
    if (!match) return [goAhead];
    const from = Number(match[3]);
    assert.equal(Number(match[1]), body.length);
    await feed(peer, body.subarray(from));
    peer.send(`SHA256,${sha(body)}\n`);
    return [goAhead, await peer.line(10_000)];
  } finally {
    peer.close();
  }
}

async function download(port: number, bucket: string, name: string): Promise<Buffer> {
  const peer = await RawPeer.connect(port);
  try {
    peer.send(`DOWNLOAD_FILE,${bucket},${name}\n`);
    const size = Number(/^150,[^,]+,(\d+) /.exec(await peer.line())?.[1]);
    const bytes = await peer.bytes(size, 20_000);
    assert.match(await peer.line(), new RegExp(`^200,${sha(bytes)} `));
    return bytes;
  } finally {
    peer.close();
  }
}

/** Writes `file` until the disk is full. */
async function fillDisk(file: string): Promise<void> {
  const handle = await open(file, 'w');
  try {
    const block = Buffer.alloc(64 * 1024, 0x68);
    for (;;) await handle.write(block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    await handle.close();
  }
}

/** A connection logged in as `user`, whose password is "<user>'s password". */

async function stagedFiles(server: RunningServer): Promise<string[]> {
  return readdir(path.join(server.root, '.bucketd', 'uploads'));
}

test('a broken upload resumes from what the server holds; nothing partial is ever listed, and a replaced file stays whole until the commit', async () => {
  const server = await startServer();
  try {
    assert.match(await request(server.port, 'NEW_BUCKET,box'), /^201,/);
    const old = Buffer.from('the old content\n');
    const first = await start(server.port, 'box', 'doc.bin', old.length);
    first.peer.send(old);
    first.peer.send(`SHA256,${sha(old)}\n`);
    assert.match(await first.peer.line(), /^201,box,doc\.bin,/);
    first.peer.close();

    const body = patterned(3 * MiB + 17);
    const { peer, id } = await start(server.port, 'box', 'doc.bin', body.length);
    // Until the commit, a listing shows the old file; then the new one, whole.
    const seen: string[] = [];
    let stop = false;
    const watcher = (async () => {
      while (!stop) seen.push((await listItems(server.port, 'LIST_FILE,box')).map((item) => item.split(',').slice(0, 2).join(',')).join(' '));
    })();
    await feed(peer, body.subarray(0, 2 * MiB));
    peer.socket.destroy(); // vanishes mid-body
    const listed = await heldAtLeast(server.port, id, 1);
    assert.equal(listed.bucket, 'box');
    assert.equal(listed.name, 'doc.bin');
    assert.equal(listed.size, body.length);
    assert.ok(listed.held <= 2 * MiB, `held ${listed.held}`);
    assert.match(listed.expires, /^\d{4}-\d\d-\d\dT/, 'it expires (24 h by default)');
    assert.deepEqual((await download(server.port, 'box', 'doc.bin')).toString(), old.toString());

    const [goAhead, stored] = await resume(server.port, id, body);
    assert.match(goAhead!, new RegExp(`^150,doc\\.bin,${body.length},${id},${listed.held} send the ${body.length - listed.held} bytes from offset ${listed.held}, then the SHA256 trailer of the whole file$`));
    assert.equal(stored, `201,box,doc.bin,${body.length},${sha(body)} stored "doc.bin" (${body.length} bytes)`);
    stop = true;
    await watcher;
    assert.ok(seen.length > 0);
    const committedAt = seen.indexOf(`doc.bin,${body.length}`);
    const before = committedAt < 0 ? seen : seen.slice(0, committedAt);
    assert.ok(before.length > 0 && before.every((listing) => listing === `doc.bin,${old.length}`), `before the commit, only the old file: ${[...new Set(before)].join(' | ')}`);
    assert.ok(seen.slice(before.length).every((listing) => listing === `doc.bin,${body.length}`), 'after it, only the new one');
    assert.equal(sha(await download(server.port, 'box', 'doc.bin')), sha(body));
    assert.deepEqual(await uploads(server.port), [], 'a committed upload is no longer listed');
    assert.deepEqual(await stagedFiles(server), []);
    assert.match(await request(server.port, `RESUME_UPLOAD,${id}`), /^404,NO_SUCH_UPLOAD /);
  } finally {
    await server.stop();
  }
});

test('bytes made durable survive a SIGKILL of the server; after a restart the upload resumes to a correct commit', async () => {
  const root = await newRoot();
  let server = await startServer({ root });
  try {
    assert.match(await request(server.port, 'NEW_BUCKET,box'), /^201,/);
    const body = patterned(20 * MiB, 7);
    const { peer, id } = await start(server.port, 'box', 'big.bin', body.length);
    await feed(peer, body.subarray(0, 12 * MiB));
    // Checkpointed every 8 MiB: by then the record says so.
    const before = await heldAtLeast(server.port, id, 8 * MiB);
    const gone = new Promise((resolve) => server.child.once('exit', resolve));
    server.child.kill('SIGKILL');
    await gone;
    peer.close();

    server = await startServer({ root });
    const after = (await uploads(server.port)).find((upload) => upload.id === id);
    assert.ok(after, 'the upload is still there after the restart');
    assert.ok(after.held >= before.held && after.held <= 12 * MiB, `held ${after.held} (${before.held} before the kill)`);
    assert.deepEqual(await listItems(server.port, 'LIST_FILE,box'), [], 'nothing partial is listed');
    const [, stored] = await resume(server.port, id, body);
    assert.match(stored!, new RegExp(`^201,box,big\\.bin,${body.length},${sha(body)} `));
    assert.equal(sha(await download(server.port, 'box', 'big.bin')), sha(body));
    assert.deepEqual(await stagedFiles(server), []);
  } finally {
    await server.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('one connection feeds an upload at a time: of two racing resumes, one goes ahead and the other gets UPLOAD_BUSY', async () => {
  const server = await startServer();
  try {
    assert.match(await request(server.port, 'NEW_BUCKET,box'), /^201,/);
    const body = patterned(1 * MiB, 3);
    const first = await start(server.port, 'box', 'race.bin', body.length);
    await feed(first.peer, body.subarray(0, 300_000));
    // The feeding connection holds it: no resume, no abort.
    assert.match(await request(server.port, `RESUME_UPLOAD,${first.id}`), new RegExp(`^409,UPLOAD_BUSY upload ${first.id} is being sent on another connection now`));
    assert.match(await request(server.port, `ABORT_UPLOAD,${first.id}`), /^409,UPLOAD_BUSY /);
    first.peer.socket.destroy();
    await heldAtLeast(server.port, first.id, 1);

    // The listing may show a checkpoint taken before the server saw the
    // first connection go; until it has let go, both racers are told
    // UPLOAD_BUSY, and the race is run again (a few times at most).
    let a: RawPeer;
    let b: RawPeer;
    let replies: string[];
    for (let round = 1; ; round++) {
      [a, b] = await Promise.all([RawPeer.connect(server.port), RawPeer.connect(server.port)]);
      a.send(`RESUME_UPLOAD,${first.id}\n`);
      b.send(`RESUME_UPLOAD,${first.id}\n`);
      replies = await Promise.all([a.line(), b.line()]);
      if (replies.some((reply) => !reply.startsWith('409,UPLOAD_BUSY ')) || round === 50) break;
      a.close();
      b.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const winner = replies.findIndex((reply) => reply.startsWith('150,'));
    assert.ok(winner >= 0, `one goes ahead: ${replies.join(' | ')}`);
    assert.match(replies[1 - winner]!, /^409,UPLOAD_BUSY /);
    const peer = winner === 0 ? a : b;
    const offset = Number(replies[winner]!.split(',')[4]!.split(' ')[0]);
    await feed(peer, body.subarray(offset));
    peer.send(`SHA256,${sha(body)}\n`);
    assert.match(await peer.line(), /^201,box,race\.bin,/);
    a.close();
    b.close();
  } finally {
    await server.stop();
  }
});

test('bad resumes get their codes and leave the staged upload usable', async () => {
  const server = await startServer();
  try {
    assert.match(await request(server.port, 'NEW_BUCKET,box'), /^201,/);
    const body = patterned(600_000, 5);
    const { peer, id } = await start(server.port, 'box', 'f.bin', body.length);
    await feed(peer, body.subarray(0, 200_000));
    peer.socket.destroy();
    await heldAtLeast(server.port, id, 1);
    // What it holds once let go (a listing may show an earlier checkpoint): the server's own answer.
    const beyond = await onceLetGo(server.port, `RESUME_UPLOAD,${id},${body.length}`);
    const held = Number(/^416,BAD_OFFSET,(\d+) /.exec(beyond)?.[1]);
    assert.ok(held > 0 && held <= 200_000, beyond);

    assert.match(await request(server.port, 'RESUME_UPLOAD,0123456789abcdef0123456789abcdef'), /^404,NO_SUCH_UPLOAD /);
    assert.match(await request(server.port, 'RESUME_UPLOAD,not-an-id'), /^400,BAD_FIELD an upload id is 32 lower-case hex digits$/);
    assert.match(await request(server.port, `RESUME_UPLOAD,${id.toUpperCase()}`), /^400,BAD_FIELD /);
    assert.match(await request(server.port, `RESUME_UPLOAD,${id},${held + 1}`), new RegExp(`^416,BAD_OFFSET,${held} the server holds ${held} bytes of this upload$`));
    assert.match(await request(server.port, `RESUME_UPLOAD,${id},-1`), /^400,BAD_FIELD /);
    assert.match(await request(server.port, `RESUME_UPLOAD,${id},1,2`), /^400,WRONG_FIELD_COUNT /);
    assert.match(await request(server.port, 'ABORT_UPLOAD,0123456789abcdef0123456789abcdef'), /^404,NO_SUCH_UPLOAD /);
    assert.match(await request(server.port, 'LIST_UPLOADS,BAD'), /^400,INVALID_BUCKET_NAME /);
    assert.equal((await uploads(server.port)).find((upload) => upload.id === id)?.held, held, 'still held after the refusals');

    // A trailer that is not one: BAD_TRAILER and a close, the bytes kept.
    const bad = await RawPeer.connect(server.port);
    assert.match(await onceLetGo(server.port, `RESUME_UPLOAD,${id}`, bad), /^150,/);
    await feed(bad, body.subarray(held));
    bad.send('not a trailer\n');
    assert.match(await bad.line(), /^400,BAD_TRAILER /);
    await bad.closedByPeer();
    await heldAtLeast(server.port, id, body.length);

    // From an earlier offset the client chose: the bytes past it are dropped and sent again.
    const [goAhead, stored] = await resume(server.port, id, body, 100_000);
    assert.match(goAhead!, new RegExp(`^150,f\\.bin,${body.length},${id},100000 `));
    assert.match(stored!, new RegExp(`^201,box,f\\.bin,${body.length},${sha(body)} `));

    // A whole-file hash that does not match: nothing stored, the upload gone.
    const other = await start(server.port, 'box', 'g.bin', body.length);
    await feed(other.peer, body.subarray(0, 100_000));
    other.peer.socket.destroy();
    await heldAtLeast(server.port, other.id, 1);
    const wrong = await RawPeer.connect(server.port);
    const from = Number((await onceLetGo(server.port, `RESUME_UPLOAD,${other.id}`, wrong)).split(',')[4]!.split(' ')[0]);
    await feed(wrong, body.subarray(from));
    wrong.send(`SHA256,${sha('something else')}\n`);
    assert.match(await wrong.line(), /^422,CHECKSUM_MISMATCH /);
    assert.match(await request(server.port, 'HELLO', wrong), /^200,bucketd,/, 'the connection goes on');
    wrong.close();
    assert.match(await request(server.port, `RESUME_UPLOAD,${other.id}`), /^404,NO_SUCH_UPLOAD /);
    assert.deepEqual((await listItems(server.port, 'LIST_FILE,box')).map((item) => item.split(',')[0]), ['f.bin']);
    assert.deepEqual(await stagedFiles(server), []);
  } finally {
    await server.stop();
  }
});

test('unfinished uploads expire after --upload-ttl, and an expired one is removed at start', async () => {
  const root = await newRoot();
  let server = await startServer({ root, args: ['--upload-ttl', '1s'] });
  try {
    assert.match(await request(server.port, 'NEW_BUCKET,box'), /^201,/);
    const body = patterned(100_000);
    const { peer, id } = await start(server.port, 'box', 'e.bin', body.length);
    await feed(peer, body.subarray(0, 50_000));
    peer.socket.destroy();
    await heldAtLeast(server.port, id, 1);
    // The sweeper removes it, bytes and all.
    await eventually('the expired upload removed', async () => ((await stagedFiles(server)).length === 0 ? true : undefined), 10_000);
    assert.deepEqual(await uploads(server.port), []);
    assert.match(await request(server.port, `RESUME_UPLOAD,${id}`), /^404,NO_SUCH_UPLOAD /);

    // Left by a server that never swept it (TTL 0: never), then started with a TTL it has outlived.
    await server.stop();
    server = await startServer({ root, args: ['--upload-ttl', '0'] });
    const next = await start(server.port, 'box', 'n.bin', body.length);
    await feed(next.peer, body.subarray(0, 50_000));
    next.peer.socket.destroy();
    assert.equal((await heldAtLeast(server.port, next.id, 1)).expires, '', 'TTL 0: never expires');
    await server.stop();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    server = await startServer({ root, args: ['--upload-ttl', '1s'] });
    assert.deepEqual(await uploads(server.port), []);
    assert.deepEqual(await stagedFiles(server), []);
  } finally {
    await server.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('with users: an upload is its owner’s (or a bucket admin’s) to see, resume and abort; staged bytes count against the quota', async () => {
  const root = await newRoot();
  for (const user of ['alice', 'bob', 'carol']) assert.equal((await bucketd(['user', 'add', user, '--root', root], `${user}'s password\n`)).code, 0);
  let server: RunningServer | undefined;
  try {
    server = await startServer({ root });
    const port = server.port;
    const loginAs = (user: string): Promise<RawPeer> => logIn(port, user);
    const alice = await loginAs('alice');
    assert.match(await request(port, 'NEW_BUCKET,team', alice), /^201,/);
    assert.equal((await bucketd(['user', 'grant', 'bob', 'team', 'write', '--root', root])).code, 0);
    assert.equal((await bucketd(['user', 'grant', 'carol', 'team', 'admin', '--root', root])).code, 0);
    assert.equal((await bucketd(['bucket', 'quota', 'team', '1000', '--root', root])).code, 0);

    const bob = await loginAs('bob');
    bob.send('UPLOAD_FILE,team,b.bin,800\n');
    const id = /^150,b\.bin,800,([0-9a-f]{32}) /.exec(await bob.line())?.[1];
    assert.ok(id);
    bob.send(Buffer.alloc(600, 0x62));
    await new Promise((resolve) => setTimeout(resolve, 100));
    bob.socket.destroy();

    const bob2 = await loginAs('bob');
    await eventually('bob sees his upload', async () => ((await uploads(port, bob2)).some((upload) => upload.id === id && upload.held === 600) ? true : undefined));
    // Staged bytes count: 600 held + 500 more would pass the quota of 1000.
    assert.match(await request(port, 'UPLOAD_FILE,team,c.bin,500', bob2), /^413,QUOTA_EXCEEDED,400 /);

    const alice2 = await loginAs('alice'); // admin of team, as its creator
    assert.deepEqual((await uploads(port, alice2)).map((upload) => upload.id), [id], 'a bucket admin sees it');
    const anonymous = await RawPeer.connect(port);
    assert.deepEqual(await uploads(port, anonymous), [], 'the anonymous user sees none');
    assert.match(await request(port, `RESUME_UPLOAD,${id}`, anonymous), /^401,AUTH_REQUIRED /);
    // Another user with write but not admin: not his.
    assert.equal((await bucketd(['user', 'grant', 'carol', 'team', 'write', '--root', root])).code, 0);
    const carol = await loginAs('carol');
    assert.deepEqual(await uploads(port, carol), []);
    assert.match(await request(port, `RESUME_UPLOAD,${id}`, carol), /^403,FORBIDDEN,owner /);
    assert.match(await request(port, `ABORT_UPLOAD,${id}`, carol), /^403,FORBIDDEN,owner /);
    // Refused attempts leave it counting against the quota as before.
    assert.match(await request(port, 'UPLOAD_FILE,team,c.bin,500', bob2), /^413,QUOTA_EXCEEDED,400 /);

    // Its owner resumes it; the whole size was within the quota.
    assert.match(await onceLetGo(port, `RESUME_UPLOAD,${id}`, bob2), new RegExp(`^150,b\\.bin,800,${id},600 `));
    const whole = Buffer.alloc(800, 0x62);
    bob2.send(whole.subarray(600));
    bob2.send(`SHA256,${sha(whole)}\n`);
    assert.match(await bob2.line(), /^201,team,b\.bin,800,/);

    // An admin may abort another's.
    bob2.send('UPLOAD_FILE,team,d.bin,100\n');
    const other = /^150,d\.bin,100,([0-9a-f]{32}) /.exec(await bob2.line())?.[1];
    assert.ok(other);
    bob2.send(Buffer.alloc(50, 0x64));
    await new Promise((resolve) => setTimeout(resolve, 100));
    bob2.socket.destroy();
    await eventually('the second upload listed', async () => ((await uploads(port, alice2)).some((upload) => upload.id === other) ? true : undefined));
    assert.match(await request(port, `ABORT_UPLOAD,${other}`, alice2), new RegExp(`^200,${other},50 upload ${other} aborted; 50 staged bytes released$`));
    for (const peer of [alice, alice2, anonymous, carol]) peer.close();
  } finally {
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('a disk that fills while staging: NO_SPACE, and what was durable resumes once there is room', async (t) => {
  const base = await tempDir();
  const disk = path.join(base, 'disk');
  await mkdir(disk);
  if (process.getuid?.() !== 0 || !mountTinyDisk(disk, '12m')) {
    t.skip('needs root to mount a small tmpfs');
    await rm(base, { recursive: true, force: true });
    return;
  }
  const server = await startServer({ root: path.join(disk, 'root') });
  try {
    assert.match(await request(server.port, 'NEW_BUCKET,box'), /^201,/);
    const body = patterned(10 * MiB, 11);
    const { peer, id } = await start(server.port, 'box', 'big.bin', body.length);
    await feed(peer, body.subarray(0, 9 * MiB));
    await heldAtLeast(server.port, id, 8 * MiB);
    // Something else on the machine takes the rest of the disk.
    const hog = path.join(disk, 'hog');
    await fillDisk(hog);
    peer.send(body.subarray(9 * MiB));
    peer.send(`SHA256,${sha(body)}\n`);
    // Mid-body, or at the commit if the body was all taken in by then.
    assert.match(await peer.line(10_000), /^507,NO_SPACE /);
    peer.close();
    const listed = await heldAtLeast(server.port, id, 1);
    assert.ok(listed.held >= 8 * MiB, `what was durable is kept: ${listed.held}`);
    await unlink(hog).catch(() => undefined);
    const [, stored] = await resume(server.port, id, body);
    assert.match(stored!, new RegExp(`^201,box,big\\.bin,${body.length},${sha(body)} `));
  } finally {
    await server.stop();
    unmountTinyDisk(disk);
    await rm(base, { recursive: true, force: true });
  }
});

test('an upload the anonymous user started is for those who may write its bucket: not for a visitor without a grant', async () => {
  const root = await newRoot();
  let server = await startServer({ root });
  try {
    assert.match(await request(server.port, 'NEW_BUCKET,team'), /^201,/);
    const { peer, id } = await start(server.port, 'team', 'plans.bin', 800);
    peer.send(Buffer.alloc(600, 0x70));
    await heldAtLeast(server.port, id, 600);
    peer.socket.destroy();
    await server.stop();
    // Users arrive; the upload, started before them, has no owner.
    for (const user of ['alice', 'bob']) assert.equal((await bucketd(['user', 'add', user, '--root', root], `${user}'s password\n`)).code, 0);
    assert.equal((await bucketd(['user', 'grant', 'alice', 'team', 'write', '--root', root])).code, 0);
    server = await startServer({ root });
    const port = server.port;
    const visitor = await RawPeer.connect(port);
    assert.deepEqual(await uploads(port, visitor), [], 'a visitor without a grant sees nothing');
    assert.match(await request(port, `ABORT_UPLOAD,${id}`, visitor), /^401,AUTH_REQUIRED /);
    assert.match(await request(port, `RESUME_UPLOAD,${id}`, visitor), /^401,AUTH_REQUIRED /);
    visitor.close();
    const loginAs = (user: string): Promise<RawPeer> => logIn(port, user);
    const bob = await loginAs('bob'); // no grant on team
    assert.deepEqual(await uploads(port, bob), []);
    assert.match(await request(port, `ABORT_UPLOAD,${id}`, bob), /^403,FORBIDDEN,owner /);
    const alice = await loginAs('alice'); // write on team
    assert.deepEqual((await uploads(port, alice)).map((upload) => upload.id), [id]);
    alice.send(`RESUME_UPLOAD,${id}\n`);
    assert.match(await alice.line(), new RegExp(`^150,plans\\.bin,800,${id},600 `));
    const whole = Buffer.alloc(800, 0x70);
    alice.send(whole.subarray(600));
    alice.send(`SHA256,${sha(whole)}\n`);
    assert.match(await alice.line(), /^201,team,plans\.bin,800,/);
    bob.close();
    alice.close();
  } finally {
    await server.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('a deleted bucket takes its unfinished uploads with it; a folder in the way of a resume is refused before any byte, the upload kept', async () => {
  const server = await startServer();
  try {
    assert.match(await request(server.port, 'NEW_BUCKET,team'), /^201,/);
    const doomed = await start(server.port, 'team', 'x.bin', 100);
    doomed.peer.send(Buffer.alloc(40, 1));
    await heldAtLeast(server.port, doomed.id, 40);
    // Deleted while the upload may still be fed (the server may not have noticed the break yet), or after.
    doomed.peer.socket.destroy();
    assert.match(await request(server.port, 'DELETE_BUCKET,team,FORCE'), /^200,team,0 /);
    assert.match(await request(server.port, 'NEW_BUCKET,team'), /^201,/);
    assert.deepEqual(await uploads(server.port), [], 'nothing of the old bucket turns up in the new one');
    await eventually('the old upload gone', async () => ((await stagedFiles(server)).length === 0 ? true : undefined));
    assert.match(await request(server.port, `RESUME_UPLOAD,${doomed.id}`), /^404,NO_SUCH_UPLOAD /);
    assert.deepEqual(await uploads(server.port), []);

    // A file where the upload needs a folder: refused at the resume, before the client sends the rest.
    const nested = await start(server.port, 'team', 'a%2Fb.bin', 100);
    nested.peer.send(Buffer.alloc(40, 2));
    await heldAtLeast(server.port, nested.id, 40);
    nested.peer.socket.destroy();
    const blocker = await start(server.port, 'team', 'a', 1);
    blocker.peer.send('z');
    blocker.peer.send(`SHA256,${sha('z')}\n`);
    assert.match(await blocker.peer.line(), /^201,team,a,1,/);
    blocker.peer.close();
    assert.match(await onceLetGo(server.port, `RESUME_UPLOAD,${nested.id}`), /^409,PATH_CONFLICT /);
    assert.equal((await uploads(server.port)).find((upload) => upload.id === nested.id)?.held, 40, 'kept for later');
    assert.match(await request(server.port, 'DELETE_FILE,team,a'), /^200,/);
    const [, stored] = await resume(server.port, nested.id, Buffer.concat([Buffer.alloc(40, 2), Buffer.alloc(60, 2)]));
    assert.match(stored!, /^201,team,a%2Fb\.bin,100,/);
  } finally {
    await server.stop();
  }
});
