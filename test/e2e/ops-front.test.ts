/**
 * The HTTP side's sockets on a thread of their own: the protocol's thread
 * holds no HTTP socket while the endpoints answer, and a worker that dies
 * is started again on the same port.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { BucketClient } from '../../src/client/client.js';
import { Activity } from '../../src/server/ops/activity.js';
import { OpsHttpServer } from '../../src/server/ops/http.js';
import { ServerMetrics } from '../../src/server/ops/metrics.js';
import type { Logger, LogFields } from '../../src/server/logger.js';
import { BucketServer } from '../../src/server/server.js';
import { FsStorage } from '../../src/storage/fs/fs-storage.js';
import { tempDir } from '../helpers/server.js';

interface Line {
  level: string;
  message: string;
  fields: LogFields | undefined;
}

function recordingLogger(lines: Line[]): Logger {
  const at =
    (level: string) =>
    (message: string, fields?: LogFields): void => {
      lines.push({ level, message, fields });
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

async function started({ front, httpPort: wanted = 0 }: { front?: URL; httpPort?: number } = {}): Promise<{ server: BucketServer; ops: OpsHttpServer; port: number; httpPort: number; lines: Line[]; stop: () => Promise<void> }> {
  const base = await tempDir();
  const lines: Line[] = [];
  const logger = recordingLogger(lines);
  let server: BucketServer | undefined;
  const metrics = new ServerMetrics(() => server);
  const activity = new Activity(() => server?.bytesTransferred() ?? { in: 0, out: 0 });
  server = new BucketServer({ storage: await FsStorage.open(path.join(base, 'root')), port: 0, hooks: metrics.hooks, logger });
  const { port } = await server.listen();
  const ops = new OpsHttpServer({ host: '127.0.0.1', port: wanted, source: server, metrics, activity, logger, ...(front ? { front } : {}) });
  const { port: httpPort } = await ops.listen();
  const running = server;
  const stop = async (): Promise<void> => {
    await running.close();
    activity.stop();
    await ops.close();
  };
  return { server, ops, port, httpPort, lines, stop };
}

async function get(port: number, route: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${route}`);
  return { status: response.status, body: await response.text() };
}

test("the endpoints answer while the protocol's thread listens on one TCP port only", async () => {
  const { port, httpPort, stop } = await started();
  try {
    const client = await BucketClient.connect({ port });
    await client.createBucket('photos');
    const metrics = await get(httpPort, '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /^bucketd_requests_total\{command="NEW_BUCKET",status="201",code="OK"\} 1$/m);
    assert.equal((await get(httpPort, '/healthz')).body, 'ok\n');
    assert.equal((await get(httpPort, '/readyz')).status, 200);
    assert.match((await get(httpPort, '/')).body, /photos/);
    assert.equal((await get(httpPort, '/nowhere')).status, 404);
    const post = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    const head = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.ok(Number(head.headers.get('content-length')) > 0);
    assert.equal(await head.text(), '');
    // Listening sockets here: the protocol's alone (fetch's own sockets are clients).
    const servers = process.getActiveResourcesInfo().filter((kind) => kind === 'TCPServerWrap');
    assert.deepEqual(servers, ['TCPServerWrap'], 'the HTTP side listens on the main thread');
    await client.exit();
  } finally {
    await stop();
  }
});

test('a worker that dies is started again on the same port, and says so in the log', async () => {
  const marker = path.join(await tempDir(), 'front-failed');
  process.env.BUCKETD_TEST_FRONT_MARKER = marker;
  const { httpPort, lines, stop } = await started({ front: new URL('../helpers/failing-front.js', import.meta.url) });
  try {
    assert.equal((await get(httpPort, '/healthz')).body, 'ok\n');
    let back = false;
    for (let i = 0; i < 100 && !back; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      back = lines.some((line) => line.message === 'HTTP side stopped; starting it again') && (await get(httpPort, '/healthz').catch(() => undefined))?.body === 'ok\n';
    }
    assert.ok(back, `the HTTP side did not come back: ${JSON.stringify(lines)}`);
    for (let i = 0; i < 100 && !lines.some((line) => line.message === 'HTTP side started again'); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(
      lines.find((line) => line.message === 'HTTP side started again'),
      { level: 'info', message: 'HTTP side started again', fields: { port: httpPort } },
    );
    const failed = lines.find((line) => line.message === 'HTTP side failed');
    assert.equal(failed?.level, 'error');
    assert.match(String(failed?.fields?.error), /the front failed on purpose/);
  } finally {
    delete process.env.BUCKETD_TEST_FRONT_MARKER;
    await stop();
  }
});

test('close ends the worker at once: the port is free again and nothing keeps running', async () => {
  const { httpPort, stop } = await started();
  assert.equal((await get(httpPort, '/healthz')).status, 200);
  const closing = performance.now();
  await stop();
  // The thread ends by itself once its server has closed, not when a deadline (2 s) terminates it.
  assert.ok(performance.now() - closing < 1000, `closing took ${Math.round(performance.now() - closing)} ms`);
  await assert.rejects(fetch(`http://127.0.0.1:${httpPort}/healthz`));
  // The same port can be taken at once: the closed worker let it go.
  const again = await started({ httpPort });
  assert.equal(again.httpPort, httpPort);
  assert.equal((await get(httpPort, '/healthz')).body, 'ok\n');
  await again.stop();
});

test('close while the worker is still starting stops it: it never takes the port', async () => {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const lines: Line[] = [];
  const ops = new OpsHttpServer({ host: '127.0.0.1', port, source: undefined as never, metrics: undefined as never, activity: undefined as never, logger: recordingLogger(lines) });
  const listening = ops.listen().then(
    () => 'it listened',
    (error: Error) => error.message,
  );
  const closing = performance.now();
  await Promise.all([ops.close(), ops.close()]);
  assert.ok(performance.now() - closing < 1000, `closing took ${Math.round(performance.now() - closing)} ms`);
  assert.match(await listening, /before it listened/);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'something still listens on the port after close');
  assert.deepEqual(lines, []);
  await assert.rejects(ops.listen(), /the HTTP side is closed/);
});
