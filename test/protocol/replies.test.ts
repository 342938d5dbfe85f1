import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { ERRORS } from '../../src/errors.js';
import { encodeErrorReply, encodeItem, encodeReply, errorCodeOf, parseItem, parseReply } from '../../src/protocol/replies.js';
import { REPO_ROOT } from '../helpers/server.js';

test('table: reply lines', () => {
  const rows: Array<[Buffer, string]> = [
    [encodeReply(200, ['bucketd', '0.1.0', '1'], 'hello'), '200,bucketd,0.1.0,1 hello\n'],
    [encodeReply(201, ['my photos'], 'bucket "my photos" created'), '201,my%20photos bucket "my photos" created\n'],
    [encodeReply(221, [], 'goodbye'), '221 goodbye\n'],
    [encodeReply(200, ['0'], ''), '200,0\n'],
    [encodeErrorReply('BUCKET_NOT_EMPTY', 'holds 3 files', ['3']), '409,BUCKET_NOT_EMPTY,3 holds 3 files\n'],
    [encodeReply(500, [], 'two\nlines'), '500 two lines\n'],
  ];
  for (const [wire, expected] of rows) assert.equal(wire.toString('utf8'), expected);
});

test('parseReply reads status, fields and message', () => {
  const parsed = parseReply(Buffer.from('404,NO_SUCH_FILE no file "a b" in bucket "x"'));
  assert.deepEqual(parsed, { ok: true, value: { status: 404, fields: ['NO_SUCH_FILE'], message: 'no file "a b" in bucket "x"' } });
  assert.equal(parsed.ok && errorCodeOf(parsed.value), 'NO_SUCH_FILE');
  for (const bad of ['', 'OK', '20', '2000 x', '600 x', 'abc,def']) assert.equal(parseReply(Buffer.from(bad)).ok, false, bad);
});

test('property: replies and items round-trip', () => {
  const fields = fc.array(fc.string({ unit: 'grapheme', maxLength: 20 }), { maxLength: 5 });
  fc.assert(
    fc.property(fc.integer({ min: 100, max: 599 }), fields, fc.string({ maxLength: 40 }), (status, values, message) => {
      const wire = encodeReply(status, values, message);
      const parsed = parseReply(wire.subarray(0, -1));
      assert.ok(parsed.ok);
      assert.equal(parsed.value.status, status);
      assert.deepEqual(parsed.value.fields, values.length === 1 && values[0] === '' ? [''] : values);
      assert.equal(wire.indexOf(0x0a), wire.length - 1);
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fields.filter((f) => f.length > 0), (values) => {
      assert.deepEqual(parseItem(encodeItem(values).subarray(0, -1)), { ok: true, value: values });
    }),
  );
});

test('every error code has a status in its class and is documented in docs/PROTOCOL.md', () => {
  const doc = readFileSync(path.join(REPO_ROOT, 'docs/PROTOCOL.md'), 'utf8');
  for (const [code, { status }] of Object.entries(ERRORS)) {
    assert.ok(status >= 400 && status <= 599, code);
    assert.match(doc, new RegExp(`\\b${status}\\b.*\\b${code}\\b|\\b${code}\\b.*\\b${status}\\b`), `${code} (${status}) is not documented`);
  }
});
