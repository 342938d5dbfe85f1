import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeField } from '../../src/protocol/fields.js';
import { COMMANDS, encodeRequest, GRANTABLE, parseRequest, parseUploadTrailer, type Request } from '../../src/protocol/requests.js';

const parse = (line: string) => parseRequest(Buffer.from(line, 'utf8'));

// Wire lines written by hand, independent of the encoder.
const ROWS: Array<[string, Request]> = [
  ['HELLO', { command: 'HELLO' }],
  ['EXIT', { command: 'EXIT' }],
  ['NEW_BUCKET,photos', { command: 'NEW_BUCKET', bucket: 'photos' }],
  ['LIST_BUCKET', { command: 'LIST_BUCKET' }],
  ['DELETE_BUCKET,photos', { command: 'DELETE_BUCKET', bucket: 'photos', force: false }],
  ['DELETE_BUCKET,photos,FORCE', { command: 'DELETE_BUCKET', bucket: 'photos', force: true }],
  ['UPLOAD_FILE,photos,cat.jpg,52133', { command: 'UPLOAD_FILE', bucket: 'photos', name: 'cat.jpg', size: 52133 }],
  ['UPLOAD_FILE,photos,my%20cat%2C%20Tom.jpg,0', { command: 'UPLOAD_FILE', bucket: 'photos', name: 'my cat, Tom.jpg', size: 0 }],
  [`UPLOAD_FILE,photos,cat.txt,4,9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08`, { command: 'UPLOAD_FILE', bucket: 'photos', name: 'cat.txt', size: 4, sha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08' }],
  ['LIST_FILE,photos', { command: 'LIST_FILE', bucket: 'photos' }],
  ['LIST_FILE,photos,', { command: 'LIST_FILE', bucket: 'photos', prefix: '' }],
  ['LIST_FILE,photos,2026%2Ftrip%2F', { command: 'LIST_FILE', bucket: 'photos', prefix: '2026/trip/' }],
  ['LIST_FILE,photos,,%2F', { command: 'LIST_FILE', bucket: 'photos', prefix: '', delimiter: '/' }],
  ['LIST_FILE,photos,caf%C3%A9%2F,%2F', { command: 'LIST_FILE', bucket: 'photos', prefix: 'café/', delimiter: '/' }],
  ['UPLOAD_FILE,photos,2026%2Ftrip%2Fimg%2001.jpg,4', { command: 'UPLOAD_FILE', bucket: 'photos', name: '2026/trip/img 01.jpg', size: 4 }],
  ['DOWNLOAD_FILE,photos,%F0%9F%8E%89.png', { command: 'DOWNLOAD_FILE', bucket: 'photos', name: '🎉.png' }],
  ['DELETE_FILE,photos,caf%C3%A9.txt', { command: 'DELETE_FILE', bucket: 'photos', name: 'café.txt' }],
];

test('table: wire lines decode to requests and encode back', () => {
  for (const [wire, request] of ROWS) {
    assert.deepEqual(parse(wire), { ok: true, value: request }, wire);
    assert.equal(encodeRequest(request).toString('latin1'), `${wire}\n`);
  }
});

test('the command word is strict and exact', () => {
  for (const line of ['hello', 'Hello', ' HELLO', 'HELLO ', 'HELLOO', 'HELL', '', 'NEW-BUCKET,x', 'LIST_BUCKETS', '\u0000', 'HELLO\t']) {
    const result = parse(line);
    assert.equal(result.ok, false, line);
    assert.equal(!result.ok && result.code, 'UNKNOWN_COMMAND', line);
  }
});

test('wrong field counts are refused with WRONG_FIELD_COUNT', () => {
  for (const line of ['HELLO,x', 'EXIT,', 'NEW_BUCKET', 'NEW_BUCKET,a,b', 'LIST_BUCKET,x', 'UPLOAD_FILE,a,b', 'UPLOAD_FILE,a,b,1,2,3', 'DOWNLOAD_FILE,a', 'DELETE_FILE,a,b,c', 'LIST_FILE', 'LIST_FILE,a,b,%2F,x', 'DELETE_BUCKET,a,FORCE,x']) {
    const result = parse(line);
    assert.equal(!result.ok && result.code, 'WRONG_FIELD_COUNT', line);
  }
});

test('spaces, bad escapes and bad sizes are refused with their own codes', () => {
  const rows: Array<[string, string]> = [
    ['NEW_BUCKET,my photos', 'SPACES_NOT_ALLOWED'],
    ['NEW_BUCKET,%ZZ', 'BAD_ENCODING'],
    ['NEW_BUCKET,%FF', 'BAD_ENCODING'],
    ['UPLOAD_FILE,a,b,-1', 'BAD_FIELD'],
    ['UPLOAD_FILE,a,b,01', 'BAD_FIELD'],
    ['UPLOAD_FILE,a,b,1e3', 'BAD_FIELD'],
    ['UPLOAD_FILE,a,b,', 'BAD_FIELD'],
    ['UPLOAD_FILE,a,b,99999999999999999', 'BAD_FIELD'],
    ['DELETE_BUCKET,a,force', 'BAD_FIELD'],
    ['LIST_FILE,a,b,', 'BAD_FIELD'],
    ['LIST_FILE,a,b,%5C', 'BAD_FIELD'],
    ['LIST_FILE,a,b,%2F%2F', 'BAD_FIELD'],
    ['LIST_FILE,a,%01,%2F', 'BAD_FIELD'],
    [`LIST_FILE,a,${'x'.repeat(1025)}`, 'BAD_FIELD'],
    ['LIST_FILE,a,b,/', 'OK'],
    ['LIST_FILE,a,a/b/', 'OK'],
    [`LIST_FILE,a,${'x'.repeat(1024)}`, 'OK'],
  ];
  for (const [line, code] of rows) {
    const result = parse(line);
    assert.equal(result.ok ? 'OK' : result.code, code, line);
  }
});

const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const requestArb: fc.Arbitrary<Request> = fc.oneof(
  fc.constantFrom<Request>({ command: 'HELLO' }, { command: 'EXIT' }, { command: 'LIST_BUCKET' }),
  text.map((bucket): Request => ({ command: 'NEW_BUCKET', bucket })),
  text.map((bucket): Request => ({ command: 'LIST_FILE', bucket })),
  fc
    .record({ bucket: text, prefix: text.filter((prefix) => !/[\u0000-\u001f\u007f-\u009f]/.test(prefix)), fold: fc.boolean() })
    .map(({ bucket, prefix, fold }): Request => ({ command: 'LIST_FILE', bucket, prefix, ...(fold ? { delimiter: '/' as const } : {}) })),
  fc.record({ bucket: text, force: fc.boolean() }).map((r): Request => ({ command: 'DELETE_BUCKET', ...r })),
  fc.record({ bucket: text, name: text, size: fc.maxSafeNat() }).map((r): Request => ({ command: 'UPLOAD_FILE', ...r })),
  fc
    .record({ bucket: text, name: text, size: fc.maxSafeNat(), sha256: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes).toString('hex')) })
    .map((r): Request => ({ command: 'UPLOAD_FILE', ...r })),
  fc.record({ bucket: text, name: text }).map((r): Request => ({ command: 'DOWNLOAD_FILE', ...r })),
  fc.record({ bucket: text, name: text }).map((r): Request => ({ command: 'DELETE_FILE', ...r })),
  text.map((bucket): Request => ({ command: 'BUCKET_INFO', bucket })),
  fc.record({ mechanism: text, message: text }).map((r): Request => ({ command: 'LOGIN', ...r })),
  text.map((message): Request => ({ command: 'LOGIN_PROOF', message })),
  fc.record({ bucket: text, user: text, permission: fc.constantFrom(...GRANTABLE) }).map((r): Request => ({ command: 'GRANT', ...r })),
);

