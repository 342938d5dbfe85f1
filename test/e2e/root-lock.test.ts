/**
 * One server per ROOT, through the real program: a second bucketd on a
 * ROOT that one serves (by any path to it) stops at once with a line that
 * names the first; after the first is killed, the next one starts; a
 * server that stops lets go of ROOT.
 */
import assert from 'node:assert/strict';
import { readdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { bucketd, newRoot } from '../helpers/bucketd.js';
import { startServer, tempDir } from '../helpers/server.js';

test('a second server on the same ROOT stops with a line naming the first', async () => {
  const root = await newRoot();
  const first = await startServer({ root });
  try {
    const alias = path.join(await tempDir(), 'alias');
    await symlink(root, alias);
    for (const where of [root, alias]) {
      const second = await bucketd(['--port', '0', where]);
      assert.equal(second.code, 1);
      assert.equal(second.stdout, '');
      assert.equal(second.stderr, `bucketd: cannot use ${where} as the root folder: another bucketd (pid ${first.child.pid}) serves it; run one server per ROOT\n`);
    }
    // Admin commands on the same ROOT run beside the server.
    assert.equal((await bucketd(['user', 'add', 'alice', '--root', root], 'a long enough password\n')).code, 0);
  } finally {
    assert.equal(await first.stop(), 0);
  }
  assert.ok(!(await readdir(path.join(root, '.bucketd'))).includes('server.lock'), 'a stopped server still holds ROOT');
});

test('after a server is killed, the next one on its ROOT starts', async () => {
  const root = await newRoot();
  const first = await startServer({ root });
  await first.stop('SIGKILL');
  const next = await startServer({ root });
  assert.ok(next.port > 0);
  assert.equal(await next.stop(), 0);
});
