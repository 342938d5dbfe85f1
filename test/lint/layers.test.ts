/**
 * The layer rules in eslint.config.js bite: each row lints a snippet as if it
 * were a file at that path in src/ and names the rules that must report it
 * (none, for an import that is allowed).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ESLint } from 'eslint';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const eslint = new ESLint({ cwd: REPO_ROOT });

const IMPORTS = 'no-restricted-imports';
const GLOBALS = 'no-restricted-globals';
const SYNTAX = 'no-restricted-syntax';
/** ESLint's own warning (no rule) that a disabling comment has no effect. */
const COMMENT_IGNORED = '(comment ignored)';

type Row = [file: string, code: string, reportedBy: string[]];

const from = (specifier: string) => `import { x } from '${specifier}';\nexport { x };\n`;

const ROWS: Row[] = [
  // src/protocol: the pure codec.
  ['src/protocol/codec.ts', from('node:fs'), [IMPORTS]],
  ['src/protocol/codec.ts', from('fs'), [IMPORTS]],
  ['src/protocol/codec.ts', from('node:fs/promises'), [IMPORTS]],
  ['src/protocol/codec.ts', from('node:net'), [IMPORTS]],
  ['src/protocol/codec.ts', from('net'), [IMPORTS]],
  ['src/protocol/codec.ts', from('node:tls'), [IMPORTS]],
  ['src/protocol/codec.ts', from('node:http'), [IMPORTS]],
  ['src/protocol/codec.ts', from('node:https'), [IMPORTS]],
  ['src/protocol/codec.ts', from('node:child_process'), [IMPORTS]],
  ['src/protocol/codec.ts', from('node:dgram'), [IMPORTS]],
  ['src/protocol/codec.ts', from('node:readline'), [IMPORTS]],
  ['src/protocol/codec.ts', from('node:worker_threads'), [IMPORTS]],
  ['src/protocol/codec.ts', from('node:timers/promises'), [IMPORTS]],
  ['src/protocol/codec.ts', from('timers'), [IMPORTS]],
  ['src/protocol/codec.ts', from('../server/server.js'), [IMPORTS]],
  ['src/protocol/codec.ts', from('../storage/storage.js'), [IMPORTS]],
  ['src/protocol/codec.ts', from('../client/index.js'), [IMPORTS]],
  ['src/protocol/codec.ts', from('../cli/shell.js'), [IMPORTS]],
  ['src/protocol/codec.ts', from('../net/frame-reader.js'), [IMPORTS]],
  ['src/protocol/codec.ts', from('../util/fd.js'), [IMPORTS]],
  ['src/protocol/codec.ts', from('../util/streams.js'), [IMPORTS]],
  ['src/protocol/codec.ts', 'setTimeout(() => {}, 1);\n', [GLOBALS]],
  ['src/protocol/codec.ts', 'setInterval(() => {}, 1);\n', [GLOBALS]],
  ['src/protocol/codec.ts', 'setImmediate(() => {});\n', [GLOBALS]],
  ['src/protocol/codec.ts', 'export const debug = process.env.DEBUG;\n', [GLOBALS]],
  ['src/protocol/codec.ts', from('../errors.js'), []],
  ['src/protocol/codec.ts', from('../util/sha256.js'), []],
  ['src/protocol/codec.ts', from('./fields.js'), []],
  ['src/protocol/codec.ts', from('node:buffer'), []],
  ['src/protocol/codec.ts', 'export const push = (chunk: Buffer): number => chunk.length;\n', []],
  ['src/protocol/deeper/codec.ts', from('../../server/server.js'), [IMPORTS]],

  // src/storage
  ['src/storage/storage.ts', from('../protocol/requests.js'), [IMPORTS]],
  ['src/storage/fs/fs-storage.ts', from('../../protocol/requests.js'), [IMPORTS]],
  ['src/storage/fs/fs-storage.ts', from('../../server/server.js'), [IMPORTS]],
  ['src/storage/fs/fs-storage.ts', from('../../client/index.js'), [IMPORTS]],
  ['src/storage/fs/fs-storage.ts', from('../../cli/bucketd.js'), [IMPORTS]],
  ['src/storage/fs/fs-storage.ts', from('../../net/frame-reader.js'), [IMPORTS]],
  ['src/storage/fs/fs-storage.ts', from('../storage.js'), []],
  ['src/storage/fs/fs-storage.ts', from('../../errors.js'), []],
  ['src/storage/fs/fs-storage.ts', from('../../util/fd.js'), []],
  ['src/storage/fs/fs-storage.ts', from('node:fs/promises'), []],

  // src/client
  ['src/client/client.ts', from('../server/server.js'), [IMPORTS]],
  ['src/client/client.ts', from('../storage/storage.js'), [IMPORTS]],
  ['src/client/client.ts', from('../cli/progress.js'), [IMPORTS]],
  ['src/client/client.ts', from('../protocol/requests.js'), []],
  ['src/client/client.ts', from('../net/frame-reader.js'), []],
  ['src/client/client.ts', from('../util/streams.js'), []],
  ['src/client/client.ts', from('node:net'), []],

  // src/server
  ['src/server/server.ts', from('../client/index.js'), [IMPORTS]],
  ['src/server/server.ts', from('../cli/options.js'), [IMPORTS]],
  ['src/server/server.ts', from('../storage/storage.js'), []],
  ['src/server/server.ts', from('../protocol/replies.js'), []],
  ['src/server/server.ts', from('../net/frame-reader.js'), []],
  ['src/server/server.ts', from('./connection.js'), []],

  // src/net
  ['src/net/frame-reader.ts', from('../server/server.js'), [IMPORTS]],
  ['src/net/frame-reader.ts', from('../client/client.js'), [IMPORTS]],
  ['src/net/frame-reader.ts', from('../storage/storage.js'), [IMPORTS]],
  ['src/net/frame-reader.ts', from('../cli/shell.js'), [IMPORTS]],
  ['src/net/frame-reader.ts', from('../protocol/decoder.js'), []],

  // src/util
  ['src/util/helper.ts', from('../protocol/fields.js'), [IMPORTS]],
  ['src/util/helper.ts', from('../net/frame-reader.js'), [IMPORTS]],
  ['src/util/helper.ts', from('../storage/storage.js'), [IMPORTS]],
  ['src/util/helper.ts', from('../server/server.js'), [IMPORTS]],
  ['src/util/helper.ts', from('../client/client.js'), [IMPORTS]],
  ['src/util/helper.ts', from('../cli/format.js'), [IMPORTS]],
  ['src/util/helper.ts', from('./plural.js'), []],
  ['src/util/helper.ts', from('node:fs'), []],

  // src/cli: only the server's entry points reach the server and storage.
  ['src/cli/shell.ts', from('../server/server.js'), [IMPORTS]],
  ['src/cli/shell.ts', from('../storage/fs/fs-storage.js'), [IMPORTS]],
  ['src/cli/servers.ts', from('../server/server.js'), [IMPORTS]],
  ['src/cli/shell.ts', from('../client/index.js'), []],
  ['src/cli/shell.ts', from('../protocol/requests.js'), [IMPORTS]],
  ['src/cli/options.ts', from('../net/frame-reader.js'), [IMPORTS]],
  ['src/cli/bucketd.ts', from('../server/server.js'), []],
  ['src/cli/bucketd.ts', from('../storage/fs/fs-storage.js'), []],
  ['src/cli/server-options.ts', from('../server/server.js'), []],
  ['src/cli/server-options.ts', from('../storage/fs/os-errors.js'), []],

  // The leaves every layer imports, and the bucketd/client entry point.
  ['src/errors.ts', from('./server/server.js'), [IMPORTS]],
  ['src/version.ts', from('./protocol/defaults.js'), [IMPORTS]],
  ['src/client-entry.ts', from('./server/server.js'), [IMPORTS]],
  ['src/client-entry.ts', from('./storage/storage.js'), [IMPORTS]],
  ['src/client-entry.ts', from('./cli/progress.js'), [IMPORTS]],
  ['src/client-entry.ts', from('./client/index.js'), []],
  ['src/client-entry.ts', from('./protocol/defaults.js'), []],
  ['src/server-entry.ts', from('./server/server.js'), []],

  // Every way of naming a module is checked, not only import declarations.
  ['src/storage/storage.ts', `export * from '../server/server.js';\n`, [IMPORTS]],
  ['src/storage/storage.ts', `export { x } from '../server/server.js';\n`, [IMPORTS]],
  ['src/storage/storage.ts', `import type { X } from '../server/server.js';\nexport type Y = X;\n`, [IMPORTS]],
  ['src/storage/storage.ts', `export const m = await import('../server/server.js');\n`, [SYNTAX]],
  ['src/storage/storage.ts', `export type S = import('../server/server.js').BucketServer;\n`, [SYNTAX]],
  ['src/protocol/codec.ts', `export const f = await import('node:fs');\n`, [SYNTAX]],
  ['src/storage/storage.ts', `export const m = await import('./fs/fs-storage.js');\n`, []],
  // src/ never imports the package by name: that would load dist/.
  ['src/client/client.ts', from('bucketd/server'), [IMPORTS]],
  ['src/server/server.ts', from('bucketd'), [IMPORTS]],
  // An exception cannot hide in a comment; it has to be made in the config.
  ['src/cli/shell.ts', `// eslint-disable-next-line no-restricted-imports\n${from('../server/server.js')}`, [IMPORTS, COMMENT_IGNORED]],
];