test('an upload sent at once that is refused still says how many body bytes follow its line, or that no one can tell', () => {
  const sha = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';
  const rows: Array<[string, string, number | 'unframed']> = [
    [`UPLOAD_FILE,a,b,12,${sha.toUpperCase()}`, 'BAD_FIELD', 12],
    ['UPLOAD_FILE,a,b,12,abc', 'BAD_FIELD', 12],
    [`UPLOAD_FILE,a,b,12,`, 'BAD_FIELD', 12],
    [`UPLOAD_FILE,a,my photo,7,${sha}`, 'SPACES_NOT_ALLOWED', 7],
    [`UPLOAD_FILE,a,%ZZ,0,${sha}`, 'BAD_ENCODING', 0],
    [`UPLOAD_FILE,a,b,-1,${sha}`, 'BAD_FIELD', 'unframed'],
    [`UPLOAD_FILE,a,b,01,${sha}`, 'BAD_FIELD', 'unframed'],
    [`UPLOAD_FILE,a,b,,${sha}`, 'BAD_FIELD', 'unframed'],
    // A comma left unencoded in a name: the size and digest still end the line.
    [`UPLOAD_FILE,a,x,y,5,${sha}`, 'WRONG_FIELD_COUNT', 5],
    [`UPLOAD_FILE,a,x,y,z,5,${sha.toUpperCase()}`, 'WRONG_FIELD_COUNT', 5],
    // A field missing before a digest: where its body ends cannot be trusted.
    [`UPLOAD_FILE,a,5,${sha}`, 'BAD_FIELD', 'unframed'],
    [`UPLOAD_FILE,5,${sha}`, 'WRONG_FIELD_COUNT', 'unframed'],
    [`UPLOAD_FILE,${sha}`, 'WRONG_FIELD_COUNT', 'unframed'],
    // Too many fields and no digest at the end: nobody can tell whether a body follows.
    ['UPLOAD_FILE,a,x,y,z,5', 'WRONG_FIELD_COUNT', 'unframed'],
  ];
  for (const [line, code, body] of rows) {
    const result = parse(line);
    assert.equal(result.ok, false, line);
    if (result.ok) continue;
    assert.equal(result.code, code, line);
    if (body === 'unframed') {
      assert.equal(result.unframed, true, line);
      assert.equal(result.body, undefined, line);
    } else {
      assert.equal(result.body, body, line);
      assert.equal(result.unframed, undefined, line);
    }
  }
  // The ask-first form has no body before its go-ahead, whatever goes wrong.
  for (const line of ['UPLOAD_FILE,a,b,-1', 'UPLOAD_FILE,a,b', 'UPLOAD_FILE']) {
    const asked = parse(line);
    assert.equal(!asked.ok && asked.body === undefined && asked.unframed === undefined, true, line);
  }
});

