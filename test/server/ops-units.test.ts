/**
 * The pieces of operations that need no server: the logger's two formats
 * and its guard against secrets, the status page's escaping and figures,
 * and hooks combined in order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ERRORS, type ErrorCode } from '../../src/errors.js';
import { COMMANDS } from '../../src/protocol/requests.js';
import { combineHooks, requestFields, requestJson } from '../../src/server/access-log.js';
import type { RequestRecord } from '../../src/server/session.js';
import { createLogger, prettyLine } from '../../src/server/logger.js';
import { escapeHtml, humanBytes, humanDuration, renderStatusPage, type StatusSnapshot } from '../../src/server/ops/status-page.js';

function capture(): { out: { write(text: string): void }; lines: string[] } {
  const lines: string[] = [];
  return { out: { write: (text: string) => void lines.push(text) }, lines };
}

test('json logs: one object per line with time, level and msg; levels below the threshold dropped', () => {
  const { out, lines } = capture();
  const logger = createLogger('info', out, 'json');
  logger.debug('hidden');
  logger.info('request', { command: 'LIST_FILE', bucket: 'b', status: 200, user: undefined });
  logger.error('oops');
  assert.equal(lines.length, 2);
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.deepEqual(Object.keys(first), ['level', 'time', 'command', 'bucket', 'status', 'msg']);
  assert.equal(first.level, 'info');
  assert.match(String(first.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(JSON.parse(lines[1]!).level, 'error');
});

test('json logs: a child carries its fields on every line, before the line\'s own; the time is the ISO time of the line', () => {
  const { out, lines } = capture();
  const child = createLogger('info', out, 'json').child!({ conn: 3, peer: '1.2.3.4:5', user: undefined });
  const before = Date.now();
  child.info('request', { command: 'HELLO', bucket: undefined, status: 200 });
  child.info('again');
  const after = Date.now();
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.deepEqual(Object.keys(first), ['level', 'time', 'conn', 'peer', 'command', 'status', 'msg']);
  assert.deepEqual(JSON.parse(lines[1]!), { ...JSON.parse(lines[1]!), conn: 3, peer: '1.2.3.4:5', msg: 'again' });
  const time = String(first.time);
  assert.equal(new Date(time).toISOString(), time);
  assert.ok(Date.parse(time) >= before && Date.parse(time) <= after);
});

test('a field named like a secret never reaches the log, whatever the caller passes', () => {
  const { out, lines } = capture();
  const logger = createLogger('debug', out, 'json');
  logger.warn('careless', { user: 'alice', password: 'hunter2', proof: 'p=abc', secret: 'x' });
  assert.ok(!lines[0]!.includes('hunter2') && !lines[0]!.includes('p=abc'));
  assert.equal(JSON.parse(lines[0]!).user, 'alice');
});

const anyRecord: fc.Arbitrary<RequestRecord> = fc
  .record({
    command: fc.option(fc.constantFrom(...COMMANDS), { nil: undefined }),
    bucket: fc.option(fc.string({ unit: 'grapheme' }), { nil: undefined }),
    // Any character, control characters, quotes and backslashes included
    // (lone surrogates have a test of their own: pino writes them raw).
    name: fc.option(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\u007f', '\u2028', 'é', 'a') })), { nil: undefined }),
    outcome: fc.constantFrom('OK', 'CONNECTION_LOST', ...(Object.keys(ERRORS) as ErrorCode[])),
    status: fc.integer({ min: 0, max: 599 }),
    bytesIn: fc.oneof(fc.nat(), fc.constant(2 ** 40)),
    bytesOut: fc.nat(),
    // Up to a year, often near a tenth's edge, and (never made, but typed) negative or not finite.
    durationMs: fc.oneof(fc.double({ min: 0, max: 3.2e10, noNaN: true }), fc.integer({ min: 0, max: 100000 }).map((tenths) => tenths / 10 + 0.05), fc.constantFrom(-1.26, Number.NaN, Infinity, 1e-310, 1e20)),
  })
  .map((record) => {
    // Absent, not undefined, as the connection makes them.
    const { bucket, name, ...rest } = record;
    return { ...rest, ...(bucket === undefined ? {} : { bucket }), ...(name === undefined ? {} : { name }) } as RequestRecord;
  });

const withoutTime = (line: string): Record<string, unknown> => {
  const { time, ...rest } = JSON.parse(line) as Record<string, unknown>;
  assert.match(String(time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  return rest;
};

test('property: a request line written from its record is the line pino writes from its fields, key for key and in order', () => {
  fc.assert(
    fc.property(anyRecord, (record) => {
      const { out, lines } = capture();
      const child = createLogger('info', out, 'json').child!({ conn: 7, peer: '[::1]:5', user: 'ann' });
      const level = record.status >= 500 ? 'error' : 'info';
      child.encoded!(level, 'request', requestJson, record);
      child[level]('request', requestFields(record));
      assert.equal(lines.length, 2);
      assert.ok(lines[0]!.endsWith('}\n') && !lines[0]!.slice(0, -1).includes('\n'));
      const [encoded, generic] = [withoutTime(lines[0]!), withoutTime(lines[1]!)];
      assert.deepEqual(Object.keys(encoded), Object.keys(generic));
      assert.deepEqual(encoded, generic);
      // Byte for byte too (2, not 2.0), the times aside.
      const timeless = (line: string): string => line.replace(/"time":"[^"]*"/, '"time":""');
      assert.equal(timeless(lines[0]!), timeless(lines[1]!));
    }),
  );
});

test('encoded lines: a lone surrogate in a name is escaped, so the line stays JSON that UTF-8 can carry', () => {
  const { out, lines } = capture();
  const record: RequestRecord = { command: 'DELETE_FILE', bucket: 'b1', name: 'a\ud800b', outcome: 'OK', status: 200, bytesIn: 20, bytesOut: 9, durationMs: 1 };
  createLogger('info', out, 'json').encoded!('info', 'request', requestJson, record);
  assert.ok(lines[0]!.includes('"name":"a\\ud800b"'), lines[0]);
  assert.equal(JSON.parse(Buffer.from(lines[0]!).toString()).name, 'a\ud800b');
});

test('encoded lines: dropped below the level, with the bindings of every parent and no secret-named binding', () => {
  const { out, lines } = capture();
  const root = createLogger('warn', out, 'json');
  const child = root.child!({ conn: 1, password: 'hunter2' }).child!({ peer: 'p "q"', user: undefined });
  const record: RequestRecord = { command: 'HELLO', outcome: 'OK', status: 200, bytesIn: 6, bytesOut: 9, durationMs: 0.25 };
  child.encoded!('info', 'request', requestJson, record);
  assert.equal(lines.length, 0);
  child.encoded!('error', 'request', requestJson, { ...record, status: 500, outcome: 'INTERNAL' });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0]!.includes('hunter2'));
  assert.deepEqual(withoutTime(lines[0]!), { level: 'error', conn: 1, peer: 'p "q"', command: 'HELLO', status: 500, code: 'INTERNAL', bytesIn: 6, bytesOut: 9, ms: 0.3, msg: 'request' });
});

test('encoded lines: pretty when the log is', () => {
  const { out, lines } = capture();
  const record: RequestRecord = { command: 'UPLOAD_FILE', bucket: 'b1', name: 'a b.txt', outcome: 'OK', status: 201, bytesIn: 4000, bytesOut: 50, durationMs: 2 };
  createLogger('info', out, 'pretty').child!({ conn: 2 }).encoded!('info', 'request', requestJson, record);
  assert.match(lines[0]!, /^\S+Z info request conn=2 command=UPLOAD_FILE bucket=b1 name="a b.txt" status=201 code=OK bytesIn=4000 bytesOut=50 ms=2 rate=2000000\n$/);
});

test('pretty logs: time level message key=value, quoting what needs it', () => {
  assert.equal(prettyLine('{"level":"info","time":"T","peer":"1.2.3.4:5","reason":"a b","n":3,"msg":"closed"}'), 'T info closed peer=1.2.3.4:5 reason="a b" n=3\n');
  const { out, lines } = capture();
  createLogger('info', out, 'pretty').warn('disk "low"', { free: 12 });
  assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT\S+Z warn disk "low" free=12\n$/);
});

test('property: escaped text never holds markup', () => {
  fc.assert(
    fc.property(fc.string(), (text) => {
      const escaped = escapeHtml(text);
      assert.ok(!/[<>"']/.test(escaped));
      assert.equal(escaped.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&'), text);
    }),
  );
});

test('the status page: figures, draining, and names escaped', () => {
  const snapshot: StatusSnapshot = {
    version: '1.2.3',
    protocol: 2,
    startedAt: new Date('2026-12-01T00:00:00Z'),
    now: new Date('2026-12-02T03:04:05Z'),
    store: '/srv/<data>',
    draining: true,
    connections: 7,
    uploads: { count: 2, stagedBytes: 3 * 1024 * 1024 },
    rate: { in: 2048, out: 0, seconds: 60 },
    buckets: [{ name: 'photos', files: 3, bytes: 1536 }],
    moreBuckets: true,
    errors: [{ at: new Date('2026-12-02T03:00:00Z'), peer: '10.0.0.1:4000', user: 'bob', command: 'DOWNLOAD_FILE', bucket: 'photos', name: '"><img src=x>', status: 404, code: 'NO_SUCH_FILE' }],
  };
  const html = renderStatusPage(snapshot);
  assert.ok(!html.includes('<script'));
  assert.ok(!html.includes('<img'));
  assert.ok(html.includes('&quot;&gt;&lt;img src=x&gt;'));
  assert.ok(html.includes('/srv/&lt;data&gt;'));
  assert.match(html, /<dd id="uptime">1 d 3 h /);
  assert.match(html, /<dd id="connections">7<\/dd>/);
  assert.match(html, /draining: finishing transfers/);
  assert.match(html, /2\.0 KiB\/s in, 0 B\/s out \(last 60 s\)/);
  assert.match(html, /<tr><td>photos<\/td><td class="n">3<\/td><td class="n">1536<\/td><td class="n">1\.5 KiB<\/td><\/tr>/);
  assert.match(html, /Only the first 1 buckets are shown/);
  assert.equal(humanBytes(0), '0 B');
  assert.equal(humanBytes(5 * 1024 ** 3), '5.0 GiB');
  assert.equal(humanDuration(59_000), '59 s');
  assert.equal(humanDuration(3_600_000 + 60_000), '1 h 1 min');
});

test('combined hooks run each observer in order; without any, no hook is set', async () => {
  const seen: string[] = [];
  const combined = combineHooks(
    { onConnectionOpen: () => void seen.push('a-open'), beforeRequest: () => void seen.push('a-before') },
    undefined,
    { onConnectionOpen: () => void seen.push('b-open'), onRequestEnd: () => void seen.push('b-end') },
  );
  const session = { id: 1, remoteAddress: '127.0.0.1', remotePort: 1, peer: '127.0.0.1:1', connectedAt: new Date(), requests: 0 };
  combined.onConnectionOpen!(session);
  await combined.beforeRequest!(session, { command: 'HELLO' });
  combined.onRequestEnd!(session, { command: 'HELLO', outcome: 'OK', status: 200, bytesIn: 6, bytesOut: 30, durationMs: 1 });
  assert.deepEqual(seen, ['a-open', 'b-open', 'a-before', 'b-end']);
  assert.deepEqual(Object.keys(combineHooks(undefined, {})), []);
});
