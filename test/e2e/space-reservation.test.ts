/**
 * Free space is reserved at the go-ahead: on a small real disk (a tmpfs,
 * which needs root; skipped otherwise), of two uploads that each fit alone
 * but not together, exactly one gets `150` and the other `507,NO_SPACE` at
 * once, before any body byte moves. NO_SPACE never tells the exact free
 * space.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { RawPeer } from '../helpers/raw.js';
import { mountTinyDisk, unmountTinyDisk } from '../helpers/disk.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

const MiB = 1024 * 1024;
const DISK = '12m';
const SIZE = 7 * MiB;
const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');


async function freeBytes(dir: string): Promise<number> {
  const stats = await statfs(dir);
  return stats.bavail * stats.bsize;
}

/**
 * Fails if the message of a reply states a free byte count: a number within
 * 64 KiB of one of `free` (measured by the test around the request).
 */
function assertNoFreeCount(reply: string, free: number[]): void {
  const message = reply.slice(reply.indexOf(' ') + 1);
  for (const match of message.matchAll(/[0-9][0-9,._]*/g)) {
    const value = Number(match[0].replace(/[,._]/g, ''));
    for (const bytes of free) {
      assert.ok(Math.abs(value - bytes) > 64 * 1024, `the NO_SPACE message tells the free space (${bytes} bytes): ${reply}`);
    }
  }
}

/** Runs `body` with a server whose ROOT is on a fresh 12 MiB tmpfs; skips loudly without root. */
async function withTinyDisk(
  t: TestContext,
  body: (server: RunningServer, disk: string, peers: RawPeer[]) => Promise<void>,
): Promise<void> {
  const base = await tempDir();
  const disk = path.join(base, 'disk');
  await mkdir(disk);
  if (process.getuid?.() !== 0 || !mountTinyDisk(disk, DISK)) {
    t.skip('SKIPPED: needs root to mount a 12 MiB tmpfs');
    await rm(base, { recursive: true, force: true });
    return;
  }
  const peers: RawPeer[] = [];
  let server: RunningServer | undefined;
  try {
    server = await startServer({ root: path.join(disk, 'root') });
    const admin = await RawPeer.connect(server.port);
    peers.push(admin);
    admin.send('NEW_BUCKET,box\n');
    assert.match(await admin.line(), /^201,box,/);
    await body(server, disk, peers);
  } finally {
    for (const peer of peers) peer.close();
    await server?.stop();
    unmountTinyDisk(disk);
    await rm(base, { recursive: true, force: true });
  }
}

test('an upload too large for the disk gets NO_SPACE without the free byte count', async (t) => {
  await withTinyDisk(t, async (_server, disk, peers) => {
    const admin = peers[0]!;
    const freeBefore = await freeBytes(disk);
    admin.send(`UPLOAD_FILE,box,huge.bin,${64 * MiB}\n`);
    const huge = await admin.line();
    assert.equal(huge.split(' ')[0], '507,NO_SPACE', huge);
    assertNoFreeCount(huge, [freeBefore, await freeBytes(disk)]);
    // Refused before any body byte: the connection stays in step.
    admin.send('HELLO\n');
    assert.match(await admin.line(), /^200,bucketd,/);
  });
});

test('two uploads that do not fit together: one 150, one NO_SPACE at once, and the first is stored', async (t) => {
  await withTinyDisk(t, async (server, disk, peers) => {
    const admin = peers[0]!;
    // Two uploads of 7 MiB on a 12 MiB disk, both asked before either sends.
    const [a, b] = await Promise.all([RawPeer.connect(server.port), RawPeer.connect(server.port)]);
    peers.push(a!, b!);
    const free = await freeBytes(disk);
    a!.send(`UPLOAD_FILE,box,a.bin,${SIZE}\n`);
    b!.send(`UPLOAD_FILE,box,b.bin,${SIZE}\n`);
    const replies = await Promise.all([a!.line(), b!.line()]);
    const codes = replies.map((reply) => reply.split(' ')[0]);
    const goAhead = codes.findIndex((code) => code?.startsWith('150,'));
    assert.ok(goAhead >= 0, `one upload gets the go-ahead: ${replies.join(' | ')}`);
    const other = 1 - goAhead;
    assert.equal(codes[other], '507,NO_SPACE', `the other is refused at once, not told to send: ${replies.join(' | ')}`);
    assertNoFreeCount(replies[other]!, [free, free - SIZE, await freeBytes(disk)]);

    // The upload that got the go-ahead completes and is stored whole.
    const winner = [a!, b!][goAhead]!;
    const name = goAhead === 0 ? 'a.bin' : 'b.bin';
    const body = Buffer.alloc(SIZE, 0x42);
    winner.send(Buffer.concat([body, Buffer.from(`SHA256,${sha(body)}\n`)]));
    const stored = await winner.line(10_000);
    assert.equal(stored.split(' ')[0], `201,box,${name},${SIZE},${sha(body)}`, stored);
    admin.send('LIST_FILE,box\n');
    assert.match(await admin.line(), /^200,1 /);
    assert.match(await admin.line(), new RegExp(`^${name.replace('.', '\\.')},${SIZE},`));
    assert.equal((await stat(path.join(server.root, 'box', name))).size, SIZE);
    assert.deepEqual(await readdir(path.join(server.root, '.bucketd', 'tmp')), []);
  });
});
