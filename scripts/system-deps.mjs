// What the test suite needs from Debian, fetched before the tests run:
//   chromium   the status page is checked in a real browser (installed with
//              apt-get when running as root)
//   promtool   Prometheus's own checker of the metrics text (unpacked from
//              Debian's prometheus package into .cache/, never installed or
//              started as a service)
// Each is only fetched when missing. A test that still cannot find its
// component says so and skips. BUCKETD_NO_SYSTEM_DEPS=1 skips this step.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

export const CHROMIUM = '/usr/bin/chromium';
export const PROMTOOL = path.resolve('.cache/promtool');

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
let updated = false;

/** Runs a command quietly; its error output is shown only if it fails. */
function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, ...options });
  if (result.status !== 0) process.stderr.write(result.stderr ?? '');
  return result.status === 0;
}

function aptUpdate() {
  if (updated || !isRoot) return;
  updated = true;
  run('apt-get', ['update', '-qq']);
}

function ensureChromium() {
  if (existsSync(CHROMIUM)) return;
  if (!isRoot || !has('apt-get')) {
    console.warn(`test setup: ${CHROMIUM} is missing and this is not root with apt-get; the browser test will skip (apt-get install chromium)`);
    return;
  }
  console.log('test setup: installing chromium for the status-page browser test (apt-get install chromium)...');
  aptUpdate();
  if (!run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'])) console.warn('test setup: apt-get install chromium failed; the browser test will skip');
}

function ensurePromtool() {
  if (existsSync(PROMTOOL) || has('promtool')) return;
  if (!has('apt-get') || !has('dpkg')) {
    console.warn('test setup: no apt-get/dpkg to fetch promtool; the metrics format check will use the test parser only');
    return;
  }
  console.log("test setup: unpacking promtool from Debian's prometheus package into .cache/ ...");
  mkdirSync(path.dirname(PROMTOOL), { recursive: true });
  const work = mkdtempSync(path.join(path.dirname(PROMTOOL), 'promtool-'));
  chmodSync(work, 0o755); // apt fetches as its own user
  try {
    const download = () => run('apt-get', ['download', '-qq', 'prometheus'], { cwd: work });
    if (!download()) {
      aptUpdate();
      if (!download()) {
        console.warn('test setup: apt-get download prometheus failed; the metrics format check will use the test parser only');
        return;
      }
    }
    const deb = readdirSync(work).find((file) => file.endsWith('.deb'));
    const unpacked = path.join(work, 'unpacked');
    if (!deb || !run('dpkg', ['-x', path.join(work, deb), unpacked])) {
      console.warn('test setup: could not unpack promtool');
      return;
    }
    mkdirSync(path.dirname(PROMTOOL), { recursive: true });
    renameSync(path.join(unpacked, 'usr/bin/promtool'), PROMTOOL);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function ensureSystemDeps() {
  if (process.env.BUCKETD_NO_SYSTEM_DEPS === '1') return;
  ensureChromium();
  ensurePromtool();
}

if (import.meta.url === `file://${process.argv[1]}`) ensureSystemDeps();
