/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677): both ends of the exchange as pure
 * state machines over strings, so the password never crosses the wire and
 * each side proves itself to the other. No channel binding: the GS2 header
 * is `n,,` (or `y,,`, a client that could bind but was not offered it).
 *
 *   C: n,,n=<user>,r=<client nonce>                      (ScramClient.firstMessage)
 *   S: r=<client nonce><server nonce>,s=<salt>,i=<count> (ScramServer.start)
 *   C: c=biws,r=<nonce>,p=<proof>                        (ScramClient.finalMessage)
 *   S: v=<server signature>                              (ScramServer.finish)
 *
 * Every parser refuses malformed input with a ScramError; none throws
 * anything else. The server stores only verifiers (salt, iteration count,
 * StoredKey, ServerKey): enough to check a proof, not to make one.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';

// SASLprep's tables are large: loaded on the first login or verifier, not
// by every process that merely can log in.
const requireModule = createRequire(import.meta.url);
let saslprepFunction: ((text: string, options?: { allowUnassigned?: boolean }) => string) | undefined;
function saslprepModule(text: string, options: { allowUnassigned?: boolean }): string {
  saslprepFunction ??= requireModule('@mongodb-js/saslprep') as (text: string, options?: { allowUnassigned?: boolean }) => string;
  return saslprepFunction(text, options);
}

export interface ScramVerifier {
  /** base64 */
  salt: string;
  iterations: number;
  /** base64 of H(ClientKey) */
  storedKey: string;
  /** base64 of HMAC(SaltedPassword, "Server Key") */
  serverKey: string;
}

export const MIN_ITERATIONS = 4096;
/** The most iterations a client computes for a server: more would let a fake server make it work for minutes. */
export const MAX_ITERATIONS = 1_000_000;
export const SCRAM_MECHANISM = 'SCRAM-SHA-256';

const KEY_BYTES = 32;
const SALT_BYTES = 16;
const NONCE_BYTES = 18;
/** Nonces and names this long are not credible; refusing them bounds the work. */
const MAX_FIELD_CHARS = 1024;

export type ScramErrorReason =
  | 'MALFORMED'
  | 'CHANNEL_BINDING_NOT_SUPPORTED'
  | 'AUTHZID_NOT_SUPPORTED'
  | 'EXTENSION_NOT_SUPPORTED'
  | 'CHANNEL_BINDING_MISMATCH'
  | 'NONCE_MISMATCH'
  | 'ITERATIONS_TOO_LOW'
  | 'ITERATIONS_TOO_HIGH'
  | 'SERVER_ERROR'
  | 'SERVER_SIGNATURE_MISMATCH'
  | 'INVALID_USERNAME'
  | 'INVALID_PASSWORD'
  | 'INVALID_NONCE'
  | 'OUT_OF_ORDER';

export class ScramError extends Error {
  readonly reason: ScramErrorReason;

  constructor(reason: ScramErrorReason, message: string) {
    super(message);
    this.name = 'ScramError';
    this.reason = reason;
  }
}

/** SASLprep (RFC 4013) as RFC 5802's Normalize(): a query string, so unassigned code points pass. */
function normalize(text: string, what: 'password' | 'username'): string {
  let prepared: string;
  try {
    prepared = saslprepModule(text, { allowUnassigned: true });
  } catch (error) {
    const reason = what === 'password' ? 'INVALID_PASSWORD' : 'INVALID_USERNAME';
    throw new ScramError(reason, `the ${what} holds characters SASLprep prohibits (${error instanceof Error ? error.message : String(error)})`);
  }
  if (prepared === '') throw new ScramError(what === 'password' ? 'INVALID_PASSWORD' : 'INVALID_USERNAME', `the ${what} is empty`);
  return prepared;
}

const hmac = (key: Buffer, data: string | Buffer): Buffer => createHmac('sha256', key).update(data).digest();
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

function saltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(normalize(password, 'password'), salt, iterations, KEY_BYTES, 'sha256');
}

function checkIterations(iterations: number): void {
  if (!Number.isSafeInteger(iterations) || iterations < MIN_ITERATIONS) {
    throw new ScramError('ITERATIONS_TOO_LOW', `the iteration count must be a whole number of at least ${MIN_ITERATIONS}`);
  }
  if (iterations > MAX_ITERATIONS) throw new ScramError('ITERATIONS_TOO_HIGH', `the iteration count may be at most ${MAX_ITERATIONS}`);
}

