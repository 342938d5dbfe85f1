/** Listings render row by row: any number of rows, never held whole. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { test } from 'node:test';
import type { RemoteBucket, RemoteFile } from '../../src/client/client.js';
import { BucketError } from '../../src/errors.js';
import { HumanOutput } from '../../src/cli/human-output.js';

/** A sink that keeps the first lines and counts the rest; slow, to exercise backpressure. */
class Sink extends Writable {
  text = '';
  lines = 0;
  writes = 0;
  constructor(readonly keep = 4096) {
    super({ highWaterMark: 1024, decodeStrings: false });
  }
  override _write(chunk: string, _encoding: BufferEncoding, done: (error?: Error) => void): void {
    this.writes++;
    if (this.text.length < this.keep) this.text += chunk;
    this.lines += chunk.split('\n').length - 1;
    setImmediate(done);
  }
}

/** Everything written so far, once the sink has taken it. */
async function settled(sink: Sink): Promise<Sink> {
  sink.end();
  await finished(sink);
  return sink;
}

function output(out: Writable, err: Writable = new Sink()): HumanOutput {
  return new HumanOutput({ out, err, server: '127.0.0.1:9077' });
}

async function* files(count: number): AsyncIterable<RemoteFile> {
  for (let i = 0; i < count; i++) {
    yield { name: `file-${i}.bin`, size: i, modifiedAt: new Date(2026, 0, 2, 3, 4, 5), sha256: 'ab'.repeat(32) };
  }
}

test('200,000 files render to a sink without throwing: header, every row, the summary', async () => {
  const sink = new Sink();
  await output(sink).files('big', files(200_000));
  await settled(sink);
  assert.equal(sink.lines, 1 + 200_000 + 1);
  const [header, first] = sink.text.split('\n');
  assert.equal(header, '    SIZE  MODIFIED             SHA-256           NAME');
  assert.equal(first, '     0 B  2026-01-02 03:04:05  abababababababab  file-0.bin');
  assert.ok(sink.writes > 10, 'rows are written as they come, in chunks');
});

test('the summary counts the files and their total size', async () => {
  const sink = new Sink();
  await output(sink).files('small', files(3));
  await settled(sink);
  assert.equal(
    sink.text,
    [
      '    SIZE  MODIFIED             SHA-256           NAME',
      '     0 B  2026-01-02 03:04:05  abababababababab  file-0.bin',
      '     1 B  2026-01-02 03:04:05  abababababababab  file-1.bin',
      '     2 B  2026-01-02 03:04:05  abababababababab  file-2.bin',
      '3 files, 3 B',
      '',
    ].join('\n'),
  );
});

test('names with control characters print as ?; a file without a checksum shows -', async () => {
  const sink = new Sink();
  async function* one(): AsyncIterable<RemoteFile> {
    yield { name: 'a\nb', size: 5 * 1024 * 1024, modifiedAt: new Date(0) };
  }
  await output(sink).files('x', one());
  await settled(sink);
  assert.equal(sink.text.split('\n')[1], ' 5.0 MiB  -                    -                 a?b');
});

test('an empty bucket, and no buckets, are one line each', async () => {
  const sink = new Sink();
  const out = output(sink);
  await out.files('empty', files(0));
  await out.buckets((async function* (): AsyncIterable<RemoteBucket> {})());
  await settled(sink);
  assert.equal(sink.text, 'bucket "empty" is empty\nno buckets yet (create one with NEW_BUCKET)\n');
});

test('buckets: the creation time first, the name last, then the count', async () => {
  const sink = new Sink();
  async function* buckets(): AsyncIterable<RemoteBucket> {
    yield { name: 'photos', createdAt: new Date(2026, 10, 23, 22, 41, 19) };
    yield { name: 'docs', createdAt: new Date(2026, 10, 24, 8, 0, 0) };
  }
  await output(sink).buckets(buckets());
  await settled(sink);
  assert.equal(sink.text, 'CREATED              NAME\n2026-11-23 22:41:19  photos\n2026-11-24 08:00:00  docs\n2 buckets\n');
});

test('a listing that fails at once prints no header; one that fails later keeps the rows it had', async () => {
  const sink = new Sink();
  async function* none(): AsyncIterable<RemoteFile> {
    throw new BucketError('NO_SUCH_BUCKET', 'no bucket "nope"');
  }
  await assert.rejects(output(sink).files('nope', none()), { code: 'NO_SUCH_BUCKET' });
  assert.equal(sink.writes, 0);
  async function* some(): AsyncIterable<RemoteFile> {
    yield* files(2);
    throw new Error('connection lost');
  }
  await assert.rejects(output(sink).files('some', some()), /connection lost/);
  await settled(sink);
  assert.equal(sink.lines, 3);
  assert.match(sink.text, /file-1\.bin\n$/);
});
