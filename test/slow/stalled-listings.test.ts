/**
 * Listings hold a snapshot of their bucket until sent, so only a few are
 * taken at once, and readers that stop reading one are held to the
 * minimum rate like a body (rate-guard.test.ts): a normal client still
 * lists while many readers stall. (In the slow suite: it runs alone, since
 * twenty listings of 20,000 files under a loaded test run say nothing.)
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { BucketClient } from '../../src/client/client.js';
import { mapLimit } from '../../src/util/map-limit.js';
import { startServer } from '../helpers/server.js';

test('a normal listing gets through while twenty readers stall on a big bucket', async () => {
  const server = await startServer({ args: ['--min-rate', '1M', '--rate-window', '1', '--max-connections-per-ip', '100'] });
  const stalled: net.Socket[] = [];
  try {
    // Files put under ROOT by hand are listed too: a quick way to a big bucket.
    const bucket = path.join(server.root, 'many');
    await mkdir(bucket);
    await mapLimit(Array.from({ length: 20_000 }, (_, i) => i), 64, (i) => writeFile(path.join(bucket, `file-with-a-longish-name-${String(i).padStart(6, '0')}.txt`), 'x'));
    for (let i = 0; i < 20; i++) {
      const socket = net.connect({ host: '127.0.0.1', port: server.port });
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      socket.on('error', () => undefined);
      socket.pause();
      socket.write('LIST_FILE,many\n');
      stalled.push(socket);
    }
    const client = await BucketClient.connect({ port: server.port });
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the listing never got through: ' + server.stderr())), 20_000).unref());
    const files = await Promise.race([client.listFiles('many'), timeout]).catch((error: unknown) => {
      throw new Error(`${String(error)}; server said: ${server.stderr()}`);
    });
    assert.equal(files.length, 20_000, server.stderr());
    await client.exit();
  } finally {
    for (const socket of stalled) socket.destroy();
    await server.stop();
  }
});
