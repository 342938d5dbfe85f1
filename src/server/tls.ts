/**
 * TLS on the port the plain protocol uses. The server listens with `net`
 * and looks at the first byte each connection sends: a TLS handshake
 * record (0x16, a ClientHello) is wrapped in a server-side TLSSocket and
 * the protocol is served inside it; anything else on a TLS server gets one
 * readable line (`TLS_REQUIRED`) and is closed. On a plain server the same
 * look turns a TLS handshake away with `TLS_NOT_AVAILABLE` instead of
 * answering its bytes as garbage requests. (The same sniffing is how
 * httpolyglot serves HTTP and HTTPS on one port.)
 *
 * The certificate and key live in one SecureContext, replaced whole on
 * reload: a connection keeps the context it shook hands with, so reloading
 * drops nothing in flight, and a bad new pair leaves the old one in use.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type net from 'node:net';
import tls from 'node:tls';
import { encodeErrorReply } from '../protocol/replies.js';
import type { Logger } from './logger.js';

/** A certificate (PEM, optionally followed by its chain) and its private key (PEM, unencrypted). */
export interface TlsFiles {
  cert: string | Buffer;
  key: string | Buffer;
}

/** A certificate and key that cannot be used; the message is one line for people. */
export class TlsSetupError extends Error {
  override name = 'TlsSetupError';
}

// The content type of a TLS record that carries a handshake message.
const HANDSHAKE_RECORD = 0x16;

// How long a closing connection may take to read our last line.
const LINGER_MS = 2000;

// A refused connection on a TLS server: a client silent this long gets the
// refusal in plain text (a TLS client speaks at once), and none stays longer
// than the cap, handshake included.
const REFUSAL_SILENCE_MS = 1000;
const REFUSAL_CAP_MS = 5000;

/** What people want to know about a certificate in use. */
export interface CertificateSummary {
  subject: string;
  validTo: Date;
}

/**
 * A server context for `files`, TLS 1.2 at least. Checks the pair first so
 * that a failure says which file is wrong, and how.
 */
