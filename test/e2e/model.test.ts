/**
 * Model-based test: random sequences of commands, valid and not, run against
 * the real bucketd through the library and against a plain in-memory model
 * of buckets and files; every result and every error code must agree.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { BucketClient } from '../../src/client/index.js';
import { BucketError } from '../../src/errors.js';
import { startServer, type RunningServer } from '../helpers/server.js';

type Model = Map<string, Map<string, Buffer>>;
interface Real {
  client: BucketClient;
}

const BUCKETS = ['alpha', 'beta-1', 'Bad_Name'];
const NAMES = ['a.txt', 'b c,d.txt', 'ñandú 🎉', 'cafe\u0301', '..', 'x/y'];
const VALID_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const validName = (name: string): boolean => name !== '..' && !name.includes('/');
const nfc = (name: string): string => name.normalize('NFC');
const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Runs `real`, then checks it failed with `code` or succeeded when `code` is undefined. */
async function expectOutcome<T>(real: Promise<T>, code: string | undefined): Promise<T | undefined> {
  try {
    const value = await real;
    assert.equal(code, undefined, `expected ${code}, got success`);
    return value;
  } catch (error) {
    if (!(error instanceof BucketError)) throw error;
    assert.equal(error.code, code, `expected ${code ?? 'success'}, got ${error.code}`);
    return undefined;
  }
}

function bucketError(model: Model, bucket: string): string | undefined {
  if (!VALID_BUCKET.test(bucket)) return 'INVALID_BUCKET_NAME';
  return model.has(bucket) ? undefined : 'NO_SUCH_BUCKET';
}

/** The documented order: bucket name form, file name form, bucket, file. */
function fileError(model: Model, bucket: string, name: string, mustExist: boolean): string | undefined {
  if (!VALID_BUCKET.test(bucket)) return 'INVALID_BUCKET_NAME';
  if (!validName(name)) return 'INVALID_FILE_NAME';
  if (!model.has(bucket)) return 'NO_SUCH_BUCKET';
  return mustExist && !model.get(bucket)!.has(nfc(name)) ? 'NO_SUCH_FILE' : undefined;
}

class CreateBucket implements fc.AsyncCommand<Model, Real> {
  constructor(readonly bucket: string) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const code = !VALID_BUCKET.test(this.bucket) ? 'INVALID_BUCKET_NAME' : model.has(this.bucket) ? 'BUCKET_EXISTS' : undefined;
    await expectOutcome(real.client.createBucket(this.bucket), code);
    if (!code) model.set(this.bucket, new Map());
  }
  toString = (): string => `createBucket(${this.bucket})`;
}

class DeleteBucket implements fc.AsyncCommand<Model, Real> {
  constructor(readonly bucket: string, readonly force: boolean) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    let code = bucketError(model, this.bucket);
    if (!code && !this.force && model.get(this.bucket)!.size > 0) code = 'BUCKET_NOT_EMPTY';
    const result = await expectOutcome(real.client.deleteBucket(this.bucket, { force: this.force }), code);
    if (!code) {
      assert.equal(result?.deletedFiles, model.get(this.bucket)!.size);
      model.delete(this.bucket);
    }
  }
  toString = (): string => `deleteBucket(${this.bucket}, ${this.force})`;
}

class Upload implements fc.AsyncCommand<Model, Real> {
  constructor(readonly bucket: string, readonly name: string, readonly data: Buffer) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const code = fileError(model, this.bucket, this.name, false);
    const result = await expectOutcome(real.client.upload(this.bucket, this.name, Readable.from([this.data]), this.data.length), code);
    if (!code) {
      assert.equal(result?.sha256, sha(this.data));
      model.get(this.bucket)!.set(nfc(this.name), this.data);
    }
  }
  toString = (): string => `upload(${this.bucket}, ${JSON.stringify(this.name)}, ${this.data.length} bytes)`;
}

class Download implements fc.AsyncCommand<Model, Real> {
  constructor(readonly bucket: string, readonly name: string) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const code = fileError(model, this.bucket, this.name, true);
    const chunks: Buffer[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (chunks.push(chunk), done()) });
    await expectOutcome(real.client.download(this.bucket, this.name, sink), code);
    if (!code) assert.deepEqual(Buffer.concat(chunks), model.get(this.bucket)!.get(nfc(this.name)));
  }
  toString = (): string => `download(${this.bucket}, ${JSON.stringify(this.name)})`;
}

class DeleteFile implements fc.AsyncCommand<Model, Real> {
  constructor(readonly bucket: string, readonly name: string) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const code = fileError(model, this.bucket, this.name, true);
    await expectOutcome(real.client.deleteFile(this.bucket, this.name), code);
    if (!code) model.get(this.bucket)!.delete(nfc(this.name));
  }
  toString = (): string => `deleteFile(${this.bucket}, ${JSON.stringify(this.name)})`;
}

class ListEverything implements fc.AsyncCommand<Model, Real> {
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const buckets = await real.client.listBuckets();
    assert.deepEqual(buckets.map((b) => b.name), [...model.keys()].sort());
    for (const [bucket, files] of model) {
      const listed = await real.client.listFiles(bucket);
      const expected = [...files.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      assert.deepEqual(listed.map((f) => f.name), expected);
      for (const file of listed) {
        assert.equal(file.size, files.get(file.name)!.length);
        assert.equal(file.sha256, sha(files.get(file.name)!));
      }
    }
  }
  toString = (): string => 'listEverything()';
}

const bucketArb = fc.constantFrom(...BUCKETS);
const nameArb = fc.constantFrom(...NAMES);
const dataArb = fc.uint8Array({ maxLength: 3000 }).map((bytes) => Buffer.from(bytes));
const commands = [
  bucketArb.map((b) => new CreateBucket(b)),
  fc.tuple(bucketArb, fc.boolean()).map(([b, force]) => new DeleteBucket(b, force)),
  fc.tuple(bucketArb, nameArb, dataArb).map(([b, n, d]) => new Upload(b, n, d)),
  fc.tuple(bucketArb, nameArb).map(([b, n]) => new Download(b, n)),
  fc.tuple(bucketArb, nameArb).map(([b, n]) => new DeleteFile(b, n)),
  fc.constant(new ListEverything()),
];

let server: RunningServer;
let client: BucketClient;
before(async () => {
  server = await startServer();
  client = await BucketClient.connect({ port: server.port });
});
after(async () => {
  client.close();
  assert.equal(await server.stop(), 0);
});

test('random command sequences agree with a model of buckets and files', async () => {
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 40 }), async (sequence) => {
      // Each run starts from an empty store.
      for (const bucket of await client.listBuckets()) await client.deleteBucket(bucket.name, { force: true });
      await fc.asyncModelRun(() => ({ model: new Map() as Model, real: { client } }), sequence);
    }),
    { numRuns: 100 },
  );
});
