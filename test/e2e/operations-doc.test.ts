/**
 * docs/OPERATIONS.md's Prometheus examples stay true: every query of
 * "Queries to graph" is valid PromQL (promtool check rules), the scrape
 * config is a valid config (promtool check config), and each query names
 * only metrics, and labels, that a real server's /metrics has.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'node:test';
import { BucketClient } from '../../src/client/client.js';
import { promtoolPath, readSamples, type Sample } from '../helpers/prometheus.js';
import { REPO_ROOT, startServer, tempDir } from '../helpers/server.js';

const DOC = path.join(REPO_ROOT, 'docs/OPERATIONS.md');

/** The expressions in the query column of "Queries to graph" (a cell may hold several, each in backticks). */
function queriesOf(doc: string): string[] {
  const section = doc.slice(doc.indexOf('Queries to graph'));
  const table = section.slice(0, section.indexOf('\n\n', section.indexOf('| --- |')));
  const rows = table.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| panel') && !line.startsWith('| ---'));
  return rows.flatMap((row) => {
    // The last cell; `\|` is a pipe inside a cell (GitHub's table syntax).
    const cells = row.replaceAll('\\|', '\u0000').split('|');
    const cell = cells[cells.length - 2]!.replaceAll('\u0000', '|');
    return [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1]!);
  });
}

const METRIC = /\b((?:bucketd|process|nodejs)_[a-z_]+)\b/g;

/** The samples of a metric name as written in a query (a histogram's _bucket, _sum and _count are samples of their own). */
const samplesOf = (samples: readonly Sample[], name: string): Sample[] => samples.filter((sample) => sample.name === name);

test('the queries and the scrape config in docs/OPERATIONS.md are valid and name what /metrics has', async (t) => {
  const doc = await readFile(DOC, 'utf8');
  const queries = queriesOf(doc);
  assert.ok(queries.length >= 10, `found only ${queries.length} queries`);

  const server = await startServer({ args: ['--http-port', '0', '--metrics-gc'] });
  let samples: Sample[];
  try {
    // Requests of each kind the queries look at: an upload, a download, a failure.
    const client = await BucketClient.connect({ port: server.port });
    await client.createBucket('box');
    await client.upload('box', 'a.txt', Readable.from([Buffer.from('hello')]), 5);
    await client.download('box', 'a.txt', new PassThrough().resume());
    await assert.rejects(client.download('box', 'missing.txt', new PassThrough().resume()));
    await client.exit();
    samples = readSamples(await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text());
  } finally {
    await server.stop();
  }
  for (const query of queries) {
    const names = [...query.matchAll(METRIC)].map((match) => match[1]!);
    assert.ok(names.length > 0, `no metric in ${query}`);
    for (const name of names) {
      const found = samplesOf(samples, name);
      assert.ok(found.length > 0, `${name} (in ${query}) is not in /metrics`);
      const labels = new Set(found.flatMap((sample) => Object.keys(sample.labels)));
      // Labels matched in the metric's own selector: name{label="..."}.
      const selector = new RegExp(`${name}\\{([^}]*)\\}`).exec(query)?.[1];
      for (const [, label] of selector?.matchAll(/([a-z_]+)\s*[=!]~?/g) ?? []) assert.ok(labels.has(label!), `${name} has no label ${label} (in ${query})`);
    }
    // Labels grouped by: each belongs to some metric the query reads.
    const every = new Set(names.flatMap((name) => samplesOf(samples, name).flatMap((sample) => Object.keys(sample.labels))));
    for (const [, list] of query.matchAll(/\bby \(([^)]*)\)/g)) {
      for (const label of list!.split(',').map((each) => each.trim())) assert.ok(every.has(label), `no metric in ${query} has the label ${label}`);
    }
  }

  const promtool = promtoolPath();
  if (!promtool) {
    t.skip('promtool not found (scripts/system-deps.mjs fetches it): the queries are not checked as PromQL');
    console.warn('SKIPPED: promtool not found; the documented queries are not checked as PromQL');
    return;
  }
  const work = await tempDir();
  try {
    const rules = ['groups:', '  - name: operations-doc', '    rules:', ...queries.flatMap((query, i) => [`      - record: doc:query_${i}`, `        expr: ${JSON.stringify(query)}`])].join('\n');
    await writeFile(path.join(work, 'rules.yml'), `${rules}\n`);
    const checked = spawnSync(promtool, ['check', 'rules', path.join(work, 'rules.yml')], { encoding: 'utf8' });
    assert.equal(checked.status, 0, `${checked.stdout}${checked.stderr}`);

    const config = /```yaml\n(scrape_configs:[\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(config, 'the scrape config example');
    await writeFile(path.join(work, 'prometheus.yml'), config);
    const configChecked = spawnSync(promtool, ['check', 'config', '--syntax-only', path.join(work, 'prometheus.yml')], { encoding: 'utf8' });
    assert.equal(configChecked.status, 0, `${configChecked.stdout}${configChecked.stderr}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
