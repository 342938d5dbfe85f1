import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedRwLock } from '../../src/storage/fs/locks.js';

test('shared holders run together; an exclusive one runs alone, in arrival order', async () => {
  const lock = new KeyedRwLock();
  const log: string[] = [];
  const step = (name: string, ms: number) => async () => {
    log.push(`${name}+`);
    await new Promise((resolve) => setTimeout(resolve, ms));
    log.push(`${name}-`);
  };
  await Promise.all([
    lock.run('b', 'shared', step('r1', 20)),
    lock.run('b', 'shared', step('r2', 10)),
    lock.run('b', 'exclusive', step('w', 5)),
    lock.run('b', 'shared', step('r3', 1)),
    lock.run('other', 'exclusive', step('o', 1)),
  ]);
  const at = (entry: string): number => log.indexOf(entry);
  assert.ok(at('r2+') < at('r1-'), 'readers overlap');
  assert.ok(at('w+') > at('r1-') && at('w+') > at('r2-'), 'the writer waits for the readers');
  assert.ok(at('r3+') > at('w-'), 'a later reader waits for the writer');
  assert.ok(at('o+') < at('w+'), 'other keys are not held up');
  await lock.drained();
});

test('a failing holder releases the lock', async () => {
  const lock = new KeyedRwLock();
  await assert.rejects(lock.run('k', 'exclusive', async () => Promise.reject(new Error('boom'))), /boom/);
  assert.equal(await lock.run('k', 'exclusive', async () => 'next'), 'next');
  await lock.drained();
});
