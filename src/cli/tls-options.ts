/**
 * bucket's TLS options: --tls, --ca FILE and --insecure (either of the
 * last two implies --tls), or BUCKET_TLS=1 and BUCKET_CA=FILE in the
 * environment, turned into the client library's TlsOption.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { TlsOption } from '../client/index.js';
import { fileErrorReason } from '../util/file-errors.js';
import { UsageError } from './options.js';

export const TLS_OPTIONS = {
  tls: { type: 'boolean' },
  ca: { type: 'string' },
  insecure: { type: 'boolean' },
} as const;

export const TLS_USAGE = `  --tls          speak TLS, checking the server's certificate and name against
                 the system's certificate authorities (env BUCKET_TLS=1)
  --ca FILE      check the server's certificate against this CA (PEM) instead;
                 implies --tls (env BUCKET_CA)
  --insecure     speak TLS without checking the server's certificate (warns)`;

export interface TlsValues {
  tls?: boolean | undefined;
  ca?: string | undefined;
  insecure?: boolean | undefined;
}

/** The TLS the options ask for, undefined for plain text. `warn` gets one line for --insecure. */
export async function tlsOptionOf(values: TlsValues, env: NodeJS.ProcessEnv, warn: (line: string) => void): Promise<TlsOption | undefined> {
  if (values.ca !== undefined && values.insecure) throw new UsageError('give --ca or --insecure, not both');
  // BUCKET_CA implies TLS as --ca does, unless TLS was turned off in so
  // many words (BUCKET_TLS=0, or a profile's "tls": false).
  const caImplies = Boolean(env.BUCKET_CA) && values.tls !== false && !env.BUCKET_TLS;
  const on = values.tls === true || values.ca !== undefined || values.insecure === true || envFlag(env.BUCKET_TLS, 'BUCKET_TLS') || caImplies;
  if (!on) return undefined;
  if (values.insecure) {
    warn("warning: --insecure: the server's certificate is not checked; anyone between here and the server can read and change this session");
    return { insecure: true };
  }
  const caFile = values.ca ?? (env.BUCKET_CA || undefined);
  if (caFile === undefined) return true;
  const option = values.ca !== undefined ? '--ca' : 'BUCKET_CA';
  return { ca: await readCa(caFile, option) };
}

function envFlag(text: string | undefined, name: string): boolean {
  if (text === undefined || text === '' || /^(?:0|no|false|off)$/i.test(text)) return false;
  if (/^(?:1|yes|true|on)$/i.test(text)) return true;
  throw new UsageError(`invalid ${name} "${text}": use 1 or 0`);
}

async function readCa(file: string, option: string): Promise<Buffer> {
  let pem: Buffer;
  try {
    pem = await readFile(file);
  } catch (error) {
    throw new Error(`cannot read ${option} ${file}: ${fileErrorReason(error)}`);
  }
  try {
    new X509Certificate(pem);
  } catch {
    throw new Error(`cannot use ${option} ${file}: it is not a PEM certificate ("-----BEGIN CERTIFICATE-----")`);
  }
  return pem;
}
