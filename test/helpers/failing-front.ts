/**
 * The HTTP side's worker as it runs, except that the first one started for
 * BUCKETD_TEST_FRONT_MARKER (a file that does not exist yet) throws soon
 * after it listens: a bug in the worker, as far as the server can tell.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

await import('../../src/server/ops/http-front.js');
const marker = process.env.BUCKETD_TEST_FRONT_MARKER;
if (marker !== undefined && !existsSync(marker)) {
  writeFileSync(marker, 'failed once\n');
  // After the first request is answered: the test sees it served, then fail.
  let answered = false;
  parentPort!.on('message', (message: { kind: string }) => {
    if (message.kind !== 'reply' || answered) return;
    answered = true;
    setTimeout(() => {
      throw new Error('the front failed on purpose');
    }, 50);
  });
}
