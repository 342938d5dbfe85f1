/**
 * One server per ROOT: a second bucketd on a ROOT that one serves (by any
 * path to it) stops at once with a line that names the first, and leaves
 * the first one's uploads in flight alone; the hold ends with the process,
 * however it ends.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { bucketd, newRoot } from '../helpers/bucketd.js';
import { RawPeer } from '../helpers/raw.js';
import { startServer, tempDir } from '../helpers/server.js';

const sha = (data: string): string => createHash('sha256').update(data).digest('hex');
const linux = process.platform === 'linux';

test('a second server on the same ROOT stops and leaves the first one\'s upload in flight alone', { skip: linux ? false : 'abstract sockets are Linux only' }, async () => {
  const root = await newRoot();
  const first = await startServer({ root });
  try {
    const peer = await RawPeer.connect(first.port);
    peer.send('NEW_BUCKET,photos\n');
    assert.match(await peer.line(), /^201,photos,/);
    peer.send('UPLOAD_FILE,photos,cat.txt,10\n');
    assert.match(await peer.line(), /^150,cat\.txt,10,/);
    peer.send('01234');
    // Its staged bytes are in ROOT's bookkeeping now; a server that started here would empty that.
    for (let i = 0; i < 100 && (await readdir(path.join(root, '.bucketd', 'uploads'))).length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));

    const alias = path.join(await tempDir(), 'alias');
    await symlink(root, alias);
    for (const where of [root, alias]) {
      const second = await bucketd(['--port', '0', where]);
      assert.equal(second.code, 1);
      assert.equal(second.stdout, '');
      assert.equal(second.stderr, `bucketd: cannot use ${where} as the root folder: another bucketd serves it (pid ${first.child.pid}); run one server per ROOT\n`);
    }

    peer.send(`56789SHA256,${sha('0123456789')}\n`);
    assert.match(await peer.line(), /^201,photos,cat\.txt,10,/);
    peer.close();
    // Admin commands on the same ROOT still run beside the server.
    assert.equal((await bucketd(['user', 'add', 'alice', '--root', root], 'a long enough password\n')).code, 0);
  } finally {
    await first.stop();
  }
});

test('the hold ends with the server, even killed: the next one starts at once', { skip: linux ? false : 'abstract sockets are Linux only' }, async () => {
  const root = await newRoot();
  const first = await startServer({ root });
  assert.equal(await first.stop('SIGKILL'), null);
  const next = await startServer({ root });
  assert.ok(next.port > 0);
  assert.equal(await next.stop(), 0);
});
