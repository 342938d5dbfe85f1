import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startRateGuard } from '../../src/server/rate-guard.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test("a transfer that moves nothing for a window of the peer's time is too slow, once", async () => {
  let calls = 0;
  const guard = startRateGuard(1000, 200, () => 0, () => calls++);
  await sleep(500);
  guard.stop();
  assert.equal(calls, 1);
});

test('time the server spends on its own work does not count against the peer', async () => {
  let calls = 0;
  const guard = startRateGuard(1000, 200, () => 0, () => calls++);
  await guard.paused(sleep(500)); // a slow disk, say
  assert.equal(calls, 0);
  await sleep(350);
  assert.equal(calls, 1);
  guard.stop();
});

test('enough bytes per window keep a transfer going', async () => {
  let bytes = 0;
  let calls = 0;
  const pump = setInterval(() => (bytes += 100), 10); // about 10,000 bytes a second
  const guard = startRateGuard(1000, 250, () => bytes, () => calls++);
  await sleep(500);
  guard.stop();
  clearInterval(pump);
  assert.equal(calls, 0);
});

test('no minimum, no guard', async () => {
  let calls = 0;
  const guard = startRateGuard(0, 100, () => 0, () => calls++);
  await sleep(250);
  guard.stop();
  assert.equal(calls, 0);
});
