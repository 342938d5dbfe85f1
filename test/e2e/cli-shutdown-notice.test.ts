/** A person at the shell hears at once that the server is shutting down. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnBucket } from '../helpers/cli.js';
import { startServer } from '../helpers/server.js';

test('the shell shows the server shutdown notice while waiting, then ends with exit 1', async () => {
  const server = await startServer();
  const bucket = spawnBucket(['--port', String(server.port)]);
  bucket.child.stdin!.write('HELLO\n');
  await bucket.waitFor('(protocol 5)');
  assert.equal(await server.stop(), 0);
  // Nothing typed yet: the notice arrives on its own.
  await bucket.waitFor('is shutting down');
  bucket.child.stdin!.end('HELLO\n');
  assert.equal(await bucket.exited, 1);
  assert.equal(bucket.stderr.match(/shutting down/g)?.length, 1, bucket.stderr);
});
