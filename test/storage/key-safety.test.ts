/**
 * Property: any valid file name — folders included — goes through the wire
 * codec, into the filesystem backend and back out through a LIST_FILE item
 * unchanged; and no generated name (`..`, empty segments, encoded
 * separators, control characters, over-long parts) ever puts a file
 * anywhere but at its own place inside its own bucket.
 */
import assert from 'node:assert/strict';
import { lstat, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { BucketError } from '../../src/errors.js';
import { encodeTypedItem, LIST_ITEM, readTypedItem } from '../../src/protocol/messages.js';
import { parseItem } from '../../src/protocol/replies.js';
import { encodeRequest, parseRequest } from '../../src/protocol/requests.js';
import { FsStorage, HIDDEN_DIR } from '../../src/storage/fs/fs-storage.js';
import { tempDir } from '../helpers/server.js';
import { entries, put, readAll } from './contract.js';

// The rule of docs/PROTOCOL.md section 7, written out apart from the code under test.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
function modelValid(name: string): boolean {
  if (Buffer.from(name, 'utf8').toString('utf8') !== name) return false; // lone surrogates
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes < 1 || bytes > 1024 || CONTROL.test(name)) return false;
  return name.split('/').every((segment) => segment !== '.' && segment !== '..' && Buffer.byteLength(segment, 'utf8') >= 1 && Buffer.byteLength(segment, 'utf8') <= 255);
}

const segment = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }) },
  { weight: 2, arbitrary: fc.constantFrom('..', '.', '', '%2F', '%2E%2E', '..%2F..', '\\', '..\\..', ' ', '.bucketd', 'e\u0301', '🎉', '\u0000', '\n', '\u0085', 'x'.repeat(255), 'x'.repeat(256), 'é'.repeat(128)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 4 }) },
);
const key = fc.tuple(fc.boolean(), fc.array(segment, { minLength: 1, maxLength: 4 })).map(([leading, parts]) => (leading ? '/' : '') + parts.join('/'));

let base: string;
let root: string;
let storage: FsStorage;
before(async () => {
  base = await tempDir('bucketd-keys-');
  root = path.join(base, 'root');
  storage = await FsStorage.open(root);
});
after(async () => {
  await storage.close();
  await rm(base, { recursive: true, force: true });
});

/** Every regular file and link under `dir`, relative to it, never following a link. */
async function walk(dir: string, relative = ''): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(path.join(dir, relative), { withFileTypes: true })) {
    const name = relative === '' ? entry.name : `${relative}/${entry.name}`;
    if (entry.isDirectory()) found.push(...(await walk(dir, name)));
    else found.push(name);
  }
  return found;
}

test('property: valid names round-trip through the wire, the fs backend and LIST_FILE; none lands outside its place', async () => {
  let run = 0;
  const stored = new Map<string, Set<string>>();
  await fc.assert(
    fc.asyncProperty(fc.array(key, { minLength: 1, maxLength: 5 }), fc.boolean(), async (keys, rawSlash) => {
      const bucket = `keys-${run++}`;
      await storage.createBucket(bucket);
      const names = new Set<string>();
      stored.set(bucket, names);
      for (const raw of keys) {
        // Over the wire: percent-encoded, and with "/" sent raw or as %2F.
        const wire = encodeRequest({ command: 'UPLOAD_FILE', bucket, name: raw, size: 1 }).subarray(0, -1);
        const line = rawSlash ? Buffer.from(wire.toString('latin1').replace(/%2F/g, '/'), 'latin1') : wire;
        const parsed = parseRequest(line);
        assert.ok(parsed.ok && parsed.value.command === 'UPLOAD_FILE', `the request for ${JSON.stringify(raw)} parses`);
        const name = parsed.value.name;
        const normal = name.normalize('NFC');
        const conflicts = [...names].some((other) => normal.startsWith(`${other}/`) || other.startsWith(`${normal}/`));
        const expected = !modelValid(normal) ? 'INVALID_FILE_NAME' : conflicts ? 'PATH_CONFLICT' : 'stored';
        let outcome = 'stored';
        try {
          await put(storage, bucket, name, 'k');
        } catch (error) {
          assert.ok(error instanceof BucketError, String(error));
          outcome = error.code;
        }
        assert.equal(outcome, expected, JSON.stringify(raw));
        if (outcome !== 'stored') continue;
        names.add(normal);
        assert.equal((await readAll(storage, bucket, name)).toString(), 'k');
        // On disk: exactly the nested path of its segments, a real file.
        assert.ok((await lstat(path.join(root, bucket, ...normal.split('/')))).isFile());
        // Listed by its own name as prefix, and the item survives the codec.
        const listed = await entries(storage.listFiles(bucket, { prefix: normal }));
        const item = listed.find((entry) => entry.name === normal);
        assert.ok(item, `${JSON.stringify(normal)} is listed`);
        const fields = parseItem(encodeTypedItem(LIST_ITEM, item).subarray(0, -1));
        assert.ok(fields.ok);
        assert.deepEqual(readTypedItem(LIST_ITEM, fields.value), item);
      }
      assert.deepEqual((await entries(storage.listFiles(bucket))).map((file) => file.name).sort(), [...names].sort());
    }),
    { numRuns: 150 },
  );
  // Nothing outside ROOT, and under ROOT nothing but the bookkeeping area and each bucket's own names.
  assert.deepEqual(await readdir(base), ['root']);
  for (const file of await walk(root)) {
    if (file.startsWith(`${HIDDEN_DIR}/`)) continue;
    const [bucket, ...rest] = file.split('/');
    assert.ok(stored.get(bucket!)?.has(rest.join('/')), `${file} is a name stored in its bucket`);
  }
});
