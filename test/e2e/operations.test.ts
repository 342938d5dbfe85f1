/**
 * Running bucketd as a service: JSON logs with the fields an operator
 * needs (and no secrets), a log file that SIGHUP reopens, Prometheus
 * metrics that move by exactly what was done and parse as the text format,
 * health and readiness (503 while draining, with a transfer finishing),
 * and the status page.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'node:test';
import { BucketClient } from '../../src/client/client.js';
import { bucketd, newRoot } from '../helpers/bucketd.js';
import { hasMetric, promtoolPath, promtoolProblems, readSamples, valueOf, type Sample } from '../helpers/prometheus.js';
import { RawPeer } from '../helpers/raw.js';
import { startServer, tempDir } from '../helpers/server.js';

const sha = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const put = (client: BucketClient, bucket: string, name: string, text: string): Promise<unknown> =>
  client.upload(bucket, name, Readable.from([Buffer.from(text)]), Buffer.byteLength(text));

async function get(port: number, route: string): Promise<{ status: number; type: string; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${route}`);
  return { status: response.status, type: response.headers.get('content-type') ?? '', body: await response.text() };
}

let promtoolWarned = false;

/** The samples of /metrics, after promtool has checked the text is valid. */
async function scrape(port: number): Promise<Sample[]> {
  const { status, type, body } = await get(port, '/metrics');
  assert.equal(status, 200);
  assert.match(type, /^text\/plain; version=0\.0\.4/);
  const promtool = promtoolPath();
  if (promtool) assert.equal(promtoolProblems(body, promtool), undefined);
  else if (!promtoolWarned) {
    promtoolWarned = true;
    console.warn('SKIPPED: promtool not found (scripts/system-deps.mjs fetches it); the metrics text is not checked by Prometheus');
  }
  return readSamples(body);
}

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        assert.fail(`not a JSON log line: ${line}`);
      }
    });
}

test('JSON logs: one line per request and connection event, with who, what and how it went, and no secrets', async () => {
  const root = await newRoot();
  const password = 'a very secret passphrase';
  assert.equal((await bucketd(['user', 'add', 'alice', '--root', root], `${password}\n`)).code, 0);
  const server = await startServer({ root, args: ['--log-level', 'info', '--log-format', 'json'] });
  try {
    const alice = await BucketClient.connect({ port: server.port, credentials: { user: 'alice', password } });
    await alice.createBucket('photos');
    const body = 'the contents of a private file\n';
    await put(alice, 'photos', 'cat one.txt', body);
    const sink = new PassThrough();
    sink.resume();
    await alice.download('photos', 'cat one.txt', sink);
    await assert.rejects(alice.download('photos', 'none.txt', new PassThrough()));
    await alice.exit();
    const wrong = await BucketClient.connect({ port: server.port });
    await assert.rejects(wrong.login('alice', 'not the password'));
    wrong.close();
    await server.stop();

    const log = server.stderr();
    assert.ok(!log.includes(password), 'the password is in the log');
    assert.ok(!log.includes('not the password'), 'a wrong password is in the log');
    assert.ok(!log.includes('private file'), 'file contents are in the log');
    assert.ok(!/p=[A-Za-z0-9+/]{20,}/.test(log), 'a SCRAM proof is in the log');
    const lines = jsonLines(log);
    for (const line of lines) {
      assert.match(String(line.time), /^\d{4}-\d\d-\d\dT/);
      assert.ok(['debug', 'info', 'warn', 'error'].includes(String(line.level)));
      assert.equal(typeof line.msg, 'string');
    }
    const requests = lines.filter((line) => line.msg === 'request');
    const upload = requests.find((line) => line.command === 'UPLOAD_FILE');
    assert.ok(upload, log);
    assert.equal(upload.user, 'alice');
    assert.equal(upload.bucket, 'photos');
    assert.equal(upload.name, 'cat one.txt');
    assert.equal(upload.status, 201);
    assert.equal(upload.code, 'OK');
    assert.match(String(upload.peer), /^127\.0\.0\.1:\d+$/);
    assert.equal(typeof upload.conn, 'number');
    assert.equal(upload.bytesIn, `UPLOAD_FILE,photos,cat%20one.txt,${body.length}\n`.length + body.length + `SHA256,${sha(body)}\n`.length);
    assert.equal(typeof upload.ms, 'number');
    assert.equal(typeof upload.rate, 'number');
    const download = requests.find((line) => line.command === 'DOWNLOAD_FILE' && line.code === 'OK');
    assert.ok(download && (download.bytesOut as number) > body.length && typeof download.rate === 'number');
    const missing = requests.find((line) => line.command === 'DOWNLOAD_FILE' && line.code === 'NO_SUCH_FILE');
    assert.equal(missing?.status, 404);
    // One line per transfer, never one per chunk.
    assert.equal(requests.filter((line) => line.command === 'UPLOAD_FILE').length, 1);
    const failedLogin = lines.find((line) => line.msg === 'login failed');
    assert.ok(failedLogin && String(failedLogin.peer).startsWith('127.0.0.1:'));
    const proof = requests.find((line) => line.command === 'LOGIN_PROOF' && line.code === 'AUTH_FAILED');
    assert.ok(proof, 'the failed login has its request line');
    assert.equal(failedLogin.conn, proof.conn, 'the warning names its connection');
    assert.deepEqual(Object.keys(proof).filter((key) => /message|proof|password/i.test(key)), []);
    const opened = lines.filter((line) => line.msg === 'connection opened');
    const closed = lines.filter((line) => line.msg === 'connection closed');
    assert.equal(opened.length, 2);
    assert.equal(closed.length, 2);
    assert.deepEqual(closed.map((line) => line.reason).sort(), ['exit', 'peer-closed']);
  } finally {
    await server.stop();
  }
});

