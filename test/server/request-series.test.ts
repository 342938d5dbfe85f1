/**
 * The per-request series render as prom-client would render its own: the
 * same text for the same observations, checked against prom-client's
 * Counter and Histogram in one registry each, with fast-check.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { FastCounter, FastHistogram } from '../../src/server/ops/request-series.js';

const BUCKETS = [0.001, 0.01, 0.1, 1, 10];
const LABELS = ['a', 'b', 'c'];

test('FastCounter and FastHistogram render what prom-client renders for the same observations', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.constantFrom(...LABELS), fc.constantFrom(...LABELS), fc.double({ min: 0, max: 20, noNaN: true }), fc.nat(1000)), { maxLength: 60 }),
      async (events) => {
        const ours = new Registry();
        const theirs = new Registry();
        const fastCounter = new FastCounter({ name: 'x_total', help: 'x', labelNames: ['kind', 'side'], registers: [ours] });
        const fastHistogram = new FastHistogram({ name: 'x_seconds', help: 'y', labelNames: ['kind'], buckets: BUCKETS, registers: [ours] });
        const counter = new Counter({ name: 'x_total', help: 'x', labelNames: ['kind', 'side'], registers: [theirs] });
        const histogram = new Histogram({ name: 'x_seconds', help: 'y', labelNames: ['kind'], buckets: BUCKETS, registers: [theirs] });
        for (const [kind, side, seconds, amount] of events) {
          fastCounter.add([kind, side], amount);
          counter.inc({ kind, side }, amount);
          fastHistogram.observe([kind], seconds);
          histogram.observe({ kind }, seconds);
        }
        const sortLines = (text: string): string[] => text.split('\n').sort();
        assert.deepEqual(sortLines(await ours.metrics()), sortLines(await theirs.metrics()));
      },
    ),
    { numRuns: 100 },
  );
});

test('series are told apart by each label value, however the values look, and a counter may have no labels', async () => {
  const ours = new Registry();
  const theirs = new Registry();
  const fast = new FastCounter({ name: 'y_total', help: 'y', labelNames: ['p', 'q'], registers: [ours] });
  const slow = new Counter({ name: 'y_total', help: 'y', labelNames: ['p', 'q'], registers: [theirs] });
  // Pairs that one joined key would have mixed up.
  for (const [p, q] of [['a\u0000b', 'c'], ['a', 'b\u0000c'], ['', ''], ['a', 'b\u0000c']] as const) {
    fast.add([p, q]);
    slow.inc({ p, q });
  }
  const fastPlain = new FastCounter({ name: 'z_total', help: 'z', labelNames: [], registers: [ours] });
  const slowPlain = new Counter({ name: 'z_total', help: 'z', registers: [theirs] });
  fastPlain.add([], 2);
  fastPlain.add([], 3);
  slowPlain.inc(5);
  assert.equal(await ours.metrics(), await theirs.metrics());
});
