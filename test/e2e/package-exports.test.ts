/** Code can `import` the client library from the package, as published (dist/). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startServer } from '../helpers/server.js';

test('the package exports a working client library', async () => {
  const pkg = (await import('bucketd' as string)) as typeof import('../../src/index.js');
  assert.equal(typeof pkg.BucketClient, 'function');
  assert.equal(typeof pkg.uploadFile, 'function');
  const server = await startServer();
  try {
    const client = await pkg.BucketClient.connect({ port: server.port });
    assert.deepEqual(await client.hello(), { name: 'bucketd', version: pkg.VERSION, protocol: pkg.PROTOCOL_VERSION });
    await client.exit();
  } finally {
    await server.stop();
  }
});

test('the version in package.json is the one HELLO announces', async () => {
  const { readFile } = await import('node:fs/promises');
  const { REPO_ROOT } = await import('../helpers/server.js');
  const { VERSION } = await import('../../src/version.js');
  const manifest = JSON.parse(await readFile(`${REPO_ROOT}/package.json`, 'utf8')) as { version: string };
  assert.equal(VERSION, manifest.version);
});
