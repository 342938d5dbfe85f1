/**
 * Reading /metrics in tests: Prometheus's own promtool checks the text is
 * valid exposition format (scripts/system-deps.mjs fetches it), and a small
 * reader picks sample values out of it for the counters' deltas.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './server.js';

const BUNDLED = path.join(REPO_ROOT, '.cache/promtool');

export function promtoolPath(): string | undefined {
  if (existsSync(BUNDLED)) return BUNDLED;
  const found = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

// prom-client's own process gauges end in _total, which promtool's linter
// frowns on; that is the library's naming, not ours, and not a format error.
const LIBRARY_LINT = /^nodejs_\w+ non-counter metrics should not have "_total" suffix$/;

/** promtool's verdict on the text: undefined when valid (and our names lint clean), else what it said. */
export function promtoolProblems(text: string, promtool: string): string | undefined {
  const result = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (result.status === 0) return undefined;
  const problems = `${result.stdout}${result.stderr}`.split('\n').filter((line) => line.trim() !== '' && !LIBRARY_LINT.test(line));
  return problems.length === 0 ? undefined : problems.join('\n');
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function readSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = value!.replace(/\\(.)/g, (_, char: string) => (char === 'n' ? '\n' : char));
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the sample with this name whose labels include `labels`; 0 when there is none yet. */
export function valueOf(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  const matching = samples.filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
  return matching.reduce((sum, sample) => sum + sample.value, 0);
}

export function hasMetric(samples: readonly Sample[], name: string): boolean {
  return samples.some((sample) => sample.name === name);
}
