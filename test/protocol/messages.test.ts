/**
 * Typed replies: each codec against wire lines written out by hand, both
 * ways, and the reading rules a client depends on (extra fields ignored,
 * unknown error codes carried as they came).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BucketError, closesConnection, ERRORS } from '../../src/errors.js';
import {
  BUCKET_CREATED,
  BUCKET_DELETED,
  BUCKET_ITEM,
  BYE,
  DOWNLOAD_DONE,
  DOWNLOAD_GO_AHEAD,
  encodeTyped,
  encodeTypedItem,
  errorOf,
  FILE_DELETED,
  FILE_ITEM,
  FOLDER_ITEM,
  HELLO,
  LIST_ITEM,
  LIST_HEAD,
  LOGGED_IN,
  LOGIN_CONTINUE,
  BUCKET_INFO,
  GRANTED,
  readTyped,
  readTypedItem,
  UnexpectedReply,
  UPLOAD_GO_AHEAD,
  UPLOAD_STORED,
  type ReplyCodec,
} from '../../src/protocol/messages.js';
import { parseItem, parseReply } from '../../src/protocol/replies.js';

const SHA = 'b0f0d8ff8cc965a7b70b07e0c6b4c028f132597196ae9c70c620cb9e41344106';
const T = '2026-11-23T22:41:19.125Z';

const head = (wire: string) => {
  const parsed = parseReply(Buffer.from(wire.replace(/\n$/, '')));
  assert.ok(parsed.ok, wire);
  return parsed.value;
};

// (codec, value, wire line) rows, written out independently of the encoders.
const ROWS: Array<[ReplyCodec<any>, unknown, string]> = [
  [HELLO, { name: 'bucketd', version: '0.1.0', protocol: 1 }, '200,bucketd,0.1.0,1 hello from bucketd 0.1.0 (protocol 1)\n'],
  [HELLO, { name: 'bucketd', version: '0.2.0', protocol: 2, login: 'required', mechanisms: ['SCRAM-SHA-256'] }, '200,bucketd,0.2.0,2,required,SCRAM-SHA-256 hello from bucketd 0.2.0 (protocol 2)\n'],
  [LOGIN_CONTINUE, { message: 'r=abc,s=c2FsdA==,i=4096' }, '130,r%3Dabc%2Cs%3Dc2FsdA%3D%3D%2Ci%3D4096 go on with LOGIN_PROOF\n'],
  [LOGGED_IN, { user: 'alice', message: 'v=c2ln' }, '200,alice,v%3Dc2ln logged in as "alice"\n'],
  [BUCKET_INFO, { bucket: 'photos', files: 2, bytes: 17, quota: 1000 }, '200,photos,2,17,1000 2 files, 17 bytes of a 1000-byte quota\n'],
  [BUCKET_INFO, { bucket: 'photos', files: 1, bytes: 5 }, '200,photos,1,5, 1 file, 5 bytes\n'],
  [GRANTED, { bucket: 'photos', user: 'bob', permission: 'read' }, '200,photos,bob,read "bob" may read "photos"\n'],
  [GRANTED, { bucket: 'photos', user: 'bob', permission: 'none' }, '200,photos,bob,none "bob" holds no grant on "photos"\n'],
  [BYE, {}, '221 goodbye\n'],
  [BUCKET_CREATED, { name: 'photos', createdAt: new Date(T) }, `201,photos,${T} bucket "photos" created\n`],
  [BUCKET_DELETED, { bucket: 'photos', deletedFiles: 2 }, '200,photos,2 bucket "photos" deleted with 2 files\n'],
  [BUCKET_DELETED, { bucket: 'photos', deletedFiles: 0 }, '200,photos,0 bucket "photos" deleted\n'],
  [FILE_DELETED, { bucket: 'photos', name: 'my cat.txt' }, '200,photos,my%20cat.txt file "my cat.txt" deleted\n'],
  [LIST_HEAD, { count: 3 }, '200,3 3 items\n'],
  [UPLOAD_GO_AHEAD, { name: 'cat.txt', size: 5 }, '150,cat.txt,5 send 5 bytes, then the SHA256 trailer\n'],
  [UPLOAD_STORED, { bucket: 'photos', name: 'cat.txt', size: 5, sha256: SHA }, `201,photos,cat.txt,5,${SHA} stored "cat.txt" (5 bytes)\n`],
  [DOWNLOAD_GO_AHEAD, { name: 'cat.txt', size: 5 }, '150,cat.txt,5 sending 5 bytes, then a status line\n'],
  [DOWNLOAD_DONE, { sha256: SHA }, `200,${SHA} sent\n`],
];

test('table: every typed reply encodes to its wire line and reads back', () => {
  for (const [codec, value, wire] of ROWS) {
    assert.equal(encodeTyped(codec, value).toString('utf8'), wire, codec.name);
    assert.deepEqual(readTyped(codec, head(wire)), value, codec.name);
  }
});

test('table: list items both ways', () => {
  const items: Array<[unknown, string, typeof FILE_ITEM | typeof BUCKET_ITEM]> = [
    [{ name: 'photos', createdAt: new Date(T) }, `photos,${T}\n`, BUCKET_ITEM],
    [{ name: 'a b.txt', size: 12, modifiedAt: new Date(T), sha256: SHA }, `a%20b.txt,12,${T},${SHA}\n`, FILE_ITEM],
    [{ name: 'by-hand', size: 0, modifiedAt: new Date(T) }, `by-hand,0,${T},\n`, FILE_ITEM],
  ];
  for (const [value, wire, codec] of items) {
    assert.equal(encodeTypedItem(codec as typeof FILE_ITEM, value as never).toString('utf8'), wire);
    const fields = parseItem(Buffer.from(wire.slice(0, -1)));
    assert.ok(fields.ok);
    assert.deepEqual(readTypedItem(codec as typeof FILE_ITEM, fields.value), value);
  }
});

test('table: a LIST_FILE item is a folder when its name ends in "/", a file otherwise', () => {
  const rows: Array<[string, unknown]> = [
    ['2026%2Ftrip%2F', { kind: 'folder', name: '2026/trip/' }],
    [`2026%2Ftrip%2Fimg%2001.jpg,4,${T},${SHA}`, { name: '2026/trip/img 01.jpg', size: 4, modifiedAt: new Date(T), sha256: SHA }],
    [`top.txt,0,${T},`, { name: 'top.txt', size: 0, modifiedAt: new Date(T) }],
  ];
  for (const [wire, value] of rows) {
    const fields = parseItem(Buffer.from(wire));
    assert.ok(fields.ok);
    assert.deepEqual(readTypedItem(LIST_ITEM, fields.value), value, wire);
    assert.equal(encodeTypedItem(LIST_ITEM, value as never).toString('utf8'), `${wire}\n`);
  }
  // A folder item with fields a newer server adds is still a folder.
  assert.deepEqual(readTypedItem(LIST_ITEM, ['a/', 'more']), { kind: 'folder', name: 'a/' });
  assert.throws(() => encodeTypedItem(FOLDER_ITEM, { kind: 'folder', name: 'no-slash' }), RangeError);
  assert.throws(() => readTypedItem(LIST_ITEM, ['a', 'not-a-size', T, '']), UnexpectedReply);
  assert.throws(() => readTypedItem(LIST_ITEM, []), UnexpectedReply);
});

test('fields a newer server adds are ignored; missing or malformed ones are refused', () => {
  assert.deepEqual(readTyped(HELLO, head('200,bucketd,9.9.9,7,optional,SCRAM-SHA-256%20OTHER,more hi')), { name: 'bucketd', version: '9.9.9', protocol: 7, login: 'optional', mechanisms: ['SCRAM-SHA-256', 'OTHER'] });
  assert.throws(() => readTyped(HELLO, head('200,bucketd,9.9.9,7,maybe,x')), UnexpectedReply);
  assert.deepEqual(readTyped(UPLOAD_GO_AHEAD, head('150,x,3,resume-id')), { name: 'x', size: 3 });
  for (const [codec, wire] of [
    [HELLO, '200,bucketd,0.1.0'],
    [HELLO, '200,bucketd,0.1.0,one'],
    [UPLOAD_GO_AHEAD, '150,x,-3'],
    [UPLOAD_STORED, '201,b,n,3,nothex'],
    [DOWNLOAD_DONE, '200,'],
    [BUCKET_CREATED, '201,photos,yesterday'],
    [LIST_HEAD, '200,01'],
  ] as const) {
    assert.throws(() => readTyped(codec as ReplyCodec<unknown>, head(wire)), UnexpectedReply, wire);
  }
  assert.throws(() => readTypedItem(FILE_ITEM, ['a', '1', T, 'short']), UnexpectedReply);
});

test('a reply of another status is unexpected; an error reply is a BucketError', () => {
  assert.throws(() => readTyped(UPLOAD_STORED, head('200,x')), UnexpectedReply);
  assert.throws(
    () => readTyped(HELLO, head('409,BUCKET_NOT_EMPTY,2 holds 2 files')),
    (error: unknown) => error instanceof BucketError && error.code === 'BUCKET_NOT_EMPTY' && error.status === 409 && error.details[0] === '2',
  );
});

test('an error code this build does not know is carried as it came', () => {
  const error = errorOf(head('429,SLOW_DOWN,5 too many requests; wait 5 s'));
  assert.equal(error.code, 'SLOW_DOWN');
  assert.equal(error.status, 429);
  assert.deepEqual(error.details, ['5']);
  assert.equal(error.message, 'too many requests; wait 5 s');
  assert.equal(error.closesConnection, false);
  // No code at all: judged by its status class, the fields kept as details.
  assert.equal(errorOf(head('500 boom')).code, 'INTERNAL');
  assert.equal(errorOf(head('400,lowercase nope')).code, 'BAD_FIELD');
});

test('the error table says which codes close the connection', () => {
  const closing = Object.entries(ERRORS).filter(([, spec]) => spec.closes).map(([code]) => code).sort();
  assert.deepEqual(closing, ['AUTH_TIMEOUT', 'BAD_TRAILER', 'IDLE_TIMEOUT', 'INCOMPLETE_BODY', 'LINE_TOO_LONG', 'REQUEST_TIMEOUT', 'SHUTTING_DOWN', 'TLS_NOT_AVAILABLE', 'TLS_REQUIRED', 'TOO_MANY_CONNECTIONS', 'TOO_SLOW']);
  assert.equal(closesConnection('SHUTTING_DOWN'), true);
  assert.equal(closesConnection('NO_SUCH_FILE'), false);
  assert.equal(new BucketError('IDLE_TIMEOUT').closesConnection, true);
});

test('property: typed uploads and file items round-trip for any name and size', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }), fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.date({ noInvalidDate: true, min: new Date(0), max: new Date('9999-12-31') }), (name, size, date) => {
      const stored = { bucket: 'b-1', name, size, sha256: SHA };
      assert.deepEqual(readTyped(UPLOAD_STORED, head(encodeTyped(UPLOAD_STORED, stored).toString('utf8'))), stored);
      const file = { name, size, modifiedAt: date };
      const fields = parseItem(encodeTypedItem(FILE_ITEM, file).subarray(0, -1));
      assert.ok(fields.ok);
      assert.deepEqual(readTypedItem(FILE_ITEM, fields.value), file);
    }),
    { numRuns: 300 },
  );
});
