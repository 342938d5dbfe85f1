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