for (const [file, code, reportedBy] of ROWS) {
  const firstLine = code.split('\n').find((line) => !line.startsWith('//'));
  const verdict = reportedBy.length === 0 ? 'allowed' : 'reported';
  test(`${file}: ${firstLine} is ${verdict}`, async () => {
    const [result] = await eslint.lintText(code, { filePath: path.join(REPO_ROOT, file), warnIgnored: true });
    assert.ok(result);
    const fatal = result.messages.filter((message) => message.fatal);
    assert.deepEqual(fatal, [], 'the snippet parses');
    assert.deepEqual(
      result.messages.map((message) => message.ruleId ?? COMMENT_IGNORED).sort(),
      [...reportedBy].sort(),
      result.messages.map((message) => message.message).join('\n'),
    );
  });
}

test('every folder under src/ is a layer with rules in eslint.config.js', async () => {
  const config = (await import(pathToFileURL(path.join(REPO_ROOT, 'eslint.config.js')).href)) as { LAYERS: string[] };
  const folders = readdirSync(path.join(REPO_ROOT, 'src'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name);
  const unknown = folders.filter((folder) => !config.LAYERS.includes(folder));
  assert.deepEqual(unknown, [], 'add the new folder to LAYERS and FORBIDDEN in eslint.config.js');
});
