/**
 * Counters and histograms for what happens on every request, kept as plain
 * numbers and turned into Prometheus samples only when scraped. A request
 * adds to a few numbers found by a map lookup per label; prom-client's own metrics
 * (which check and hash their labels on every call) cost the server several
 * percent of its small-file rate. Each series registers in a prom-client
 * Registry like any metric, and is rendered by it.
 */
import type { Registry } from 'prom-client';

type Labels = Record<string, string | number>;

/** What prom-client's Registry asks of a metric when it renders one. */
interface Rendered {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: Array<{ labels: Labels; value: number; metricName?: string }>;
}

interface Series<T> {
  labels: Labels;
  state: T;
}

type Level<T> = Map<string, Level<T> | Series<T>>;

/** The series of a metric, one per set of label values, made on first use. */
class SeriesTable<T> {
  readonly #labelNames: readonly string[];
  readonly #make: () => T;
  // One map per label, nested: no key string is built (and hashed) per request.
  readonly #root: Level<T> = new Map();
  // In the order they were made, as prom-client renders them.
  readonly #series: Array<Series<T>> = [];

  constructor(labelNames: readonly string[], make: () => T) {
    this.#labelNames = labelNames;
    this.#make = make;
  }

  /** The state for these label values (in the order of the label names). */
  of(values: readonly string[]): T {
    let level = this.#root;
    const last = values.length - 1;
    for (let i = 0; i < last; i++) {
      let next = level.get(values[i]!) as Level<T> | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(values[i]!, next);
      }
      level = next;
    }
    const key = last < 0 ? '' : values[last]!; // a metric without labels has one series
    let series = level.get(key) as Series<T> | undefined;
    if (series === undefined) {
      const labels: Labels = {};
      this.#labelNames.forEach((name, i) => (labels[name] = values[i]!));
      series = { labels, state: this.#make() };
      level.set(key, series);
      this.#series.push(series);
    }
    return series.state;
  }

  all(): Iterable<Series<T>> {
    return this.#series;
  }
}

/** A counter; `add` is the whole cost of a request. */
export class FastCounter {
  readonly name: string;
  readonly help: string;
  readonly type = 'counter' as const;
  readonly aggregator = 'sum' as const;
  readonly #table: SeriesTable<{ value: number }>;

  constructor(options: { name: string; help: string; labelNames: readonly string[]; registers: Registry[] }) {
    this.name = options.name;
    this.help = options.help;
    this.#table = new SeriesTable(options.labelNames, () => ({ value: 0 }));
    for (const registry of options.registers) registry.registerMetric(this as never);
  }

  add(values: readonly string[], amount = 1): void {
    this.#table.of(values).value += amount;
  }

  async get(): Promise<Rendered> {
    const values: Rendered['values'] = [];
    for (const { labels, state } of this.#table.all()) values.push({ labels, value: state.value });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const { state } of this.#table.all()) state.value = 0;
  }
}

interface HistogramState {
  /** Observations at or under each bound (not yet cumulative). */
  counts: Float64Array;
  sum: number;
  count: number;
}

/** A histogram with fixed bounds; `observe` is a short scan and three additions. */
export class FastHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly #bounds: readonly number[];
  readonly #table: SeriesTable<HistogramState>;

  constructor(options: { name: string; help: string; labelNames: readonly string[]; buckets: readonly number[]; registers: Registry[] }) {
    this.name = options.name;
    this.help = options.help;
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
    const slots = this.#bounds.length + 1; // the last: above every bound
    this.#table = new SeriesTable(options.labelNames, () => ({ counts: new Float64Array(slots), sum: 0, count: 0 }));
    for (const registry of options.registers) registry.registerMetric(this as never);
  }

  observe(values: readonly string[], value: number): void {
    const state = this.#table.of(values);
    let slot = 0;
    while (slot < this.#bounds.length && value > this.#bounds[slot]!) slot++;
    state.counts[slot]! += 1;
    state.sum += value;
    state.count += 1;
  }

  async get(): Promise<Rendered> {
    const values: Rendered['values'] = [];
    for (const { labels, state } of this.#table.all()) {
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += state.counts[i]!;
        values.push({ labels: { le: bound, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...labels }, value: state.count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: state.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: state.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const { state } of this.#table.all()) {
      state.counts.fill(0);
      state.sum = 0;
      state.count = 0;
    }
  }
}
