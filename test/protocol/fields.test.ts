import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeField, encodeField } from '../../src/protocol/fields.js';

const decode = (text: string) => decodeField(Buffer.from(text, 'latin1'));

test('plain ASCII names travel as they are', () => {
  for (const name of ['photos', 'cat.jpg', 'report-2024_final.v2', "it's(1)~!*", 'a:b']) assert.equal(encodeField(name), name);
});

test('separators, spaces, percent signs and non-ASCII are percent-encoded', () => {
  const rows: Array<[string, string]> = [
    ['a b', 'a%20b'],
    ['a,b', 'a%2Cb'],
    ['100%', '100%25'],
    ['café', 'caf%C3%A9'],
    ['🎉', '%F0%9F%8E%89'],
    ['line\nbreak', 'line%0Abreak'],
    ['', ''],
  ];
  for (const [value, wire] of rows) {
    assert.equal(encodeField(value), wire);
    assert.deepEqual(decode(wire), { ok: true, value });
  }
});

test('decoding is liberal: lowercase hex and raw UTF-8 are accepted', () => {
  assert.deepEqual(decode('caf%c3%a9'), { ok: true, value: 'café' });
  assert.deepEqual(decodeField(Buffer.from('café', 'utf8')), { ok: true, value: 'café' });
});

test('decoding rejects raw spaces, control bytes, broken escapes and invalid UTF-8', () => {
  assert.deepEqual(decode('a b'), { ok: false, reason: 'space' });
  for (const bad of ['a\tb', 'a\u0000', '%', '%4', '%G1', 'a%zz', '%FF', '%C3', '%ED%A0%80']) {
    assert.deepEqual(decode(bad), { ok: false, reason: 'encoding' }, bad);
  }
});

test('property: any string that is valid Unicode round-trips', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 64 }), (value) => {
      const wire = encodeField(value);
      assert.doesNotMatch(wire, /[ ,\r\n]/);
      assert.deepEqual(decode(wire), { ok: true, value });
    }),
    { numRuns: 500 },
  );
});

test('property: decoding arbitrary bytes never throws', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const result = decodeField(bytes);
      assert.equal(typeof result.ok, 'boolean');
    }),
    { numRuns: 1000 },
  );
});

/** The rule as the protocol states it, written plainly: no space or control byte, %XX escapes, valid UTF-8. */
function referenceDecode(raw: Uint8Array): { ok: true; value: string } | { ok: false; reason: 'space' | 'encoding' } {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i]!;
    if (byte === 0x20) return { ok: false, reason: 'space' };
    if (byte < 0x20 || byte === 0x7f) return { ok: false, reason: 'encoding' };
    if (byte !== 0x25) {
      bytes.push(byte);
      continue;
    }
    const hex = Buffer.from(raw.subarray(i + 1, i + 3)).toString('latin1');
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return { ok: false, reason: 'encoding' };
    bytes.push(parseInt(hex, 16));
    i += 2;
  }
  try {
    return { ok: true, value: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Uint8Array.from(bytes)) };
  } catch {
    return { ok: false, reason: 'encoding' };
  }
}

test('property: decoding agrees with the plain statement of the rule, on plain fields and escaped ones, whole buffers and slices', () => {
  const byte = fc.oneof(fc.integer({ min: 0x21, max: 0x7e }), fc.constantFrom(0x20, 0x25, 0x00, 0x7f, 0x80, 0xc3, 0xa9, 0xff), fc.integer({ min: 0, max: 255 }));
  fc.assert(
    fc.property(fc.array(byte, { maxLength: 40 }), fc.nat(8), (values, pad) => {
      // A field is a slice of a larger buffer on the wire: decode it there.
      const wire = Buffer.concat([Buffer.alloc(pad, 0x2c), Buffer.from(values), Buffer.alloc(pad, 0x2c)]);
      const raw = wire.subarray(pad, pad + values.length);
      assert.deepEqual(decodeField(raw), referenceDecode(raw));
    }),
    { numRuns: 3000 },
  );
});