/** What the server keeps of a password: it checks a proof but cannot make one. */
export function makeVerifier(password: string, options: { iterations?: number; salt?: Buffer } = {}): ScramVerifier {
  const iterations = options.iterations ?? MIN_ITERATIONS;
  checkIterations(iterations);
  const salt = options.salt ?? randomBytes(SALT_BYTES);
  if (salt.length === 0) throw new ScramError('MALFORMED', 'the salt is empty');
  const salted = saltedPassword(password, salt, iterations);
  return {
    salt: salt.toString('base64'),
    iterations,
    storedKey: sha256(hmac(salted, 'Client Key')).toString('base64'),
    serverKey: hmac(salted, 'Server Key').toString('base64'),
  };
}

/**
 * A verifier for a user that does not exist, derived from the server's
 * secret: the same every time for the same name (so repeated tries cannot
 * tell it from a real one by a changing salt), and no password matches it.
 */
export function decoyVerifier(secret: Buffer, user: string, iterations: number = MIN_ITERATIONS): ScramVerifier {
  const derive = (label: string, bytes: number): string => hmac(secret, `bucketd decoy ${label}\0${user}`).subarray(0, bytes).toString('base64');
  return { salt: derive('salt', SALT_BYTES), iterations, storedKey: derive('stored key', KEY_BYTES), serverKey: derive('server key', KEY_BYTES) };
}

// ---- Message syntax -------------------------------------------------------

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// printable = %x21-2B / %x2D-7E: printable ASCII except ","
const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/;
const ITERATION_COUNT = /^[1-9][0-9]{0,15}$/;

function malformed(what: string): ScramError {
  return new ScramError('MALFORMED', `malformed SCRAM message: ${what}`);
}

function base64Of(value: string, what: string, bytes?: number): Buffer {
  if (!BASE64.test(value)) throw malformed(`${what} is not base64`);
  const decoded = Buffer.from(value, 'base64');
  if (bytes !== undefined && decoded.length !== bytes) throw malformed(`${what} is not ${bytes} bytes`);
  return decoded;
}

function checkNonce(nonce: string, what: string): string {
  if (nonce.length > MAX_FIELD_CHARS || !PRINTABLE.test(nonce)) throw malformed(`${what} is not printable ASCII without commas`);
  return nonce;
}

/** Splits `a=1,b=2` into attributes; every one must be a letter, "=", a value. */
function attributes(message: string): Array<{ name: string; value: string }> {
  if (typeof message !== 'string') throw malformed('not a string');
  if (message.length > 4 * MAX_FIELD_CHARS) throw malformed('too long');
  return message.split(',').map((part) => {
    if (!/^[A-Za-z]=/.test(part)) throw malformed(`"${part.slice(0, 20)}" is not an attribute`);
    return { name: part[0]!, value: part.slice(2) };
  });
}

/** Takes the attributes in the given order; the rest are extensions, which are ignored. */
function expect(parts: Array<{ name: string; value: string }>, names: string[], what: string): string[] {
  if (parts[0]?.name === 'm') throw new ScramError('EXTENSION_NOT_SUPPORTED', `the ${what} asks for a mandatory extension this side does not know`);
  return names.map((name, index) => {
    const part = parts[index];
    if (part?.name !== name) throw malformed(`the ${what} lacks "${name}=" in its place`);
    return part.value;
  });
}

/** RFC 5802 saslname: "," and "=" travel as "=2C" and "=3D". */
export function escapeUsername(name: string): string {
  return name.replaceAll('=', '=3D').replaceAll(',', '=2C');
}

export function unescapeUsername(saslname: string): string {
  if (/=(?!2C|3D)/.test(saslname)) throw malformed('a username has "=" not followed by 2C or 3D');
  return saslname.replaceAll('=2C', ',').replaceAll('=3D', '=');
}

function randomNonce(): string {
  return randomBytes(NONCE_BYTES).toString('base64');
}

interface ClientFirst {
  gs2Header: string;
  user: string;
  clientNonce: string;
  bare: string;
}

