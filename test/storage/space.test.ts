/**
 * Free-space reservations, with the disk's answer given by the test: when
 * the system is asked again and when a recent answer is used, and that a
 * used-again answer never lets promises pass what is free.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SpaceReserver } from '../../src/storage/fs/space.js';

const GiB = 1024 ** 3;

/** A disk whose free bytes the test sets, and a clock it moves; counts the questions. */
function fakeDisk(free: number): { reserver: SpaceReserver; asked: () => number; setFree: (bytes: number) => void; advance: (ms: number) => void } {
  let asked = 0;
  let now = 0;
  const reserver = new SpaceReserver('/nowhere', {
    freeBytes: () => {
      asked++;
      return Promise.resolve(free);
    },
    now: () => now,
  });
  return { reserver, asked: () => asked, setFree: (bytes) => (free = bytes), advance: (ms) => (now += ms) };
}

test('with room to spare, one answer serves the uploads of the next second', async () => {
  const disk = fakeDisk(10 * GiB);
  for (let i = 0; i < 100; i++) (await disk.reserver.reserve(4096)).release();
  assert.equal(disk.asked(), 1);
  disk.advance(1001);
  (await disk.reserver.reserve(4096)).release();
  assert.equal(disk.asked(), 2);
});

test('near a full disk, every upload asks again', async () => {
  const disk = fakeDisk(GiB / 2);
  for (let i = 0; i < 5; i++) (await disk.reserver.reserve(4096)).release();
  assert.equal(disk.asked(), 5);
});

test('what our uploads wrote since the answer counts as used, so a stale answer cannot promise it twice', async () => {
  const disk = fakeDisk(GiB + 200 * 1024 * 1024);
  const first = await disk.reserver.reserve(100 * 1024 * 1024);
  first.wrote(100 * 1024 * 1024);
  first.release();
  // The disk now has 100 MiB less; the old answer, less what was written, leaves
  // 1 GiB + 100 MiB, which is no longer room to spare for another 100 MiB.
  disk.setFree(GiB + 100 * 1024 * 1024);
  (await disk.reserver.reserve(100 * 1024 * 1024)).release();
  assert.equal(disk.asked(), 2);
});

test('a disk that fills behind our back is seen within a second', async () => {
  const disk = fakeDisk(10 * GiB);
  (await disk.reserver.reserve(4096)).release();
  disk.setFree(1024);
  disk.advance(1001);
  await assert.rejects(disk.reserver.reserve(4096), { code: 'NO_SPACE' });
});

test('promises never pass the free space the last answer and our writes allow', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 4 * GiB }),
      fc.array(fc.record({ size: fc.integer({ min: 0, max: GiB }), written: fc.double({ min: 0, max: 1, noNaN: true }), keep: fc.boolean(), wait: fc.integer({ min: 0, max: 600 }) }), { maxLength: 30 }),
      async (startFree, steps) => {
        let trueFree = startFree;
        const disk = fakeDisk(trueFree);
        const held: Array<{ release: () => void; left: number }> = [];
        for (const step of steps) {
          disk.advance(step.wait);
          disk.setFree(trueFree);
          const promised = held.reduce((sum, each) => sum + each.left, 0);
          try {
            const reservation = await disk.reserver.reserve(step.size);
            assert.ok(promised + step.size <= trueFree, `promised ${promised + step.size} of ${trueFree} free`);
            const written = Math.floor(step.size * step.written);
            reservation.wrote(written);
            trueFree -= written;
            if (step.keep) held.push({ release: reservation.release, left: step.size - written });
            else reservation.release();
          } catch (error) {
            assert.equal((error as { code?: string }).code, 'NO_SPACE');
          }
        }
        for (const each of held) each.release();
        assert.equal(disk.reserver.reserved, 0);
      },
    ),
    { numRuns: 300 },
  );
});

test('bytes written while the free space is being asked for count against the answer', async () => {
  const answers: Array<(free: number) => void> = [];
  const reserver = new SpaceReserver('/nowhere', { freeBytes: () => new Promise((resolve) => answers.push(resolve)), now: () => 0 });
  const first = reserver.reserve(100);
  answers.shift()!(1000);
  const writing = await first;
  // The second asks; the first's 100 bytes reach the disk before the answer
  // (taken, say, just before them) comes back.
  const second = reserver.reserve(50);
  writing.wrote(100);
  writing.release();
  answers.shift()!(120);
  await assert.rejects(second, { code: 'NO_SPACE' });
});
