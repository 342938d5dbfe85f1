/**
 * The server's unfinished uploads as a state machine, against a model
 * (fast-check): random sequences of start, send bytes, drop the
 * connection, resume (from what the server holds, from an earlier offset,
 * or from one it does not hold), abort, commit (with the right hash or a
 * wrong one) and expire, over real sockets to a BucketServer on a real
 * folder. After every step the listings agree with the model: only
 * committed files are visible, whole; every upload that waits is listed
 * with exactly the bytes sent before its connection dropped.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import { test } from 'node:test';
import fc from 'fast-check';
import { BucketServer } from '../../src/server/server.js';
import { FsStorage } from '../../src/storage/fs/fs-storage.js';
import { RawPeer } from '../helpers/raw.js';
import { tempDir } from '../helpers/server.js';

const NAMES = ['a.bin', 'b.bin', 'c.bin'];
const TTL_MS = 60 * 60 * 1000;
const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

interface Upload {
  id: string;
  name: string;
  body: Buffer;
  /** Bytes sent on the feeding connection (from the start of the file), or held while waiting. */
  at: number;
  peer: RawPeer | undefined;
}

interface Model {
  uploads: Map<string, Upload>;
  /** Stored files: name -> content. */
  files: Map<string, Buffer>;
}

interface Real {
  port: number;
  server: BucketServer;
  /** Moves the server's clock on. */
  skew: { ms: number };
}

async function ask(port: number, line: string): Promise<string> {
  const peer = await RawPeer.connect(port);
  try {
    peer.send(`${line}\n`);
    return await peer.line();
  } finally {
    peer.close();
  }
}

async function items(port: number, line: string): Promise<string[]> {
  const peer = await RawPeer.connect(port);
  try {
    peer.send(`${line}\n`);
    const head = await peer.line();
    const count = Number(/^200,(\d+) /.exec(head)?.[1]);
    assert.ok(Number.isInteger(count), head);
    const lines: string[] = [];
    for (let i = 0; i < count; i++) lines.push(await peer.line());
    return lines;
  } finally {
    peer.close();
  }
}

async function listedUploads(port: number): Promise<Map<string, number>> {
  return new Map((await items(port, 'LIST_UPLOADS')).map((item) => [item.split(',')[0]!, Number(item.split(',')[4])]));
}

/** The invariants: files whole and only committed ones; waiting uploads listed with what they hold. */
async function check(model: Model, real: Real): Promise<void> {
  const files = (await items(real.port, 'LIST_FILE,box')).map((item) => item.split(','));
  assert.deepEqual(
    files.map(([name, size, , digest]) => [name, Number(size), digest]),
    [...model.files].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, body]) => [name, body.length, sha(body)]),
    'the files listed are the committed ones, whole',
  );
  const listed = await listedUploads(real.port);
  for (const upload of model.uploads.values()) {
    if (upload.peer === undefined) assert.equal(listed.get(upload.id), upload.at, `waiting upload ${upload.id} holds what was sent`);
    else if (listed.has(upload.id)) assert.ok(listed.get(upload.id)! <= upload.at, 'a fed upload, when listed, holds no more than was sent');
  }
  for (const id of listed.keys()) assert.ok(model.uploads.has(id), `listed upload ${id} is one the model knows`);
}

/** How many times each step ran, to show that the runs did exercise them. */
const ran = new Map<string, number>();
const count = (step: string): void => {
  ran.set(step, (ran.get(step) ?? 0) + 1);
};

const waiting = (model: Model): Upload[] => [...model.uploads.values()].filter((upload) => upload.peer === undefined);
const feeding = (model: Model): Upload[] => [...model.uploads.values()].filter((upload) => upload.peer !== undefined);
const pick = <T>(list: T[], index: number): T => list[index % list.length]!;

class Start implements fc.AsyncCommand<Model, Real> {
  constructor(readonly name: string, readonly size: number, readonly seed: number) {}
  check(model: Readonly<Model>): boolean {
    return feeding(model as Model).length < 3;
  }
  async run(model: Model, real: Real): Promise<void> {
    count('start');
    const peer = await RawPeer.connect(real.port);
    peer.send(`UPLOAD_FILE,box,${this.name},${this.size}\n`);
    const id = /^150,[^,]+,\d+,([0-9a-f]{32}) /.exec(await peer.line())?.[1];
    assert.ok(id, 'a go-ahead with an id');
    const body = Buffer.alloc(this.size);
    for (let i = 0; i < body.length; i++) body[i] = (this.seed + i * 31) & 0xff;
    model.uploads.set(id, { id, name: this.name, body, at: 0, peer });
    await check(model, real);
  }
  toString(): string {
    return `start(${this.name}, ${this.size})`;
  }
}

