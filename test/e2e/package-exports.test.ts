/**
 * Code can `import` the package as published (dist/): `bucketd` for
 * everything, `bucketd/client` for the client library alone, `bucketd/server`
 * for embedding the server.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { REPO_ROOT, startServer, tempDir } from '../helpers/server.js';

const CLIENT_EXPORTS = [
  'BucketClient', 'BucketError', 'CLIENT_ERRORS', 'ClientError', 'DEFAULT_HOST', 'DEFAULT_PORT', 'DEFAULT_RETRIES', 'ERRORS',
  'FileUploadJournal', 'PROTOCOL_VERSION', 'VERSION', 'closesConnection', 'downloadFile', 'isPartialDownload', 'partialName', 'resolveDestination', 'uploadFile',
  'uploadIdOf', 'uploadJournalPath',
];
const SERVER_EXPORTS = [
  'Activity', 'BucketError', 'BucketServer', 'DEFAULT_HOST', 'DEFAULT_PORT', 'ERRORS', 'FsStorage', 'OpsHttpServer', 'PROTOCOL_VERSION',
  'ServerMetrics', 'TlsSetupError', 'UnsafeRootError', 'UserStore', 'VERSION', 'VerifiedDownload', 'VerifiedUpload', 'accessLog', 'closesConnection',
  'combineHooks', 'createLogger',
];

test('the package exports a working client library', async () => {
  const pkg = (await import('bucketd' as string)) as typeof import('../../src/index.js');
  assert.equal(typeof pkg.BucketClient, 'function');
  assert.equal(typeof pkg.uploadFile, 'function');
  const server = await startServer();
  try {
    const client = await pkg.BucketClient.connect({ port: server.port });
    assert.deepEqual(await client.hello(), { name: 'bucketd', version: pkg.VERSION, protocol: pkg.PROTOCOL_VERSION, login: 'none', mechanisms: ['SCRAM-SHA-256'] });
    await client.exit();
  } finally {
    await server.stop();
  }
});

test('bucketd/client connects, and bucketd still exports all that bucketd/client and bucketd/server do', async () => {
  const pkg = (await import('bucketd' as string)) as Record<string, unknown>;
  const client = (await import('bucketd/client' as string)) as typeof import('../../src/client-entry.js');
  const server = (await import('bucketd/server' as string)) as Record<string, unknown>;
  assert.deepEqual(Object.keys(client).sort(), CLIENT_EXPORTS);
  assert.deepEqual(Object.keys(server).sort(), SERVER_EXPORTS);
  for (const [name, value] of [...Object.entries(client), ...Object.entries(server)]) {
    assert.equal(pkg[name], value, `bucketd exports ${name}`);
  }
  const running = await startServer();
  try {
    const connection = await client.BucketClient.connect({ host: client.DEFAULT_HOST, port: running.port });
    assert.equal((await connection.hello()).protocol, client.PROTOCOL_VERSION);
    await connection.exit();
  } finally {
    await running.stop();
  }
});

test('every file that package.json exports is built', async () => {
  const manifest = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
    exports: Record<string, string | Record<string, string>>;
  };
  for (const [subpath, target] of Object.entries(manifest.exports)) {
    for (const file of typeof target === 'string' ? [target] : Object.values(target)) {
      assert.ok(existsSync(path.join(REPO_ROOT, file)), `${subpath} -> ${file}`);
    }
  }
});

test('what is marked @internal (hooks for tests) is left out of the published types', async () => {
  const types = await readFile(path.join(REPO_ROOT, 'dist/server/ops/http.d.ts'), 'utf8');
  assert.match(types, /export interface OpsHttpOptions/);
  assert.doesNotMatch(types, /\bfront\?:/);
});

/**
 * Imports `specifier` in a fresh Node process, from a folder whose
 * node_modules/bucketd links to this package (so the import goes through
 * package.json's exports, as an installed copy's would), and returns every
 * module that process loaded: the URLs a module hook saw, and the CommonJS
 * files in require.cache.
 */
async function modulesLoadedBy(specifier: string): Promise<string[]> {
  const dir = await tempDir('bucketd-exports-');
  try {
    await mkdir(path.join(dir, 'node_modules'));
    await symlink(REPO_ROOT, path.join(dir, 'node_modules', 'bucketd'), 'dir');
    const log = path.join(dir, 'loaded.log');
    await writeFile(
      path.join(dir, 'hooks.mjs'),
      `import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function load(url, context, nextLoad) {
  appendFileSync(log, url + '\\n');
  return nextLoad(url, context);
}
`,
    );
    await writeFile(
      path.join(dir, 'register.mjs'),
      `import { register } from 'node:module';
register('./hooks.mjs', import.meta.url, { data: { log: ${JSON.stringify(log)} } });
`,
    );
    await writeFile(
      path.join(dir, 'probe.mjs'),
      `import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
await import(process.argv[2]);
const cjs = Object.keys(createRequire(import.meta.url).cache).map((file) => pathToFileURL(file).href);
console.log(JSON.stringify(cjs));
`,
    );
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', './register.mjs', 'probe.mjs', specifier], {
      cwd: dir,
      timeout: 30_000,
    });
    const viaHook = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
    return [...new Set([...viaHook, ...(JSON.parse(stdout) as string[])])];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The loaded modules, as paths relative to this package (others left out). */
function inPackage(urls: string[]): string[] {
  const root = realpathSync(REPO_ROOT);
  return urls
    .filter((url) => url.startsWith('file:'))
    .map((url) => path.relative(root, fileURLToPath(url)))
    .filter((file) => !file.startsWith('..'));
}

test('importing bucketd/client loads no server, storage or command-line code, and not cli-progress', async () => {
  const loaded = inPackage(await modulesLoadedBy('bucketd/client'));
  // The probe sees the client being loaded, so an empty list cannot pass.
  assert.ok(loaded.includes(path.join('dist', 'client-entry.js')), loaded.join('\n'));
  assert.ok(loaded.includes(path.join('dist', 'client', 'client.js')), loaded.join('\n'));
  const forbidden = loaded.filter(
    (file) => /^dist\/(server|storage|cli)\//.test(file) || file.includes('node_modules/cli-progress/'),
  );
  assert.deepEqual(forbidden, []);
});

test('importing bucketd/server loads the server and storage, but no command-line code', async () => {
  const loaded = inPackage(await modulesLoadedBy('bucketd/server'));
  assert.ok(loaded.includes(path.join('dist', 'server', 'server.js')), loaded.join('\n'));
  assert.ok(loaded.includes(path.join('dist', 'storage', 'fs', 'fs-storage.js')), loaded.join('\n'));
  const forbidden = loaded.filter((file) => /^dist\/cli\//.test(file) || file.includes('node_modules/cli-progress/'));
  assert.deepEqual(forbidden, []);
});

test('the version in package.json is the one HELLO announces', async () => {
  const { VERSION } = await import('../../src/version.js');
  const manifest = JSON.parse(await readFile(`${REPO_ROOT}/package.json`, 'utf8')) as { version: string };
  assert.equal(VERSION, manifest.version);
});

test('bucketd runs with the Node flags its first line names, wherever it is started', async () => {
  const { SERVER_NODE_FLAGS } = await import('../helpers/server.js');
  const first = (await readFile(path.join(REPO_ROOT, 'dist/cli/bucketd.js'), 'utf8')).split('\n')[0];
  assert.equal(first, `#!/usr/bin/env -S node ${SERVER_NODE_FLAGS.join(' ')}`);
  const manifest = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(manifest.scripts.server, `node ${SERVER_NODE_FLAGS.join(' ')} dist/cli/bucketd.js`);
});