/** Reads a client-first message: "n,," or "y,," then n=<user>,r=<nonce>[,extensions]. */
export function parseClientFirst(message: string): ClientFirst {
  if (typeof message !== 'string') throw malformed('not a string');
  const match = /^([^,]*),([^,]*),(.*)$/s.exec(message);
  if (!match) throw malformed('the client-first message lacks its GS2 header');
  const [, flag, authzid, bare] = match as unknown as [string, string, string, string];
  if (flag.startsWith('p=')) throw new ScramError('CHANNEL_BINDING_NOT_SUPPORTED', 'this server offers no channel binding');
  if (flag !== 'n' && flag !== 'y') throw malformed('the GS2 header starts with neither "n" nor "y"');
  if (authzid !== '') {
    if (authzid.startsWith('a=')) throw new ScramError('AUTHZID_NOT_SUPPORTED', 'an authorization identity is not supported');
    throw malformed('the GS2 header has a malformed authorization identity');
  }
  const [saslname, clientNonce] = expect(attributes(bare), ['n', 'r'], 'client-first message') as [string, string];
  if (saslname === '' || saslname.length > MAX_FIELD_CHARS) throw malformed('the username is empty or too long');
  return { gs2Header: `${flag},${authzid},`, user: unescapeUsername(saslname), clientNonce: checkNonce(clientNonce, 'the client nonce'), bare };
}

interface ServerFirst {
  nonce: string;
  salt: Buffer;
  iterations: number;
}

export function parseServerFirst(message: string): ServerFirst {
  const [nonce, salt, count] = expect(attributes(message), ['r', 's', 'i'], 'server-first message') as [string, string, string];
  checkNonce(nonce, 'the nonce');
  const saltBytes = base64Of(salt, 'the salt');
  if (saltBytes.length === 0) throw malformed('the salt is empty');
  if (!ITERATION_COUNT.test(count)) throw malformed('the iteration count is not a number');
  return { nonce, salt: saltBytes, iterations: Number(count) };
}

interface ClientFinal {
  channelBinding: string;
  nonce: string;
  proof: Buffer;
  withoutProof: string;
}

export function parseClientFinal(message: string): ClientFinal {
  const parts = attributes(message);
  const [channelBinding, nonce] = expect(parts, ['c', 'r'], 'client-final message') as [string, string];
  const last = parts[parts.length - 1]!;
  if (parts.length < 3 || last.name !== 'p') throw malformed('the client-final message does not end in "p="');
  return {
    channelBinding,
    nonce,
    proof: base64Of(last.value, 'the proof', KEY_BYTES),
    withoutProof: message.slice(0, message.length - last.value.length - 3),
  };
}

/** A server-final message: the server's signature, or the error it reports. */
export function parseServerFinal(message: string): { signature: Buffer } | { error: string } {
  const parts = attributes(message);
  if (parts[0]?.name === 'e') return { error: parts[0].value };
  const [signature] = expect(parts, ['v'], 'server-final message') as [string];
  return { signature: base64Of(signature, 'the server signature', KEY_BYTES) };
}

// ---- The two ends -----------------------------------------------------------

export class ScramClient {
  readonly #user: string;
  readonly #password: string;
  readonly #nonce: string;
  #bare: string | undefined;
  #serverSignature: Buffer | undefined;
  #verified = false;

  constructor(user: string, password: string, nonce: string = randomNonce()) {
    this.#user = normalize(user, 'username');
    this.#password = password;
    this.#nonce = checkNonce(nonce, 'the client nonce');
    normalize(password, 'password');
  }

  /** True once the server's signature checked out. */
  get serverVerified(): boolean {
    return this.#verified;
  }

  firstMessage(): string {
    this.#bare = `n=${escapeUsername(this.#user)},r=${this.#nonce}`;
    return `n,,${this.#bare}`;
  }

