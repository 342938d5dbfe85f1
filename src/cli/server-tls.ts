/**
 * bucketd's TLS options: --tls-cert FILE and --tls-key FILE, read and
 * checked at start (a missing, unreadable or mismatched pair is one line),
 * and read again on SIGHUP, so that a renewed certificate is served to new
 * connections without a restart.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from '../server/logger.js';
import type { BucketServer } from '../server/server.js';
import { createTlsContext, TlsSetupError, type CertificateSummary, type TlsFiles } from '../server/tls.js';
import { fileErrorReason } from '../util/file-errors.js';
import { UsageError } from './options.js';

export interface TlsPaths {
  cert: string;
  key: string;
}

/** The pair of files given, or undefined for a plain server; one without the other is a usage error. */
export function tlsPathsOf(cert: string | undefined, key: string | undefined): TlsPaths | undefined {
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) throw new UsageError('--tls-cert and --tls-key go together: give both or neither');
  if (cert === '' || key === '') throw new UsageError('--tls-cert and --tls-key need a file each');
  return { cert, key };
}

/** Reads the pair and checks that it can be served; failures are one line naming the file. */
export async function loadTlsFiles(paths: TlsPaths, logger: Logger): Promise<TlsFiles> {
  const files = await readTlsFiles(paths);
  try {
    describe(createTlsContext(files).certificate, logger, 'TLS on');
  } catch (error) {
    if (error instanceof TlsSetupError) throw new Error(`cannot use --tls-cert ${paths.cert} with --tls-key ${paths.key}: ${error.message}`);
    throw error;
  }
  return files;
}

/**
 * What SIGHUP does for TLS: reads the files again and serves them to new
 * connections; a pair that cannot be read or used is one log line, and the
 * one in use stays. Connections in flight keep theirs either way.
 */
export function tlsReloader(server: BucketServer, paths: TlsPaths, logger: Logger): () => Promise<void> {
  return async (): Promise<void> => {
    try {
      describe(server.reloadTls(await readTlsFiles(paths)), logger, 'TLS certificate reloaded');
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      logger.error('TLS reload failed; still serving the previous certificate', { cert: paths.cert, key: paths.key, reason });
    }
  };
}

async function readTlsFiles(paths: TlsPaths): Promise<TlsFiles> {
  const [cert, key] = await Promise.all([readPem(paths.cert, '--tls-cert'), readPem(paths.key, '--tls-key')]);
  return { cert, key };
}

async function readPem(file: string, option: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new Error(`cannot read ${option} ${file}: ${fileErrorReason(error)}`);
  }
}

function describe(certificate: CertificateSummary, logger: Logger, message: string): void {
  const fields = { subject: certificate.subject, validTo: certificate.validTo.toISOString() };
  if (certificate.validTo.getTime() < Date.now()) logger.warn(`${message}, but the certificate has expired; clients will refuse it`, fields);
  else logger.info(message, fields);
}
