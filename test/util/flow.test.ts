import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { test } from 'node:test';
import { BufferPool } from '../../src/util/buffer-pool.js';
import { FlowWindow } from '../../src/util/flow.js';
import { writeWindowed } from '../../src/util/streams.js';

const settledSoon = async (promise: Promise<unknown>): Promise<boolean> => {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
};

test('a window lets producers on up to its limit, then holds them until half', async () => {
  const window = new FlowWindow(100);
  window.add(100);
  assert.ok(window.open);
  window.add(1);
  assert.ok(!window.open);
  const waiting = window.whenOpen();
  window.remove(30); // 71: under the limit, above half
  assert.equal(await settledSoon(waiting), false);
  window.remove(21); // 50: half
  assert.equal(await settledSoon(waiting), true);
});

test('a parent budget holds every child while it is spent', async () => {
  const budget = new FlowWindow(100);
  const a = new FlowWindow(80, budget);
  const b = new FlowWindow(80, budget);
  a.add(60);
  b.add(60); // 120 in the budget, each child within its own limit
  assert.ok(!a.open && !b.open);
  const waitingB = b.whenOpen();
  a.remove(60); // budget back to 60: above half
  assert.equal(await settledSoon(waitingB), false);
  b.remove(20); // budget 40
  assert.equal(await settledSoon(waitingB), true);
  assert.equal(budget.inFlight, 40);
});

test('a failed window rejects its waiters and later waits', async () => {
  const window = new FlowWindow(10);
  window.add(20);
  const waiting = window.whenOpen();
  window.fail(new Error('gone'));
  await assert.rejects(waiting, /gone/);
  await assert.rejects(window.whenOpen(), /gone/);
});

test('writeWindowed keeps at most the limit unflushed, and reports a failed write', async () => {
  const flushes: Array<() => void> = [];
  const slow = new Writable({ highWaterMark: 1 << 30, write: (_chunk, _encoding, callback) => flushes.push(callback) });
  const window = new FlowWindow(10);
  assert.equal(await settledSoon(writeWindowed(slow, Buffer.alloc(8), window)), true);
  const third = writeWindowed(slow, Buffer.alloc(8), window); // 16 > 10
  assert.equal(await settledSoon(third), false);
  flushes.shift()!();
  await new Promise((resolve) => setImmediate(resolve));
  flushes.shift()!();
  assert.equal(await settledSoon(third), true);
  const broken = new PassThrough();
  broken.destroy();
  await assert.rejects(writeWindowed(broken, Buffer.alloc(1), new FlowWindow(10)));
});

test('a buffer pool never makes more than its budget, and reuses what comes back', async () => {
  const pool = new BufferPool(1024, 256);
  assert.equal(pool.maxBuffers, 4);
  const lent = await Promise.all([pool.borrow(), pool.borrow(), pool.borrow(), pool.borrow()]);
  assert.ok(!pool.available);
  const fifth = pool.borrow();
  assert.equal(await settledSoon(fifth), false);
  pool.giveBack(lent[0]!);
  assert.equal(await fifth, lent[0]);
  const controller = new AbortController();
  const abandoned = pool.borrow(controller.signal);
  controller.abort(new Error('connection gone'));
  await assert.rejects(abandoned, /connection gone/);
  pool.giveBack(lent[1]!); // goes to the free list, not to the abandoned waiter
  assert.ok(pool.available);
  assert.equal(pool.tryBorrow(), lent[1]);
});
