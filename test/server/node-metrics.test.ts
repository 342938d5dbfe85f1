/**
 * Node's process metrics: the same families as prom-client's defaults
 * (its GC histogram only when asked for), and a GC histogram that counts
 * every collection, also when several come in one batch.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { collectNodeMetrics } from '../../src/server/ops/node-metrics.js';

const familiesOf = async (registry: Registry): Promise<string[]> => (await registry.getMetricsAsJSON()).map((metric) => metric.name).sort();

/** A function that runs a full collection now (V8's gc(), made reachable at run time). */
function gcNow(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const afterImmediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The GC histogram's lines with their values left out: HELP, TYPE, and each major sample's name and labels. */
async function gcShape(registry: Registry): Promise<string[]> {
  const text = await registry.metrics();
  return text
    .split('\n')
    // Forced collections are major; minor ones come and go with the test's own allocations.
    .filter((line) => line.includes('nodejs_gc_duration_seconds') && (line.startsWith('#') || line.includes('kind="major"')))
    .map((line) => (line.startsWith('#') ? line : line.replace(/ [^ ]+$/, '')))
    .sort();
}

test("the families are prom-client's defaults, without nodejs_gc_duration_seconds unless asked for", async () => {
  const theirs = new Registry();
  collectDefaultMetrics({ register: theirs });
  const expected = await familiesOf(theirs);
  assert.ok(expected.includes('nodejs_gc_duration_seconds'));

  const plain = new Registry();
  const stopPlain = collectNodeMetrics(plain, { eventLoopSampleMs: 100, gc: false });
  const withGc = new Registry();
  const stopGc = collectNodeMetrics(withGc, { eventLoopSampleMs: 100, gc: true });
  try {
    assert.deepEqual(await familiesOf(plain), expected.filter((name) => name !== 'nodejs_gc_duration_seconds'));
    assert.deepEqual(await familiesOf(withGc), expected);
  } finally {
    stopPlain();
    stopGc();
  }
});

test("the GC histogram reads as prom-client's: help, type, buckets, labels, seconds", async () => {
  const gc = gcNow();
  const theirs = new Registry();
  collectDefaultMetrics({ register: theirs });
  const ours = new Registry();
  const stop = collectNodeMetrics(ours, { eventLoopSampleMs: 100, gc: true });
  try {
    await afterImmediate();
    // Apart in time, so that prom-client (which reads one collection of each batch) sees each.
    for (let i = 0; i < 3; i++) {
      gc();
      await afterImmediate();
      await afterImmediate();
    }
    assert.deepEqual(await gcShape(ours), await gcShape(theirs));
    const text = await ours.metrics();
    const count = Number(/^nodejs_gc_duration_seconds_count\{kind="major"\} (\d+)$/m.exec(text)?.[1]);
    const sum = Number(/^nodejs_gc_duration_seconds_sum\{kind="major"\} (\S+)$/m.exec(text)?.[1]);
    assert.ok(count >= 3, text);
    // Seconds: a full collection of this small heap takes milliseconds.
    assert.ok(sum > 0 && sum / count < 0.5, `sum ${sum} for ${count} collections`);
  } finally {
    stop();
  }
});

test('every collection of a batch is counted, and none once stopped', async () => {
  const gc = gcNow();
  const registry = new Registry();
  const stop = collectNodeMetrics(registry, { eventLoopSampleMs: 100, gc: true });
  const majors = async (): Promise<number> => {
    const text = await registry.metrics();
    return Number(/^nodejs_gc_duration_seconds_count\{kind="major"\} (\d+)$/m.exec(text)?.[1] ?? 0);
  };
  try {
    await afterImmediate();
    const before = await majors();
    // Three collections in one turn: Node hands them over together.
    gc();
    gc();
    gc();
    await afterImmediate();
    await afterImmediate();
    assert.equal((await majors()) - before, 3);
  } finally {
    stop();
  }
  const stopped = await majors();
  gc();
  await afterImmediate();
  await afterImmediate();
  assert.equal(await majors(), stopped);
});
