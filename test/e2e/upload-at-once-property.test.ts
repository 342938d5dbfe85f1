/**
 * Property, against the real server: any sequence of uploads sent at once
 * — stored, or refused for their form (a comma left unencoded in a name
 * among them), name, bucket or hash, with bodies
 * that hold line ends and request words — written as one stream cut at
 * random places, gets one reply each, in order, as a model predicts; the
 * stream stays in step to the end; and the bucket then holds exactly the
 * last version of each name that was stored.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { RawPeer } from '../helpers/raw.js';
import { startServer } from '../helpers/server.js';

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

interface Upload {
  bucket: 'box' | 'nosuch';
  name: 'a.txt' | 'b.txt' | 'dir/c.txt' | '..' | 'bad%ZZ' | 'raw,comma';
  body: Buffer;
  hash: 'right' | 'wrong' | 'upper';
}

/** The reply's code the protocol promises for `upload`, checks in the server's order. */
function expectedCode(upload: Upload): string {
  if (upload.name === 'bad%ZZ') return 'BAD_ENCODING'; // fields are decoded before they are read
  if (upload.name === 'raw,comma') return 'WRONG_FIELD_COUNT'; // a comma not encoded: one field too many, its body still dropped
  if (upload.hash === 'upper') return 'BAD_FIELD';
  if (upload.name === '..') return 'INVALID_FILE_NAME';
  if (upload.bucket === 'nosuch') return 'NO_SUCH_BUCKET';
  if (upload.hash === 'wrong') return 'CHECKSUM_MISMATCH';
  return 'OK';
}

function wire(upload: Upload, box: string): Buffer {
  const right = sha(upload.body);
  const hash = upload.hash === 'right' ? right : upload.hash === 'upper' ? right.toUpperCase() : sha(Buffer.concat([upload.body, Buffer.from('x')]));
  const name = upload.name === 'dir/c.txt' ? 'dir%2Fc.txt' : upload.name;
  return Buffer.concat([Buffer.from(`UPLOAD_FILE,${upload.bucket === 'box' ? box : upload.bucket},${name},${upload.body.length},${hash}\n`), upload.body]);
}

const bodyArb = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
  fc.array(fc.constantFrom('HELLO\n', 'EXIT\n', 'DELETE_BUCKET,box,FORCE\n', '\r\n', 'UPLOAD_FILE,box,z,1\n', 'x'), { maxLength: 8 }).map((parts) => Buffer.from(parts.join(''))),
);
const uploadArb: fc.Arbitrary<Upload> = fc.record({
  bucket: fc.constantFrom('box' as const, 'box' as const, 'box' as const, 'nosuch' as const),
  name: fc.constantFrom('a.txt' as const, 'b.txt' as const, 'dir/c.txt' as const, '..' as const, 'bad%ZZ' as const, 'raw,comma' as const),
  body: bodyArb,
  hash: fc.constantFrom('right' as const, 'right' as const, 'wrong' as const, 'upper' as const),
});

test('property: uploads sent at once, refused or stored, in one stream cut anywhere, are answered in order and leave exactly what the model says', async () => {
  const server = await startServer();
  let runs = 0;
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(uploadArb, { minLength: 1, maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 10 }), async (uploads, cuts) => {
        // A bucket of its own for each run, so that a failed run leaves the next one alone.
        const box = `box${++runs}`;
        const peer = await RawPeer.connect(server.port);
        try {
          peer.send(`NEW_BUCKET,${box}\n`);
          assert.match(await peer.line(), /^201,/);
          const stream = Buffer.concat([...uploads.map((upload) => wire(upload, box)), Buffer.from(`LIST_FILE,${box}\n`)]);
          // Cut anywhere: the pieces go out one event-loop turn apart.
          for (let at = 0, i = 0; at < stream.length; i++) {
            const size = cuts[i % cuts.length]!;
            peer.send(stream.subarray(at, at + size));
            at += size;
            await new Promise((resolve) => setImmediate(resolve));
          }
          const stored = new Map<string, string>();
          for (const upload of uploads) {
            const reply = await peer.line();
            const code = expectedCode(upload);
            if (code === 'OK') {
              assert.equal(reply.split(' ')[0], `201,${box},${upload.name === 'dir/c.txt' ? 'dir%2Fc.txt' : upload.name},${upload.body.length},${sha(upload.body)}`);
              stored.set(upload.name, sha(upload.body));
            } else {
              assert.equal(reply.split(' ')[0]!.split(',')[1], code, reply);
            }
          }
          const head = await peer.line();
          assert.match(head, new RegExp(`^200,${stored.size} `), head);
          const listed = new Map<string, string>();
          for (let i = 0; i < stored.size; i++) {
            const [name, , , sha256] = (await peer.line()).split(',');
            listed.set(decodeURIComponent(name!), sha256!);
          }
          assert.deepEqual(listed, stored);
        } finally {
          peer.close();
        }
      }),
      { numRuns: 40 },
    );
  } finally {
    await server.stop();
  }
});