  /** The proof, for the server's first message; throws ScramError on anything it cannot trust. */
  finalMessage(serverFirst: string): string {
    if (this.#bare === undefined || this.#serverSignature !== undefined) throw new ScramError('OUT_OF_ORDER', 'finalMessage comes once, after firstMessage');
    const { nonce, salt, iterations } = parseServerFirst(serverFirst);
    if (!nonce.startsWith(this.#nonce) || nonce.length === this.#nonce.length) {
      throw new ScramError('NONCE_MISMATCH', 'the server nonce does not extend the client nonce');
    }
    checkIterations(iterations);
    const salted = saltedPassword(this.#password, salt, iterations);
    const clientKey = hmac(salted, 'Client Key');
    const withoutProof = `c=${Buffer.from('n,,').toString('base64')},r=${nonce}`;
    const authMessage = `${this.#bare},${serverFirst},${withoutProof}`;
    const proof = xor(clientKey, hmac(sha256(clientKey), authMessage));
    this.#serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Returns if the server proved it knows the verifier; throws ScramError otherwise. */
  verifyServer(serverFinal: string): void {
    if (this.#serverSignature === undefined) throw new ScramError('OUT_OF_ORDER', 'verifyServer comes after finalMessage');
    const parsed = parseServerFinal(serverFinal);
    if ('error' in parsed) throw new ScramError('SERVER_ERROR', `the server refused: ${parsed.error}`);
    if (!timingSafeEqual(parsed.signature, this.#serverSignature)) {
      throw new ScramError('SERVER_SIGNATURE_MISMATCH', "the server's signature is wrong: it does not know this user's verifier");
    }
    this.#verified = true;
  }
}

export type ScramOutcome = { ok: true; user: string; serverFinal: string } | { ok: false; user: string | undefined; knownUser: boolean };

export class ScramServer {
  readonly #lookup: (user: string) => ScramVerifier | undefined;
  readonly #decoy: (user: string) => ScramVerifier;
  readonly #serverNonce: string;
  #state: { first: ClientFirst; serverFirst: string; verifier: ScramVerifier; known: boolean } | undefined;
  #finished = false;

  constructor(lookup: (user: string) => ScramVerifier | undefined, decoy: (user: string) => ScramVerifier, nonce: string = randomNonce()) {
    this.#lookup = lookup;
    this.#decoy = decoy;
    this.#serverNonce = checkNonce(nonce, 'the server nonce');
  }

  /** The user named in the client's first message, once start() has read it. */
  get user(): string | undefined {
    return this.#state?.first.user;
  }

  /** The server-first message; an unknown user gets one shaped like any other, from its decoy verifier. */
  start(clientFirst: string): string {
    if (this.#state !== undefined) throw new ScramError('OUT_OF_ORDER', 'start comes once');
    const first = parseClientFirst(clientFirst);
    const real = this.#lookup(first.user);
    // The decoy is made for every user, so that its cost tells nothing either.
    const decoy = this.#decoy(first.user);
    const verifier = real ?? decoy;
    const serverFirst = `r=${first.clientNonce}${this.#serverNonce},s=${verifier.salt},i=${verifier.iterations}`;
    this.#state = { first, serverFirst, verifier, known: real !== undefined };
    return serverFirst;
  }

  /**
   * Checks the client's proof. A wrong proof (or an unknown user) is
   * `{ ok: false }`; a malformed message or one that breaks the exchange
   * (wrong nonce or channel binding) is a ScramError.
   */
  finish(clientFinal: string): ScramOutcome {
    const state = this.#state;
    if (state === undefined || this.#finished) throw new ScramError('OUT_OF_ORDER', 'finish comes once, after start');
    this.#finished = true;
    const final = parseClientFinal(clientFinal);
    if (final.channelBinding !== Buffer.from(state.first.gs2Header).toString('base64')) {
      throw new ScramError('CHANNEL_BINDING_MISMATCH', 'the channel binding does not repeat the GS2 header');
    }
    if (final.nonce !== `${state.first.clientNonce}${this.#serverNonce}`) throw new ScramError('NONCE_MISMATCH', 'the nonce is not the one of this exchange');
    const authMessage = `${state.first.bare},${state.serverFirst},${final.withoutProof}`;
    // The same work for a decoy as for a real user, so timing tells nothing either.
    const storedKey = Buffer.from(state.verifier.storedKey, 'base64');
    const clientKey = xor(final.proof, hmac(storedKey, authMessage));
    const matches = storedKey.length === KEY_BYTES && timingSafeEqual(sha256(clientKey), storedKey);
    if (!matches || !state.known) return { ok: false, user: state.first.user, knownUser: state.known };
    const signature = hmac(Buffer.from(state.verifier.serverKey, 'base64'), authMessage);
    return { ok: true, user: state.first.user, serverFinal: `v=${signature.toString('base64')}` };
  }
}
