/**
 * Certificates made by the tests with openssl: a CA, server certificates
 * it signs (for 127.0.0.1 and localhost, a second one for reloads, one for
 * another host name), and a self-signed one nobody trusts. When openssl is
 * missing it is installed if we are root; otherwise the TLS tests are
 * skipped, loudly, with the reason.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { tempDir } from './server.js';

export interface TestCertificates {
  dir: string;
  /** The CA's certificate (PEM file). */
  ca: string;
  /** Signed by the CA for 127.0.0.1 and localhost. */
  server: { cert: string; key: string };
  /** The same names, another key: what a renewal looks like. */
  renewed: { cert: string; key: string };
  /** Signed by the CA, but for elsewhere.example only. */
  otherHost: { cert: string; key: string };
  /** Self-signed for 127.0.0.1 and localhost: trusted by nobody. */
  untrusted: { cert: string; key: string };
  /** SHA-256 fingerprint (as Node prints it) of a certificate file. */
  fingerprint(certFile: string): string;
}

let cached: Promise<TestCertificates | string> | undefined;

/** The certificates, or the reason there are none (then skip, saying why). */
export function testCertificates(): Promise<TestCertificates | string> {
  cached ??= make();
  return cached;
}

/** The certificates; or, without openssl, undefined after marking the test skipped with the reason. */
export async function certificatesOrSkip(t: TestContext): Promise<TestCertificates | undefined> {
  const certs = await testCertificates();
  if (typeof certs !== 'string') return certs;
  t.skip(`SKIPPED: ${certs}`);
  return undefined;
}

function opensslWorks(): boolean {
  return spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
}

function ensureOpenssl(): string | undefined {
  if (opensslWorks()) return undefined;
  if (process.getuid?.() !== 0) return 'openssl is not installed and we are not root to install it (apt-get install openssl)';
  spawnSync('apt-get', ['install', '-y', 'openssl'], { stdio: 'ignore', timeout: 120_000 });
  return opensslWorks() ? undefined : 'openssl is not installed and apt-get install -y openssl failed';
}

async function make(): Promise<TestCertificates | string> {
  const missing = ensureOpenssl();
  if (missing) {
    process.stderr.write(`\n*** SKIPPING TLS TESTS: ${missing} ***\n\n`);
    return missing;
  }
  const dir = await tempDir('bucketd-certs-');
  // Shared by every test of the file, so removed when its process ends.
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string): string => path.join(dir, name);
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl('req', '-x509', ...ecKey, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=bucketd test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  const signed = (name: string, altNames: string): { cert: string; key: string } => {
    writeFileSync(file(`${name}.ext`), `subjectAltName=${altNames}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`);
    openssl('req', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(Date.now() % 1e9 + name.length), '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
    return { cert: file(`${name}.pem`), key: file(`${name}.key`) };
  };
  const server = signed('server', 'IP:127.0.0.1,DNS:localhost');
  const renewed = signed('renewed', 'IP:127.0.0.1,DNS:localhost');
  const otherHost = signed('elsewhere', 'DNS:elsewhere.example');
  openssl('req', '-x509', ...ecKey, '-keyout', 'untrusted.key', '-out', 'untrusted.pem', '-days', '2', '-subj', '/CN=untrusted', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost');
  return {
    dir,
    ca: file('ca.pem'),
    server,
    renewed,
    otherHost,
    untrusted: { cert: file('untrusted.pem'), key: file('untrusted.key') },
    fingerprint: (certFile) => new X509Certificate(readFileSync(certFile)).fingerprint256,
  };
}