test('standard error that no person watches: each line arrives soon after its request, whole, while the server runs on', async () => {
  const server = await startServer({ args: ['--log-level', 'info', '--log-format', 'json'] });
  try {
    const client = await BucketClient.connect({ port: server.port });
    const deadline = Date.now() + 5000;
    // Batched, not held: the request's line arrives while the server runs on.
    await client.createBucket('batched');
    while (!server.stderr().includes('"command":"NEW_BUCKET"')) {
      assert.ok(Date.now() < deadline, `no line for the request in 5 s: ${server.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (let i = 0; i < 300; i++) await client.hello();
    await client.exit();
    await server.stop();
    const requests = jsonLines(server.stderr()).filter((line) => line.msg === 'request');
    assert.equal(requests.filter((line) => line.command === 'HELLO').length, 300, 'every HELLO has its line, whole');
  } finally {
    await server.stop();
  }
});

test('--log-file: written as JSON, reopened on SIGHUP after a rotation', async () => {
  const folder = await tempDir();
  const file = path.join(folder, 'logs', 'bucketd.log');
  const server = await startServer({ args: ['--log-level', 'info', '--log-format', 'json', '--log-file', file] });
  try {
    const client = await BucketClient.connect({ port: server.port });
    await client.createBucket('before');
    await rename(file, `${file}.1`);
    server.child.kill('SIGHUP');
    const deadline = Date.now() + 5000;
    for (;;) {
      const text = await readFile(file, 'utf8').catch(() => '');
      if (text.includes('SIGHUP')) break;
      assert.ok(Date.now() < deadline, 'the log file was not reopened');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await client.createBucket('after');
    await client.exit();
    await server.stop();
    const rotated = jsonLines(await readFile(`${file}.1`, 'utf8'));
    const current = jsonLines(await readFile(file, 'utf8'));
    assert.ok(rotated.some((line) => line.command === 'NEW_BUCKET' && line.bucket === 'before'));
    assert.ok(!rotated.some((line) => line.bucket === 'after'));
    assert.ok(current.some((line) => line.command === 'NEW_BUCKET' && line.bucket === 'after'));
    assert.ok(current.some((line) => line.msg === 'stopped'));
    assert.equal(server.stderr(), '', 'nothing goes to standard error');
  } finally {
    await server.stop();
  }
});

test('/metrics: valid Prometheus text, counters moving by exactly what was done', async () => {
  const root = await newRoot();
  assert.equal((await bucketd(['user', 'add', 'alice', '--root', root], 'sesame open\n')).code, 0);
  const server = await startServer({ root, args: ['--http-port', '0'] });
  try {
    const port = server.httpPort!;
    const before = await scrape(port);
    for (const name of ['process_cpu_user_seconds_total', 'nodejs_heap_size_used_bytes', 'bucketd_connections_open', 'bucketd_uploads_in_flight', 'bucketd_upload_staged_bytes']) {
      assert.ok(hasMetric(before, name), `${name} is missing`);
    }
    assert.equal(valueOf(before, 'bucketd_info', { version: (await import('../../src/version.js')).VERSION }), 1);
    // What an alert watches is there at 0 before anything happens: a series
    // that first appears at 1 shows no increase, and would raise no alert.
    const exists = (name: string, labels: Record<string, string>): boolean =>
      before.some((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value) && sample.value === 0);
    for (const command of ['UPLOAD_FILE', 'DOWNLOAD_FILE', 'DELETE_BUCKET', 'HELLO']) {
      for (const code of ['STORAGE_FAILED', 'NO_SPACE', 'CORRUPT_FILE', 'INTERNAL']) assert.ok(exists('bucketd_storage_errors_total', { command, code }), `${command} ${code}`);
    }
    for (const code of ['TOO_MANY_CONNECTIONS', 'SHUTTING_DOWN']) assert.ok(exists('bucketd_connections_refused_total', { code }), code);

    const alice = await BucketClient.connect({ port: server.port, credentials: { user: 'alice', password: 'sesame open' } });
    await alice.createBucket('box');
    await put(alice, 'box', 'a.txt', 'hello');
    await put(alice, 'box', 'b.txt', 'twelve bytes');
    await assert.rejects(alice.download('box', 'missing.txt', new PassThrough()));
    const during = await scrape(port);
    assert.equal(valueOf(during, 'bucketd_connections_open'), 1);
    await alice.exit();
    const stranger = await BucketClient.connect({ port: server.port });
    await assert.rejects(stranger.login('alice', 'wrong'));
    await stranger.exit();

    const after = await scrape(port);
    const delta = (name: string, labels: Record<string, string> = {}): number => valueOf(after, name, labels) - valueOf(before, name, labels);
    assert.equal(delta('bucketd_requests_total', { command: 'UPLOAD_FILE', status: '201', code: 'OK' }), 2);
    assert.equal(delta('bucketd_requests_total', { command: 'NEW_BUCKET', status: '201', code: 'OK' }), 1);
    assert.equal(delta('bucketd_requests_total', { command: 'DOWNLOAD_FILE', status: '404', code: 'NO_SUCH_FILE' }), 1);
    assert.equal(delta('bucketd_requests_total', { command: 'LOGIN_PROOF', status: '401', code: 'AUTH_FAILED' }), 1);
    assert.equal(delta('bucketd_requests_total', { command: 'EXIT', status: '221', code: 'OK' }), 2);
    assert.equal(delta('bucketd_login_failures_total'), 1);
    assert.equal(delta('bucketd_connections_total'), 2);
    assert.equal(delta('bucketd_connections_closed_total', { reason: 'exit' }), 2);
    const uploadBytes = ['hello', 'twelve bytes'].reduce((sum, text) => sum + `UPLOAD_FILE,box,a.txt,${text.length}\n`.length + text.length + `SHA256,${sha(text)}\n`.length, 0);
    assert.equal(delta('bucketd_received_bytes_total', { command: 'UPLOAD_FILE' }), uploadBytes);
    assert.equal(delta('bucketd_received_bytes_total', { command: 'NEW_BUCKET' }), 'NEW_BUCKET,box\n'.length);
    assert.equal(delta('bucketd_transfer_duration_seconds_count', { direction: 'upload', outcome: 'ok' }), 2);
    assert.equal(delta('bucketd_transfer_duration_seconds_count', { direction: 'download', outcome: 'failed' }), 1);
    assert.equal(delta('bucketd_transfer_duration_seconds_bucket', { direction: 'upload', outcome: 'ok', le: '+Inf' }), 2);
    assert.equal(delta('bucketd_storage_errors_total'), 0);
    assert.equal(valueOf(after, 'bucketd_connections_open'), 0);
  } finally {
    await server.stop();
  }
});

// One family from each of prom-client's default collectors but its GC histogram.
const NODE_FAMILIES = [
  'process_cpu_seconds_total',
  'process_start_time_seconds',
  'process_resident_memory_bytes',
  'process_open_fds',
  'process_max_fds',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_active_resources_total',
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_heap_size_total_bytes',
  'nodejs_heap_space_size_used_bytes',
  'nodejs_version_info',
];

test("/metrics: Node's process metrics; GC durations only with --metrics-gc", async () => {
  const uploads = async (port: number): Promise<void> => {
    const client = await BucketClient.connect({ port });
    await client.createBucket('box');
    // Enough small uploads for several young-generation collections.
    for (let i = 0; i < 400; i++) await put(client, 'box', `f-${i}.txt`, `file ${i}`);
    await client.exit();
  };
  const plain = await startServer({ args: ['--http-port', '0'] });
  try {
    await uploads(plain.port);
    const samples = await scrape(plain.httpPort!);
    for (const name of NODE_FAMILIES) assert.ok(hasMetric(samples, name), `${name} is missing`);
    assert.ok(!samples.some((sample) => sample.name.startsWith('nodejs_gc_')), 'GC durations are off by default');
  } finally {
    await plain.stop();
  }
  const withGc = await startServer({ args: ['--http-port', '0', '--metrics-gc'] });
  try {
    await uploads(withGc.port);
    const samples = await scrape(withGc.httpPort!);
    for (const name of NODE_FAMILIES) assert.ok(hasMetric(samples, name), `${name} is missing`);
    const minor = valueOf(samples, 'nodejs_gc_duration_seconds_count', { kind: 'minor' });
    assert.ok(minor > 0, `no minor collection counted after 400 uploads:\n${samples.filter((sample) => sample.name.startsWith('nodejs_gc')).map((sample) => `${sample.name} ${JSON.stringify(sample.labels)} ${sample.value}`).join('\n')}`);
    assert.equal(valueOf(samples, 'nodejs_gc_duration_seconds_bucket', { kind: 'minor', le: '+Inf' }), minor);
    assert.ok(valueOf(samples, 'nodejs_gc_duration_seconds_sum', { kind: 'minor' }) > 0);
  } finally {
    await withGc.stop();
  }
});

test('/healthz and /readyz; while draining, /readyz is 503 and a transfer in flight still finishes', async () => {
  const server = await startServer({ args: ['--http-port', '0', '--shutdown-grace', '20'] });
  try {
    const port = server.httpPort!;
    assert.deepEqual(await get(port, '/healthz'), { status: 200, type: 'text/plain; charset=utf-8', body: 'ok\n' });
    assert.equal((await get(port, '/readyz')).status, 200);
    assert.equal((await get(port, '/nope')).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' })).status, 405);

    const peer = await RawPeer.connect(server.port);
    peer.send('NEW_BUCKET,box\nUPLOAD_FILE,box,big.bin,1000000\n');
    assert.match(await peer.line(), /^201,box,/);
    assert.match(await peer.line(), /^150,/);
    const body = Buffer.alloc(1_000_000, 7);
    peer.send(body.subarray(0, 400_000));
    const staged = await scrape(port);
    assert.equal(valueOf(staged, 'bucketd_uploads_in_flight'), 1);

    server.child.kill('SIGTERM');
    const deadline = Date.now() + 5000;
    let ready = await get(port, '/readyz');
    while (ready.status === 200 && Date.now() < deadline) ready = await get(port, '/readyz');
    assert.deepEqual([ready.status, ready.body], [503, 'not ready: shutting down\n']);
    assert.equal((await get(port, '/healthz')).status, 200, 'alive while draining');
    assert.equal(valueOf(await scrape(port), 'bucketd_draining'), 1);
    const late = await RawPeer.connect(server.port);
    assert.match(await late.line(), /^503,SHUTTING_DOWN /);

    peer.send(body.subarray(400_000));
    peer.send(`SHA256,${sha(body)}\n`);
    assert.match(await peer.line(), /^201,box,big\.bin,1000000,/);
    const code = server.child.exitCode ?? (await new Promise<number | null>((resolve) => server.child.once('exit', resolve)));
    assert.equal(code, 0, server.stderr());
  } finally {
    await server.stop();
  }
});

test('the status page shows the buckets, their files and bytes, connections and recent errors, escaped', async () => {
  const server = await startServer({ args: ['--http-port', '0'] });
  try {
    const client = await BucketClient.connect({ port: server.port });
    await client.createBucket('photos');
    await client.createBucket('docs');
    await put(client, 'photos', 'a.jpg', 'abc');
    await put(client, 'photos', 'b.jpg', 'defgh');
    await assert.rejects(client.download('docs', '<b>bold.txt', new PassThrough()));
    const page = await get(server.httpPort!, '/');
    assert.equal(page.status, 200);
    assert.equal(page.type, 'text/html; charset=utf-8');
    assert.ok(!page.body.includes('<script'), 'no scripts');
    assert.match(page.body, /<tr><td>photos<\/td><td class="n">2<\/td><td class="n">8<\/td>/);
    assert.match(page.body, /<tr><td>docs<\/td><td class="n">0<\/td><td class="n">0<\/td>/);
    assert.match(page.body, /<dd id="connections">1<\/dd>/);
    assert.match(page.body, /<dd id="state">serving<\/dd>/);
    assert.ok(page.body.includes('docs / &lt;b&gt;bold.txt'), 'the error row, escaped');
    assert.ok(!page.body.includes('<b>bold'), 'a name is never markup');
    assert.match(page.body, /NO_SUCH_FILE/);
    await client.exit();
  } finally {
    await server.stop();
  }
});

test('bad operations options: one line and exit 2; an HTTP port in use: one line and exit 1', async () => {
  const root = await newRoot();
  for (const [args, message] of [
    [['--log-format', 'xml'], /invalid --log-format "xml"; use json or pretty/],
    [['--http-host', '127.0.0.1'], /--http-host goes with --http-port/],
    [['--http-port', 'eighty'], /invalid port "eighty"/],
    [['--metrics-gc'], /--metrics-gc goes with --http-port/],
  ] as const) {
    const result = await bucketd(['--port', '0', ...args, root]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, message);
  }
  const server = await startServer({ args: ['--http-port', '0'] });
  try {
    const clash = await bucketd(['--port', '0', '--http-port', String(server.httpPort), root]);
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${server.httpPort}: address already in use`));
    assert.equal(clash.stderr.trim().split('\n').length, 1, clash.stderr);
  } finally {
    await server.stop();
  }
});
