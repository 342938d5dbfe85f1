/**
 * The status page for people: plain HTML rendered on the server, no
 * scripts, readable in any browser or with curl. Everything shown is
 * escaped; nothing secret is on it (no passwords, no file contents).
 */
import type { RecentError } from './activity.js';

export interface StatusSnapshot {
  version: string;
  protocol: number;
  startedAt: Date;
  now: Date;
  store: string;
  draining: boolean;
  connections: number;
  uploads: { count: number; stagedBytes: number };
  rate: { in: number; out: number; seconds: number };
  buckets: Array<{ name: string; files: number; bytes: number }>;
  moreBuckets: boolean;
  errors: RecentError[];
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char]!);
}

export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (days > 0) return `${days} d ${hours} h`;
  if (hours > 0) return `${hours} h ${minutes} min`;
  if (minutes > 0) return `${minutes} min ${seconds % 60} s`;
  return `${seconds} s`;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse}td,th{padding:.25rem .75rem;border-bottom:1px solid #ddd;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.draining{color:#a00;font-weight:bold}
dl{display:grid;grid-template-columns:max-content auto;gap:.25rem 1rem}dt{color:#555}dd{margin:0}`;

export function renderStatusPage(status: StatusSnapshot): string {
  const row = (cells: string[]): string => `<tr>${cells.join('')}</tr>`;
  const cell = (text: string, numeric = false): string => `<td${numeric ? ' class="n"' : ''}>${escapeHtml(text)}</td>`;
  const state = status.draining ? '<span class="draining">draining: finishing transfers, taking no new connections</span>' : 'serving';
  const buckets =
    status.buckets.length === 0
      ? '<p>No buckets yet.</p>'
      : `<table id="buckets"><thead><tr><th>bucket</th><th class="n">files</th><th class="n">bytes</th><th class="n">size</th></tr></thead><tbody>
${status.buckets.map((bucket) => row([cell(bucket.name), cell(String(bucket.files), true), cell(String(bucket.bytes), true), cell(humanBytes(bucket.bytes), true)])).join('\n')}
</tbody></table>${status.moreBuckets ? `<p>Only the first ${status.buckets.length} buckets are shown.</p>` : ''}`;
  const errors =
    status.errors.length === 0
      ? '<p>No failed requests since start.</p>'
      : `<table id="errors"><thead><tr><th>time</th><th>peer</th><th>user</th><th>command</th><th>bucket / file</th><th class="n">status</th><th>code</th></tr></thead><tbody>
${status.errors
  .map((error) =>
    row([
      cell(error.at.toISOString()),
      cell(error.peer),
      cell(error.user ?? '-'),
      cell(error.command),
      cell([error.bucket, error.name].filter((part) => part !== undefined).join(' / ') || '-'),
      cell(String(error.status), true),
      cell(error.code),
    ]),
  )
  .join('\n')}
</tbody></table>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bucketd status</title>
<style>${STYLE}</style>
</head>
<body>
<h1>bucketd ${escapeHtml(status.version)}</h1>
<dl id="summary">
<dt>state</dt><dd id="state">${state}</dd>
<dt>up for</dt><dd id="uptime">${escapeHtml(humanDuration(status.now.getTime() - status.startedAt.getTime()))} (since ${escapeHtml(status.startedAt.toISOString())})</dd>
<dt>store</dt><dd id="store">${escapeHtml(status.store)}</dd>
<dt>protocol</dt><dd>${status.protocol}</dd>
<dt>connections now</dt><dd id="connections">${status.connections}</dd>
<dt>uploads in flight</dt><dd id="uploads">${status.uploads.count} (${escapeHtml(humanBytes(status.uploads.stagedBytes))} received, not stored yet)</dd>
<dt>transfer rate</dt><dd id="rate">${escapeHtml(humanBytes(Math.round(status.rate.in)))}/s in, ${escapeHtml(humanBytes(Math.round(status.rate.out)))}/s out (last ${Math.round(status.rate.seconds)} s)</dd>
</dl>
<h2>Buckets</h2>
${buckets}
<h2>Recent errors</h2>
${errors}
<p><a href="/metrics">metrics</a> · <a href="/healthz">healthz</a> · <a href="/readyz">readyz</a> · rendered ${escapeHtml(status.now.toISOString())}</p>
</body>
</html>
`;
}