class Send implements fc.AsyncCommand<Model, Real> {
  constructor(readonly which: number, readonly bytes: number) {}
  check(model: Readonly<Model>): boolean {
    return feeding(model as Model).some((upload) => upload.at < upload.body.length);
  }
  async run(model: Model, real: Real): Promise<void> {
    count('send');
    const upload = pick(feeding(model).filter((each) => each.at < each.body.length), this.which);
    const end = Math.min(upload.body.length - 1, upload.at + this.bytes); // the last byte goes with the commit
    upload.peer!.send(upload.body.subarray(upload.at, end));
    upload.at = Math.max(upload.at, end);
    await check(model, real);
  }
  toString(): string {
    return `send(#${this.which}, ${this.bytes})`;
  }
}

class Drop implements fc.AsyncCommand<Model, Real> {
  constructor(readonly which: number) {}
  check(model: Readonly<Model>): boolean {
    return feeding(model as Model).length > 0;
  }
  async run(model: Model, real: Real): Promise<void> {
    count('drop');
    const upload = pick(feeding(model), this.which);
    upload.peer!.socket.destroy();
    upload.peer = undefined;
    if (upload.at === 0) {
      // Not a byte arrived: nothing worth keeping.
      model.uploads.delete(upload.id);
      for (const deadline = Date.now() + 5000; ; ) {
        if (/^404,NO_SUCH_UPLOAD /.test(await ask(real.port, `ABORT_UPLOAD,${upload.id}`))) break;
        assert.ok(Date.now() < deadline, 'an empty broken upload is let go');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    } else {
      // Listed once the server has noticed the break and made the bytes durable.
      for (const deadline = Date.now() + 5000; (await listedUploads(real.port)).get(upload.id) !== upload.at; ) {
        assert.ok(Date.now() < deadline, `upload ${upload.id} never held the ${upload.at} bytes sent`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    await check(model, real);
  }
  toString(): string {
    return `drop(#${this.which})`;
  }
}

class Resume implements fc.AsyncCommand<Model, Real> {
  /** `offset`: undefined to go on from what the server holds; a fraction of it; or past it. */
  constructor(readonly which: number, readonly offset: 'held' | 'earlier' | 'past') {}
  check(model: Readonly<Model>): boolean {
    return waiting(model as Model).length > 0 && feeding(model as Model).length < 3;
  }
  async run(model: Model, real: Real): Promise<void> {
    count('resume');
    const upload = pick(waiting(model), this.which);
    const peer = await RawPeer.connect(real.port);
    const offset = this.offset === 'held' ? undefined : this.offset === 'earlier' ? Math.floor(upload.at / 2) : upload.at + 1;
    peer.send(`RESUME_UPLOAD,${upload.id}${offset === undefined ? '' : `,${offset}`}\n`);
    const reply = await peer.line();
    if (this.offset === 'past') {
      assert.equal(reply, `416,BAD_OFFSET,${upload.at} the server holds ${upload.at} bytes of this upload`);
      peer.close();
    } else {
      const from = offset ?? upload.at;
      assert.equal(reply, `150,${upload.name},${upload.body.length},${upload.id},${from} send the ${upload.body.length - from} bytes from offset ${from}, then the SHA256 trailer of the whole file`);
      upload.at = from;
      upload.peer = peer;
    }
    await check(model, real);
  }
  toString(): string {
    return `resume(#${this.which}, ${this.offset})`;
  }
}

class Abort implements fc.AsyncCommand<Model, Real> {
  constructor(readonly which: number, readonly busy: boolean) {}
  check(model: Readonly<Model>): boolean {
    return (this.busy ? feeding(model as Model) : waiting(model as Model)).length > 0;
  }
  async run(model: Model, real: Real): Promise<void> {
    count('abort');
    const upload = pick(this.busy ? feeding(model) : waiting(model), this.which);
    const reply = await ask(real.port, `ABORT_UPLOAD,${upload.id}`);
    if (this.busy) {
      assert.match(reply, /^409,UPLOAD_BUSY /);
    } else {
      assert.equal(reply, `200,${upload.id},${upload.at} upload ${upload.id} aborted; ${upload.at} staged bytes released`);
      model.uploads.delete(upload.id);
      assert.match(await ask(real.port, `RESUME_UPLOAD,${upload.id}`), /^404,NO_SUCH_UPLOAD /);
    }
    await check(model, real);
  }
  toString(): string {
    return `abort(#${this.which}${this.busy ? ', busy' : ''})`;
  }
}

class Commit implements fc.AsyncCommand<Model, Real> {
  constructor(readonly which: number, readonly rightHash: boolean) {}
  check(model: Readonly<Model>): boolean {
    return feeding(model as Model).length > 0;
  }
  async run(model: Model, real: Real): Promise<void> {
    count('commit');
    const upload = pick(feeding(model), this.which);
    const peer = upload.peer!;
    peer.send(upload.body.subarray(upload.at));
    peer.send(`SHA256,${this.rightHash ? sha(upload.body) : sha(Buffer.from('not it'))}\n`);
    const reply = await peer.line();
    if (this.rightHash) {
      assert.equal(reply, `201,box,${upload.name},${upload.body.length},${sha(upload.body)} stored "${upload.name}" (${upload.body.length} bytes)`);
      model.files.set(upload.name, upload.body);
    } else {
      assert.match(reply, /^422,CHECKSUM_MISMATCH /);
    }
    peer.close();
    model.uploads.delete(upload.id);
    await check(model, real);
  }
  toString(): string {
    return `commit(#${this.which}${this.rightHash ? '' : ', wrong hash'})`;
  }
}

class Expire implements fc.AsyncCommand<Model, Real> {
  check(model: Readonly<Model>): boolean {
    return waiting(model as Model).length > 0;
  }
  async run(model: Model, real: Real): Promise<void> {
    count('expire');
    real.skew.ms = 2 * TTL_MS;
    try {
      // Expired at once for every request, whether or not swept yet.
      for (const upload of waiting(model)) assert.match(await ask(real.port, `RESUME_UPLOAD,${upload.id}`), /^404,NO_SUCH_UPLOAD /);
      await real.server.sweepUploads();
    } finally {
      real.skew.ms = 0;
    }
    // Swept: gone for good (uploads being fed are left alone).
    for (const upload of waiting(model)) model.uploads.delete(upload.id);
    await check(model, real);
  }
  toString(): string {
    return 'expire';
  }
}

const send = fc.tuple(fc.nat(5), fc.integer({ min: 1, max: 80_000 })).map(([which, bytes]) => new Send(which, bytes));
const resume = fc.tuple(fc.nat(5), fc.constantFrom('held' as const, 'held' as const, 'earlier' as const, 'past' as const)).map(([which, offset]) => new Resume(which, offset));
// Sends and resumes come more often: an upload needs bytes before a drop leaves something to resume.
const commands = [
  fc.tuple(fc.constantFrom(...NAMES), fc.integer({ min: 1, max: 200_000 }), fc.nat(255)).map(([name, size, seed]) => new Start(name, size, seed)),
  send,
  send,
  fc.nat(5).map((which) => new Drop(which)),
  resume,
  resume,
  resume,
  fc.tuple(fc.nat(5), fc.boolean()).map(([which, busy]) => new Abort(which, busy)),
  fc.tuple(fc.nat(5), fc.boolean()).map(([which, right]) => new Commit(which, right)),
  fc.constant(new Expire()),
];

test('unfinished uploads behave as the model says, whatever the order of start, send, drop, resume, abort, commit and expire', { timeout: 240_000 }, async (t) => {
  const base = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 30, size: 'max' }), async (sequence) => {
      const root = await tempDir('bucketd-states-', base);
      const skew = { ms: 0 };
      const storage = await FsStorage.open(root);
      const server = new BucketServer({ storage, host: '127.0.0.1', port: 0, uploadTtlMs: TTL_MS, clock: () => Date.now() + skew.ms });
      const { port } = await server.listen();
      const model: Model = { uploads: new Map(), files: new Map() };
      try {
        assert.match(await ask(port, 'NEW_BUCKET,box'), /^201,/);
        await fc.asyncModelRun(() => ({ model, real: { port, server, skew } }), sequence);
      } finally {
        for (const upload of model.uploads.values()) upload.peer?.close();
        await server.close();
        await storage.close();
        await rm(root, { recursive: true, force: true });
      }
    }),
    {
      numRuns: 80,
      // Random runs reach an expiry or a resume only a few times in 80 (each
      // needs a broken upload waiting at that step), and now and then not at
      // all: these runs always do, so every step below is surely taken.
      examples: [[[new Start('a.bin', 1000, 1), new Send(0, 100), new Drop(0), new Expire()]], [[new Start('b.bin', 1000, 2), new Send(0, 100), new Drop(0), new Resume(0, 'held')]]],
    },
  );
  t.diagnostic(`steps run: ${[...ran].map(([step, times]) => `${step} ${times}`).join(', ')}`);
  for (const step of ['start', 'send', 'drop', 'resume', 'abort', 'commit', 'expire']) assert.ok((ran.get(step) ?? 0) > 0, `some run did ${step}`);
});
