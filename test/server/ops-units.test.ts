/**
 * The pieces of operations that need no server: the logger's two formats
 * and its guard against secrets, the status page's escaping and figures,
 * and hooks combined in order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { combineHooks } from '../../src/server/access-log.js';
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
