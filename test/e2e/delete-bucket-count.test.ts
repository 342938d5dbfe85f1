/**
 * DELETE_BUCKET counts files: regular files only, not a subfolder or a
 * symlink made by hand inside the bucket's folder. FORCE reports the same
 * count, and removes the links without following them.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { RawPeer } from '../helpers/raw.js';
import { startServer, tempDir } from '../helpers/server.js';

const sha = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

test('DELETE_BUCKET counts only regular files, plain and FORCE', async () => {
  const server = await startServer();
  const outside = await tempDir('bucketd-outside-');
  try {
    await writeFile(path.join(outside, 'sentinel.txt'), 'outside\n');
    const peer = await RawPeer.connect(server.port);
    peer.send('NEW_BUCKET,box\n');
    assert.match(await peer.line(), /^201,box,/);
    for (const name of ['one.txt', 'two.txt']) {
      const body = Buffer.from(`${name}\n`);
      peer.send(`UPLOAD_FILE,box,${name},${body.length}\n`);
      assert.match(await peer.line(), /^150,/);
      peer.send(Buffer.concat([body, Buffer.from(`SHA256,${sha(body)}\n`)]));
      assert.match(await peer.line(), /^201,box,/);
    }
    // Made by hand under ROOT: a subfolder, a symlink to a file outside
    // ROOT, and a symlink to a folder outside ROOT.
    const bucketDir = path.join(server.root, 'box');
    await mkdir(path.join(bucketDir, 'sub'));
    await symlink(path.join(outside, 'sentinel.txt'), path.join(bucketDir, 'link-to-file'));
    await symlink(outside, path.join(bucketDir, 'link-to-folder'));

    peer.send('LIST_FILE,box\n');
    assert.match(await peer.line(), /^200,2 /);
    assert.match(await peer.line(), /^one\.txt,/);
    assert.match(await peer.line(), /^two\.txt,/);

    peer.send('DELETE_BUCKET,box\n');
    const refused = await peer.line();
    assert.equal(refused.split(' ')[0], '409,BUCKET_NOT_EMPTY,2', refused);

    peer.send('DELETE_BUCKET,box,FORCE\n');
    const deleted = await peer.line();
    assert.equal(deleted.split(' ')[0], '200,box,2', deleted);

    peer.send('LIST_BUCKET\n');
    assert.match(await peer.line(), /^200,0 /);
    peer.close();
    // The links were removed, not followed.
    assert.equal(await readFile(path.join(outside, 'sentinel.txt'), 'utf8'), 'outside\n');
  } finally {
    assert.equal(await server.stop(), 0);
    await rm(outside, { recursive: true, force: true });
  }
});
