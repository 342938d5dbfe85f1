/**
 * How the client reaches a server: a TCP socket, or a TLS socket that has
 * checked the server's certificate and host name. Every way this can fail
 * becomes one ClientError with a one-line reason; a server that speaks TLS
 * while the client does not (or the other way round) is named as such,
 * not reported as a broken connection.
 */
import net from 'node:net';
import tls from 'node:tls';
import { BucketError } from '../errors.js';
import { ClientError } from './errors.js';

/**
 * TLS for a connection. `true` checks the server's certificate and host
 * name against the system's certificate authorities; `ca` against that CA
 * (PEM) instead; `insecure` checks nothing (anyone on the path can read and
 * change the session). `servername` is the name the certificate must carry
 * when it differs from the host connected to (e.g. an IP address).
 */
export type TlsOption = boolean | { ca?: string | Buffer; insecure?: boolean; servername?: string };

export interface Endpoint {
  host: string;
  port: number;
  /** Give up connecting (TLS handshake included) after this long. */
  timeoutMs: number;
  tls?: TlsOption | undefined;
}

// OpenSSL's failures when the other side answers a ClientHello in plain
// text: its first bytes read as a record header of no known version.
const PLAIN_TEXT_ANSWERS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_RECORD_LAYER_FAILURE', 'ERR_SSL_UNEXPECTED_RECORD', 'ERR_SSL_HTTP_REQUEST']);

/** Opens a connection to `endpoint`: plain, or TLS with the server verified. */
export function openSocket(endpoint: Endpoint): Promise<net.Socket> {
  const { host, port, timeoutMs } = endpoint;
  const where = formatWhere(host, port);
  const tlsOptions = tlsOptionsOf(endpoint.tls);
  return new Promise((resolve, reject) => {
    const socket = tlsOptions ? tls.connect({ host, port, ...tlsOptions }) : net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ClientError('CONNECT_TIMEOUT', `cannot connect to ${where}: no answer${tlsOptions ? ' (TCP connection and TLS handshake)' : ''}`));
    }, timeoutMs);
    socket.once(tlsOptions ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(tlsOptions ? tlsFailure(error, where) : refused(error, where));
    });
  });
}

/**
 * The ClientError a plain client should see for a server's TLS_REQUIRED or
 * TLS_NOT_AVAILABLE reply, or undefined for any other error.
 */
export function tlsMismatchOf(error: BucketError, host: string, port: number): ClientError | undefined {
  const where = formatWhere(host, port);
  if (error.code === 'TLS_REQUIRED') return new ClientError('TLS_REQUIRED', `the server at ${where} speaks TLS only; connect with TLS (bucket --tls)`, { cause: error });
  if (error.code === 'TLS_NOT_AVAILABLE') return new ClientError('TLS_NOT_AVAILABLE', `the server at ${where} does not speak TLS; connect without it`, { cause: error });
  return undefined;
}

function tlsOptionsOf(option: TlsOption | undefined): tls.ConnectionOptions | undefined {
  if (option === undefined || option === false) return undefined;
  const given = option === true ? {} : option;
  const options: tls.ConnectionOptions = { minVersion: 'TLSv1.2', rejectUnauthorized: given.insecure !== true };
  if (given.ca !== undefined) options.ca = given.ca;
  if (given.servername !== undefined) options.servername = given.servername;
  return options;
}

function refused(error: NodeJS.ErrnoException, where: string): ClientError {
  const reason = error.code === 'ECONNREFUSED' ? 'connection refused (is bucketd running?)' : (error.code ?? error.message);
  return new ClientError('CONNECTION_REFUSED', `cannot connect to ${where}: ${reason}`, { cause: error });
}

/** A failed TLS connection, by what failed: reaching the server, its speaking TLS, or trusting it. */
function tlsFailure(error: NodeJS.ErrnoException, where: string): ClientError {
  const code = error.code ?? '';
  if (PLAIN_TEXT_ANSWERS.has(code)) {
    return new ClientError('TLS_NOT_AVAILABLE', `cannot connect to ${where} with TLS: the server does not speak TLS (it answered in plain text)`, { cause: error });
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const names = (error as Error & { cert?: { subjectaltname?: string } }).cert?.subjectaltname;
    return new ClientError('TLS_UNTRUSTED', `cannot connect to ${where} with TLS: the server's certificate is not for this host (it names ${names || 'no host'})`, { cause: error });
  }
  if (isCertificateError(code)) {
    return new ClientError('TLS_UNTRUSTED', `cannot connect to ${where} with TLS: the server's certificate is not trusted (${error.message}); give the CA that signed it (bucket --ca FILE)`, { cause: error });
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) {
    const reason = (error as Error & { reason?: string }).reason ?? error.message.split('\n')[0];
    return new ClientError('CONNECTION_LOST', `cannot connect to ${where} with TLS: the handshake failed (${reason})`, { cause: error });
  }
  if (code === 'ECONNRESET' || error.message.includes('before secure TLS connection')) {
    return new ClientError('CONNECTION_LOST', `cannot connect to ${where} with TLS: the server closed the connection during the handshake`, { cause: error });
  }
  return refused(error, where);
}

/**
 * OpenSSL's certificate verification results, as Node names them
 * (X509_V_ERR_* without the prefix): https://docs.openssl.org/3.0/man3/X509_STORE_CTX_get_error/
 */
function isCertificateError(code: string): boolean {
  return /^(?:CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH_EXCEEDED|HOSTNAME_MISMATCH|ERROR_IN_CERT_|CRL_|KEYUSAGE_)/.test(code);
}

function formatWhere(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
