/**
 * Model-based test: random sequences of commands, valid and not, run against
 * the real bucketd through the library and against a plain in-memory model
 * of buckets and files; every result and every error code must agree.
 * Names in folders (`x/y`) behave as S3 keys do, except that a name cannot
 * be both a file and a folder (PATH_CONFLICT); listings by prefix and
 * delimiter agree with the same listing worked out from the model.
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
const NAMES = ['a.txt', 'b c,d.txt', 'ñandú 🎉', 'cafe\u0301', '..', 'x/y', 'x', 'x/y/z', 'x/é', 'a.txt/z', 'x//y', 'x/', '/x', 'x/../y'];
const PREFIXES = ['', 'x', 'x/', 'x/y', 'a', 'x/y/', 'zz'];
const VALID_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const validName = (name: string): boolean => name.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
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
    let code = fileError(model, this.bucket, this.name, false);
    if (!code) {
      const name = nfc(this.name);
      const conflicts = [...model.get(this.bucket)!.keys()].some((file) => name.startsWith(`${file}/`) || file.startsWith(`${name}/`));
      if (conflicts) code = 'PATH_CONFLICT';
    }
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

/** The same listing, worked out from the model: S3's rules for a prefix and a delimiter. */
function expectedLevel(files: Map<string, Buffer>, prefix: string, fold: boolean): string[] {
  const names = new Set<string>();
  for (const name of files.keys()) {
    if (!name.startsWith(prefix)) continue;
    const cut = fold ? name.indexOf('/', prefix.length) : -1;
    names.add(cut < 0 ? name : name.slice(0, cut + 1));
  }
  return [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

class ListLevel implements fc.AsyncCommand<Model, Real> {
  constructor(readonly bucket: string, readonly prefix: string, readonly fold: boolean) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const code = bucketError(model, this.bucket);
    const listed = await expectOutcome(real.client.listFiles(this.bucket, { prefix: this.prefix, ...(this.fold ? { delimiter: '/' as const } : {}) }), code);
    if (code) return;
    const files = model.get(this.bucket)!;
    assert.deepEqual(listed?.map((entry) => entry.name), expectedLevel(files, this.prefix, this.fold));
    for (const entry of listed ?? []) {
      if (entry.kind === 'folder') assert.ok(entry.name.endsWith('/'));
      else assert.equal(entry.size, files.get(entry.name)!.length);
    }
  }
  toString = (): string => `listLevel(${this.bucket}, ${JSON.stringify(this.prefix)}, ${this.fold})`;
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
  fc.tuple(bucketArb, fc.constantFrom(...PREFIXES), fc.boolean()).map(([b, p, fold]) => new ListLevel(b, p, fold)),
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
