import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FrameDecoder, type Frame } from '../../src/protocol/decoder.js';

type Simple = { kind: string; text?: string; limit?: number };

/**
 * Feeds `chunks` through a decoder. A line `BODY,<n>` is followed by an
 * n-byte body and a trailer (as UPLOAD_FILE is, once accepted), a line
 * `BARE,<n>` by an n-byte body alone (an upload sent at once); body chunks are joined
 * so that results compare whatever the chunking.
 */
function decodeAll(chunks: Uint8Array[], maxLineBytes = 64): Simple[] {
  const decoder = new FrameDecoder({ maxLineBytes });
  const out: Simple[] = [];
  const take = (frame: Frame): void => {
    if (frame.kind === 'body') {
      const last = out[out.length - 1];
      if (last?.kind === 'body') last.text += frame.chunk.toString('latin1');
      else out.push({ kind: 'body', text: frame.chunk.toString('latin1') });
      return;
    }
    if (frame.kind === 'line-too-long') {
      out.push({ kind: frame.kind, limit: frame.limit });
      return;
    }
    const text = frame.line.toString('latin1');
    out.push({ kind: frame.kind, text });
    const body = /^BODY,(\d{1,4})$/.exec(text);
    if (frame.kind === 'line' && body) decoder.expectBody(Number(body[1]));
    const bare = /^BARE,(\d{1,4})$/.exec(text);
    if (frame.kind === 'line' && bare) decoder.expectBody(Number(bare[1]), false);
  };
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (let frame = decoder.next(); frame; frame = decoder.next()) take(frame);
  }
  const last = decoder.finish();
  if (last) take(last);
  return out;
}

const FIXTURES: Array<[string, Simple[]]> = [
  ['HELLO\n', [{ kind: 'line', text: 'HELLO' }]],
  ['HELLO\r\nEXIT\n', [{ kind: 'line', text: 'HELLO' }, { kind: 'line', text: 'EXIT' }]],
  ['\n\n', [{ kind: 'line', text: '' }, { kind: 'line', text: '' }]],
  ['HELLO', [{ kind: 'line', text: 'HELLO' }]],
  [
    'BODY,5\nab\ncdSHA256,x\nNEXT\n',
    [
      { kind: 'line', text: 'BODY,5' },
      { kind: 'body', text: 'ab\ncd' },
      { kind: 'trailer', text: 'SHA256,x' },
      { kind: 'line', text: 'NEXT' },
    ],
  ],
  ['BODY,0\nT\n', [{ kind: 'line', text: 'BODY,0' }, { kind: 'trailer', text: 'T' }]],
  ['BODY,3\n\r\n\n\nL\n', [{ kind: 'line', text: 'BODY,3' }, { kind: 'body', text: '\r\n\n' }, { kind: 'trailer', text: '' }, { kind: 'line', text: 'L' }]],
  ['BARE,5\nab\ncdNEXT\n', [{ kind: 'line', text: 'BARE,5' }, { kind: 'body', text: 'ab\ncd' }, { kind: 'line', text: 'NEXT' }]],
  ['BARE,0\nNEXT\n', [{ kind: 'line', text: 'BARE,0' }, { kind: 'line', text: 'NEXT' }]],
  ['BARE,2\n\n\nBARE,1\nxL', [{ kind: 'line', text: 'BARE,2' }, { kind: 'body', text: '\n\n' }, { kind: 'line', text: 'BARE,1' }, { kind: 'body', text: 'x' }, { kind: 'line', text: 'L' }]],
  [`${'x'.repeat(64)}\r\n`, [{ kind: 'line', text: 'x'.repeat(64) }]],
  [`${'x'.repeat(65)}\nHELLO\n`, [{ kind: 'line-too-long', limit: 64 }]],
  [`${'x'.repeat(200)}`, [{ kind: 'line-too-long', limit: 64 }]],
];

test('fixtures decode the same split at every offset and byte by byte', () => {
  for (const [wire, expected] of FIXTURES) {
    const bytes = Buffer.from(wire, 'latin1');
    assert.deepEqual(decodeAll([bytes]), expected, JSON.stringify(wire));
    for (let at = 0; at <= bytes.length; at++) {
      assert.deepEqual(decodeAll([bytes.subarray(0, at), bytes.subarray(at)]), expected, `${JSON.stringify(wire)} split at ${at}`);
    }
    assert.deepEqual(decodeAll([...bytes].map((b) => Uint8Array.of(b))), expected, `${JSON.stringify(wire)} byte by byte`);
  }
});

test('body chunks are slices of what was pushed, never gathered', () => {
  const decoder = new FrameDecoder();
  decoder.push(Buffer.from('BODY\n'));
  assert.equal(decoder.next()?.kind, 'line');
  decoder.expectBody(1_000_000);
  const chunk = Buffer.alloc(600_000, 7);
  decoder.push(chunk);
  const frame = decoder.next();
  assert.ok(frame?.kind === 'body');
  assert.equal(frame.chunk.buffer, chunk.buffer);
  assert.equal(frame.chunk.length, 600_000);
  assert.equal(decoder.bodyRemaining, 400_000);
  assert.equal(decoder.bufferedBytes, 0);
});

test('a line without LF is refused as soon as it passes the limit, without waiting', () => {
  const decoder = new FrameDecoder({ maxLineBytes: 10 });
  decoder.push(Buffer.from('0123456789'));
  assert.equal(decoder.next(), undefined);
  decoder.push(Buffer.from('ab'));
  assert.deepEqual(decoder.next(), { kind: 'line-too-long', limit: 10 });
  assert.equal(decoder.state, 'FAILED');
  decoder.push(Buffer.from('HELLO\n'));
  assert.equal(decoder.next(), undefined);
  assert.equal(decoder.bufferedBytes, 0);
});

test('property: any byte stream, in any chunking, frames the same and never throws', () => {
  const piece = fc.oneof(
    fc.uint8Array({ maxLength: 30 }),
    fc.constantFrom('\n', '\r\n', 'BODY,3\n', 'BODY,0\n', 'BODY,10\n', 'BARE,3\n', 'BARE,0\n', 'HELLO\n').map((s) => Buffer.from(s, 'latin1')),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }), (pieces, sizes) => {
      const stream = Buffer.concat(pieces);
      const whole = decodeAll([stream]);
      const chunks: Buffer[] = [];
      for (let at = 0, i = 0; at < stream.length; i++) {
        const size = sizes[i % sizes.length]!;
        chunks.push(stream.subarray(at, at + size));
        at += size;
      }
      assert.deepEqual(decodeAll(chunks), whole);
      // Framing accounts for every byte: nothing invented, nothing lost.
      const total = whole.reduce((sum, f) => sum + (f.text?.length ?? 0), 0);
      assert.ok(total <= stream.length);
    }),
    { numRuns: 1000 },
  );
});