test('GRANT takes read, write, admin or none, and nothing else', () => {
  assert.deepEqual(parseRequest(Buffer.from('GRANT,photos,bob,write')), { ok: true, value: { command: 'GRANT', bucket: 'photos', user: 'bob', permission: 'write' } });
  assert.deepEqual(parseRequest(Buffer.from('GRANT,photos,anonymous,none')), { ok: true, value: { command: 'GRANT', bucket: 'photos', user: 'anonymous', permission: 'none' } });
  for (const bad of ['owner', 'READ', '', 'read%20']) {
    const parsed = parseRequest(Buffer.from(`GRANT,photos,bob,${bad}`));
    assert.equal(parsed.ok ? 'ok' : parsed.code, 'BAD_FIELD', bad);
  }
  const short = parseRequest(Buffer.from('GRANT,photos,bob'));
  assert.equal(short.ok ? 'ok' : short.code, 'WRONG_FIELD_COUNT');
});

test('property: every request round-trips through one line without spaces', () => {
  fc.assert(
    fc.property(requestArb, (request) => {
      const wire = encodeRequest(request);
      assert.equal(wire.indexOf(0x20), -1);
      assert.equal(wire.indexOf(0x0a), wire.length - 1);
      assert.deepEqual(parseRequest(wire.subarray(0, -1)), { ok: true, value: request });
    }),
    { numRuns: 1000 },
  );
});

test('property: parsing arbitrary lines never throws and names a code when it refuses', () => {
  const wordish = fc.oneof(fc.constantFrom(...COMMANDS), fc.string({ maxLength: 12 }));
  const lines = fc.oneof(
    fc.uint8Array({ maxLength: 80 }),
    fc.tuple(wordish, fc.array(fc.string({ maxLength: 10 }), { maxLength: 5 })).map(([w, f]) => Buffer.from([w, ...f].join(','), 'utf8')),
  );
  fc.assert(
    fc.property(lines, (line) => {
      const result = parseRequest(line);
      if (!result.ok) assert.match(result.code, /^[A-Z_]+$/);
    }),
    { numRuns: 2000 },
  );
});

test('property: LIST_FILE with any prefix and delimiter fields parses to those fields, or refuses with BAD_FIELD', () => {
  const field = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.constantFrom('/', '', '..', '%2F', 'a/b/', '\u0001', 'a\u0085', '\u007f'));
  fc.assert(
    fc.property(fc.array(field, { minLength: 0, maxLength: 2 }), (extra) => {
      const wire = Buffer.from(['LIST_FILE', 'photos', ...extra.map(encodeField)].join(','), 'utf8');
      const result = parseRequest(wire);
      const [prefix, delimiter] = extra;
      const fine = (prefix === undefined || !/[\u0000-\u001f\u007f-\u009f]/.test(prefix)) && (delimiter === undefined || delimiter === '/');
      if (!fine) {
        assert.equal(result.ok ? 'ok' : result.code, 'BAD_FIELD');
        return;
      }
      const expected: Request = { command: 'LIST_FILE', bucket: 'photos', ...(prefix === undefined ? {} : { prefix }), ...(delimiter === undefined ? {} : { delimiter: '/' as const }) };
      assert.deepEqual(result, { ok: true, value: expected });
      assert.deepEqual(parseRequest(encodeRequest(expected).subarray(0, -1)), result);
    }),
    { numRuns: 1000 },
  );
});

test('upload trailer: SHA256 and 64 lowercase hex digits', () => {
  const sha = 'a'.repeat(64);
  assert.equal(parseUploadTrailer(Buffer.from(`SHA256,${sha}`)), sha);
  for (const bad of ['', sha, `SHA256,${sha.toUpperCase()}`, `SHA256,${sha}0`, `sha256,${sha}`, `SHA256, ${sha}`]) {
    assert.equal(parseUploadTrailer(Buffer.from(bad)), undefined, bad);
  }
});
