/**
 * Node's own process metrics (CPU, memory, heap, file descriptors,
 * event-loop lag, handles, version): prom-client's default collectors, all
 * but its garbage-collection histogram, which is ours and off unless asked
 * for (`gc`).
 *
 * Why the GC histogram is optional: Node 20 builds a performance entry in
 * JavaScript for every collection once anything observes them (with
 * deprecated fields made anew each time) and hands it over on the next
 * turn of the event loop. A server collects every twenty-odd small
 * uploads, and on 4 KiB files that cost more than every other metric
 * together (see docs/OPERATIONS.md). Ours also counts every collection of
 * a batch; prom-client's takes only the first.
 */
import { createRequire } from 'node:module';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { collectDefaultMetrics, type Registry } from 'prom-client';
import { FastHistogram } from './request-series.js';

type Collector = (registry: Registry, config: { eventLoopMonitoringPrecision: number }) => void;

/** prom-client's default collectors that this module uses, by name (all but `gc`). */
export const NODE_COLLECTORS: readonly string[] = collectDefaultMetrics.metricsList.filter((name) => name !== 'gc');

// prom-client's own buckets, so that dashboards made for it read ours alike.
const GC_BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5];
// V8's minor mark-compact (--minor-mc) has no constant of Node's: 2.
const MINOR_MARK_COMPACT = 2;
const GC_KINDS = new Map<number, string>([
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [MINOR_MARK_COMPACT, 'minor'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
]);

/**
 * Registers Node's process metrics in `registry`; with `gc`, also
 * nodejs_gc_duration_seconds. Returns what stops the GC observer.
 */
export function collectNodeMetrics(registry: Registry, options: { eventLoopSampleMs: number; gc: boolean }): () => void {
  // prom-client exports only the whole set; each collector is a module of
  // its own (test/server/node-metrics.test.ts fails if that layout changes).
  const load = createRequire(import.meta.url);
  for (const name of NODE_COLLECTORS) {
    (load(`prom-client/lib/metrics/${name}`) as Collector)(registry, { eventLoopMonitoringPrecision: options.eventLoopSampleMs });
  }
  if (!options.gc) return () => undefined;
  const durations = new FastHistogram({
    name: 'nodejs_gc_duration_seconds',
    help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
    labelNames: ['kind'],
    buckets: GC_BUCKETS,
    registers: [registry],
  });
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = GC_KINDS.get((entry as { detail?: { kind?: number } }).detail?.kind ?? -1) ?? 'unknown';
      durations.observe([kind], entry.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}
