/**
 * The library resumes broken transfers by itself: a 64 MiB upload and a
 * 64 MiB download through a proxy that cuts the connection at 20 random
 * offsets end with identical bytes; nobody sees the file before it is
 * whole; retries stop after the budget; a failed hash is not retried.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BucketClient, downloadFile, uploadFile, uploadIdOf, type ResumeInfo, type UploadJournal, type UploadMark } from '../../src/client/index.js';
import { randomCuts, seededRandom, startCutProxy, testSeed } from '../helpers/cut-proxy.js';
import { bucketd, newRoot } from '../helpers/bucketd.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

const SIZE = 64 * 1024 * 1024;
const CUTS = 20;
const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** Remembers marks in memory, as FileUploadJournal does on disk. */
class MemoryJournal implements UploadJournal {
  readonly marks = new Map<string, UploadMark>();
  async find(key: { name: string }): Promise<UploadMark | undefined> {
    return this.marks.get(key.name);
  }
  async save(key: { name: string }, mark: UploadMark): Promise<void> {
    this.marks.set(key.name, mark);
  }
  async remove(key: { name: string }): Promise<void> {
    this.marks.delete(key.name);
  }
}

describe('resumed transfers through a cutting proxy', () => {
  let server: RunningServer;
  let work: string;
  let direct: BucketClient;
  let content: Buffer;
  let source: string;
  const seed = testSeed();
  const random = seededRandom(seed);

  before(async () => {
    server = await startServer();
    work = await tempDir();
    direct = await BucketClient.connect({ port: server.port });
    await direct.createBucket('resume');
    content = randomBytes(SIZE);
    source = path.join(work, 'big.bin');
    await writeFile(source, content);
  });

  after(async () => {
    direct.close();
    await server.stop();
  });

  const context = (): string => `seed ${seed} (BUCKET_TEST_SEED=${seed} repeats it)`;

  test('a 64 MiB upload cut 20 times is stored whole, and never seen half-done', async (t) => {
    t.diagnostic(context());
    // An older version first: while the new one is under way, only it may be listed.
    const old = Buffer.from('the old version\n');
    await writeFile(path.join(work, 'old.bin'), old);
    await uploadFile(direct, path.join(work, 'old.bin'), 'resume', 'big.bin');
    const proxy = await startCutProxy({ port: server.port }, randomCuts(random, CUTS, 'up', Math.floor(SIZE / 25)));
    const client = await BucketClient.connect({ port: proxy.port });
    let polling = true;
    const seen = new Set<string>();
    const poller = (async () => {
      const watcher = await BucketClient.connect({ port: server.port });
      try {
        while (polling) {
          for (const file of await watcher.listFiles('resume')) if (file.name === 'big.bin') seen.add(file.sha256 ?? 'none');
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      } finally {
        watcher.close();
      }
    })();
    const resumes: ResumeInfo[] = [];
    const journal = new MemoryJournal();
    try {
      const result = await uploadFile(client, source, 'resume', 'big.bin', { onResume: (info) => resumes.push(info), journal });
      assert.equal(result.sha256, sha(content), context());
    } finally {
      polling = false;
      await poller;
      client.close();
      await proxy.close();
    }
    assert.equal(proxy.cuts, CUTS, context());
    assert.equal(resumes.length, CUTS, context());
    assert.ok(resumes.every((info) => info.size === SIZE && info.cause?.code !== undefined), context());
    assert.deepEqual([...seen].filter((hash) => hash !== sha(old) && hash !== sha(content)), [], `only whole versions were listed; ${context()}`);
    assert.equal(journal.marks.size, 0, 'the mark is gone after the commit');
    const stored = await readFile(path.join(server.root, 'resume', 'big.bin'));
    assert.equal(sha(stored), sha(content), context());
    assert.deepEqual(await direct.listUploads(), [], 'nothing left staged');
  });

  test('a 64 MiB download cut 20 times lands whole, its partial gone', async (t) => {
    t.diagnostic(context());
    const proxy = await startCutProxy({ port: server.port }, randomCuts(random, CUTS, 'down', Math.floor(SIZE / 25)));
    const client = await BucketClient.connect({ port: proxy.port });
    const folder = await tempDir();
    const resumes: ResumeInfo[] = [];
    try {
      const result = await downloadFile(client, 'resume', 'big.bin', folder, { onResume: (info) => resumes.push(info) });
      assert.equal(result.sha256, sha(content), context());
    } finally {
      client.close();
      await proxy.close();
    }
    assert.equal(proxy.cuts, CUTS, context());
    assert.ok(resumes.length >= CUTS - 1, `${resumes.length} resumes; ${context()}`); // a cut before any byte is no resume
    assert.equal(sha(await readFile(path.join(folder, 'big.bin'))), sha(content), context());
    assert.deepEqual(await readdir(folder), ['big.bin'], 'no partial left');
  });

  test('retries stop after the budget, with CONNECTION_LOST', async () => {
    // Cut once mid-body, then at once on every later connection: no progress, so the budget runs out.
    const proxy = await startCutProxy({ port: server.port }, [{ direction: 'up', after: 1024 * 1024 }, ...Array.from({ length: 10 }, () => ({ direction: 'up' as const, after: 0 }))]);
    const client = await BucketClient.connect({ port: proxy.port });
    try {
      await assert.rejects(uploadFile(client, source, 'resume', 'flaky.bin', { retries: 2 }), (error: Error & { code?: string }) => error.code === 'CONNECTION_LOST');
      assert.equal(proxy.connections, 3, 'the first connection and two retries');
    } finally {
      client.close();
      await proxy.close();
    }
    for (const upload of await direct.listUploads('resume')) await direct.abortUpload(upload.id);
  });

  test('a resume whose whole-file hash fails is not retried, and its mark is dropped', async () => {
    const small = Buffer.alloc(8 * 1024 * 1024, 0x62); // smaller files are not recorded
    const file = path.join(work, 'changing.bin');
    await writeFile(file, small);
    const stamp = new Date('2026-01-02T03:04:05Z');
    await utimes(file, stamp, stamp);
    const proxy = await startCutProxy({ port: server.port }, [{ direction: 'up', after: 1024 * 1024 }]);
    const client = await BucketClient.connect({ port: proxy.port });
    const journal = new MemoryJournal();
    await assert.rejects(uploadFile(client, file, 'resume', 'changing.bin', { retries: 0, journal }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'CONNECTION_LOST');
      assert.match(uploadIdOf(error) ?? '', /^[0-9a-f]{32}$/);
      return true;
    });
    assert.equal(journal.marks.size, 1, 'the id is remembered for a later run');
    const id = [...journal.marks.values()][0]!.uploadId;
    // A later run: by then the server has staged what it got.
    while (!(await direct.listUploads('resume')).some((upload) => upload.id === id)) await new Promise((resolve) => setTimeout(resolve, 50));
    // The file's first bytes change behind the client's back; its size and time do not.
    small[0] = 0x63;
    await writeFile(file, small);
    await utimes(file, stamp, stamp);
    const resumes: ResumeInfo[] = [];
    await assert.rejects(uploadFile(client, file, 'resume', 'changing.bin', { journal, onResume: (info) => resumes.push(info) }), (error: Error & { code?: string }) => error.code === 'CHECKSUM_MISMATCH');
    // (A resume may first meet UPLOAD_BUSY, while the server has not yet seen the cut connection go.)
    assert.equal(resumes.length, 1, 'the mismatch was not retried');
    assert.equal(journal.marks.size, 0);
    client.close();
    await proxy.close();
  });

  test('a connection cut after the last byte, its answer lost: the file is found stored, not sent again', async () => {
    const file = path.join(work, 'answer.bin');
    // The same exchange with other bytes measures the replies: the cut falls inside the last one.
    await writeFile(file, randomBytes(2 * 1024 * 1024));
    const measure = await startCutProxy({ port: server.port });
    const measuring = await BucketClient.connect({ port: measure.port });
    await uploadFile(measuring, file, 'resume', 'answer.bin');
    measuring.close();
    await measure.close();
    const bytes = randomBytes(2 * 1024 * 1024);
    await writeFile(file, bytes);
    const proxy = await startCutProxy({ port: server.port }, [{ direction: 'down', after: measure.bytesDown - 5 }]);
    const client = await BucketClient.connect({ port: proxy.port });
    try {
      const result = await uploadFile(client, file, 'resume', 'answer.bin');
      assert.equal(result.sha256, sha(bytes));
    } finally {
      client.close();
      await proxy.close();
    }
    assert.equal(proxy.cuts, 1);
    assert.ok(proxy.bytesUp < 2 * 1024 * 1024 + 64 * 1024, `${proxy.bytesUp} bytes sent: the file went once`);
    assert.equal(sha(await readFile(path.join(server.root, 'resume', 'answer.bin'))), sha(bytes));
  });

  test('a transfer that stops moving is dropped after the stall timeout and resumed', async () => {
    const proxy = await startCutProxy({ port: server.port }, [{ direction: 'up', after: 2 * 1024 * 1024, stall: true }]);
    const client = await BucketClient.connect({ port: proxy.port });
    const resumes: ResumeInfo[] = [];
    try {
      const result = await uploadFile(client, source, 'resume', 'stalled.bin', { stallTimeoutMs: 500, onResume: (info) => resumes.push(info) });
      assert.equal(result.sha256, sha(content));
    } finally {
      client.close();
      await proxy.close();
    }
    assert.equal(resumes.length, 1);
    assert.ok(resumes[0]!.offset > 0);
  });
});

test('a resume logs in again as the same user', async () => {
  const root = await newRoot();
  const made = await bucketd(['user', 'add', 'alice', '--root', root], 'sesame open\n');
  assert.equal(made.code, 0, made.stderr);
  const server = await startServer({ root });
  const work = await tempDir();
  try {
    const content = randomBytes(4 * 1024 * 1024);
    await writeFile(path.join(work, 'mine.bin'), content);
    const proxy = await startCutProxy({ port: server.port }, [{ direction: 'up', after: 1024 * 1024 }]);
    const alice = await BucketClient.connect({ port: proxy.port, credentials: { user: 'alice', password: 'sesame open' } });
    await alice.createBucket('alices');
    const resumes: ResumeInfo[] = [];
    const result = await uploadFile(alice, path.join(work, 'mine.bin'), 'alices', 'mine.bin', { onResume: (info) => resumes.push(info) });
    assert.equal(result.sha256, sha(content));
    assert.equal(resumes.length, 1);
    assert.equal(alice.user, 'alice');
    alice.close();
    await proxy.close();
  } finally {
    await server.stop();
  }
});