export function createTlsContext(files: TlsFiles): { context: tls.SecureContext; certificate: CertificateSummary } {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(files.cert);
  } catch {
    throw new TlsSetupError('the certificate is not a PEM certificate ("-----BEGIN CERTIFICATE-----")');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(files.key);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new TlsSetupError(
      code === 'ERR_MISSING_PASSPHRASE' ? 'the private key is encrypted with a passphrase; bucketd needs it unencrypted' : 'the key is not a PEM private key ("-----BEGIN PRIVATE KEY-----")',
    );
  }
  if (!certificate.checkPrivateKey(key)) throw new TlsSetupError('the key does not match the certificate (they are not one pair)');
  try {
    const context = tls.createSecureContext({ cert: files.cert, key: files.key, minVersion: 'TLSv1.2' });
    return { context, certificate: { subject: certificate.subject.replaceAll('\n', ', '), validTo: new Date(certificate.validTo) } };
  } catch (error) {
    throw new TlsSetupError(`the certificate and key cannot be used: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export interface TlsGateOptions {
  logger: Logger;
  /** A TLS server closes a new connection that sends nothing for this long; 0 never. */
  idleTimeoutMs: number;
  /** A handshake must be done this long after its first byte; 0 no limit. */
  handshakeTimeoutMs: number;
}

/**
 * Where every accepted socket passes before the protocol is served on it:
 * in plain text, or inside TLS once the handshake is done.
 */
export class TlsGate {
  readonly #options: TlsGateOptions;
  #context: tls.SecureContext | undefined;
  /** Sockets on a TLS server that have not sent a byte yet, and how each ends. */
  readonly #silent = new Map<net.Socket, (line?: Buffer) => void>();
  readonly #handshaking = new Set<tls.TLSSocket>();

  constructor(files: TlsFiles | undefined, options: TlsGateOptions) {
    this.#options = options;
    if (files) this.#use(files);
  }

  get enabled(): boolean {
    return this.#context !== undefined;
  }

  /**
   * Serves new connections with `files` from now on; connections already
   * open keep theirs. A pair that cannot be used throws TlsSetupError and
   * changes nothing.
   */
  reload(files: TlsFiles): CertificateSummary {
    if (!this.#context) throw new TlsSetupError('this server was started without TLS; restart it with a certificate to use one');
    return this.#use(files);
  }

  /**
   * The stream to serve the protocol on: the socket itself on a plain
   * server, or the TLS socket once its handshake is done. Undefined when
   * the connection ended before that (plain text on a TLS port, a failed
   * or stalled handshake, silence); each such end is one log line.
   */
  open(socket: net.Socket, peer: string): Promise<net.Socket | undefined> {
    if (!this.#context) {
      this.#refuseHandshakes(socket, peer);
      return Promise.resolve(socket);
    }
    return this.#openTls(socket, peer, this.#context);
  }

  /**
   * Sends a refusal line (too many connections, shutting down) and closes:
   * in plain text, or on a TLS server inside TLS to a client that starts a
   * handshake, so that it reads the reason rather than a broken handshake.
   */
  refuse(socket: net.Socket, line: Buffer): void {
    socket.on('error', () => undefined);
    socket.setTimeout(LINGER_MS, () => socket.destroy());
    const context = this.#context;
    if (!context) {
      endWith(socket, line);
      return;
    }
    const cap = setTimeout(() => socket.destroy(), REFUSAL_CAP_MS);
    cap.unref();
    socket.once('close', () => clearTimeout(cap));
    const silence = setTimeout(() => endWith(socket, line), REFUSAL_SILENCE_MS);
    silence.unref();
    socket.once('data', (chunk: Buffer) => {
      clearTimeout(silence);
      if (chunk[0] !== HANDSHAKE_RECORD) {
        endWith(socket, line);
        return;
      }
      const secure = wrap(socket, chunk, context);
      secure.on('error', () => secure.destroy());
      secure.once('secure', () => endWith(secure, line));
    });
  }

  /** The server is stopping: connections that have not spoken hear so and close. */
  shutdown(): void {
    for (const end of [...this.#silent.values()]) end(encodeErrorReply('SHUTTING_DOWN'));
  }

  /** Drops every connection still at the gate. */
  destroy(): void {
    for (const end of [...this.#silent.values()]) end();
    for (const secure of this.#handshaking) secure.destroy();
  }

  #use(files: TlsFiles): CertificateSummary {
    const { context, certificate } = createTlsContext(files);
    this.#context = context;
    return certificate;
  }

  /** On a plain server, a client that starts a TLS handshake is told, once, and closed. */
  #refuseHandshakes(socket: net.Socket, peer: string): void {
    // Runs before the connection's own listeners see the bytes; once the
    // socket is ended, the connection sends nothing more on it.
    socket.prependOnceListener('data', (chunk: Buffer) => {
      if (chunk[0] !== HANDSHAKE_RECORD) return;
      this.#options.logger.info('TLS handshake on a plain server; closing', { peer });
      socket.end(encodeErrorReply('TLS_NOT_AVAILABLE'));
      const timer = setTimeout(() => socket.destroy(), LINGER_MS);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
    });
  }

  #openTls(socket: net.Socket, peer: string, context: tls.SecureContext): Promise<net.Socket | undefined> {
    const { logger, idleTimeoutMs, handshakeTimeoutMs } = this.#options;
    // One line per connection, whichever of its sockets fails first.
    let reported = false;
    const report = (error: Error): void => {
      if (reported) return;
      reported = true;
      const code = (error as NodeJS.ErrnoException).code;
      logger.info('TLS connection error', { peer, code, reason: reasonOf(error) });
    };
    socket.on('error', report);
    return new Promise((resolve) => {
      let settled = false;
      let handshakeTimer: NodeJS.Timeout | undefined;
      const settle = (stream?: net.Socket): void => {
        if (settled) return;
        settled = true;
        clearTimeout(handshakeTimer);
        this.#silent.delete(socket);
        resolve(stream);
      };
      const closeWith = (line?: Buffer): void => {
        if (line) endWith(socket, line);
        else socket.destroy();
        settle();
      };
      this.#silent.set(socket, closeWith);
      socket.once('close', () => settle());
      // Half-open sockets never close by themselves: a client that ends
      // before saying anything is done.
      socket.once('end', () => {
        if (this.#silent.has(socket)) closeWith();
      });
      if (idleTimeoutMs > 0) {
        socket.setTimeout(idleTimeoutMs, () => {
          logger.info('closing idle connection', { peer });
          closeWith(encodeErrorReply('IDLE_TIMEOUT', `no activity for ${Math.round(idleTimeoutMs / 1000)} s; closing`));
        });
      }
      socket.once('data', (chunk: Buffer) => {
        this.#silent.delete(socket);
        socket.setTimeout(0);
        if (chunk[0] !== HANDSHAKE_RECORD) {
          logger.info('plain-text client on a TLS server; closing', { peer });
          closeWith(encodeErrorReply('TLS_REQUIRED'));
          return;
        }
        const secure = wrap(socket, chunk, context);
        this.#handshaking.add(secure);
        secure.on('error', report);
        const done = (stream?: net.Socket): void => {
          this.#handshaking.delete(secure);
          settle(stream);
        };
        if (handshakeTimeoutMs > 0) {
          handshakeTimer = setTimeout(() => {
            logger.info('TLS handshake not done in time; closing', { peer, seconds: handshakeTimeoutMs / 1000 });
            reported = true;
            secure.destroy();
            done();
          }, handshakeTimeoutMs);
          handshakeTimer.unref();
        }
        secure.once('secure', () => done(secure));
        const dropped = (): void => {
          if (settled) return;
          if (!reported) logger.info('TLS handshake not completed: the client closed the connection', { peer });
          reported = true;
          secure.destroy();
          done();
        };
        // A client that ends its side mid-handshake ends the connection
        // (half-open sockets do not close by themselves).
        secure.once('end', dropped);
        secure.once('close', dropped);
      });
    });
  }
}

/** A server-side TLS socket over `socket`, starting from the `first` bytes already read. */
function wrap(socket: net.Socket, first: Buffer, context: tls.SecureContext): tls.TLSSocket {
  // The TLS socket takes over the handle and reads what the socket holds first.
  socket.pause();
  socket.unshift(first);
  return new tls.TLSSocket(socket, { isServer: true, secureContext: context });
}

/** Ends with a last line, reads and drops what the peer still sends, and goes after a moment. */
function endWith(socket: net.Socket, line: Buffer): void {
  socket.on('error', () => undefined);
  socket.end(line);
  socket.resume();
  socket.once('end', () => socket.destroy());
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** OpenSSL's reason ("wrong version number"), or the message's first line. */
function reasonOf(error: Error): string {
  const reason = (error as Error & { reason?: unknown }).reason;
  return typeof reason === 'string' && reason !== '' ? reason : (error.message.split('\n')[0] ?? '');
}
