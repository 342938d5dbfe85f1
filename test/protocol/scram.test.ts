/** SCRAM-SHA-256: RFC 7677's test vector, round trips, refusals, and parsers that only ever throw ScramError. */
import assert from 'node:assert/strict';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  decoyVerifier,
  escapeUsername,
  makeVerifier,
  parseClientFinal,
  parseClientFirst,
  parseServerFinal,
  parseServerFirst,
  ScramClient,
  ScramError,
  ScramServer,
  unescapeUsername,
  type ScramVerifier,
} from '../../src/protocol/scram.js';

// RFC 7677, section 3.
const RFC = {
  user: 'user',
  password: 'pencil',
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  salt: 'W22ZaJ0SNY7soEsUEjb6gQ==',
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

const SECRET = Buffer.alloc(32, 7);
const decoy = (user: string): ScramVerifier => decoyVerifier(SECRET, user);

function serverFor(users: Record<string, ScramVerifier>, nonce?: string): ScramServer {
  return new ScramServer((user) => (Object.hasOwn(users, user) ? users[user] : undefined), decoy, nonce);
}

function assertScramError(action: () => unknown, reason?: string): void {
  assert.throws(action, (error: unknown) => error instanceof ScramError && (reason === undefined || error.reason === reason));
}

test("RFC 7677's test vector, byte for byte, on both ends", () => {
  const verifier = makeVerifier(RFC.password, { salt: Buffer.from(RFC.salt, 'base64'), iterations: 4096 });
  const client = new ScramClient(RFC.user, RFC.password, RFC.clientNonce);
  const server = serverFor({ user: verifier }, RFC.serverNonce);
  assert.equal(client.firstMessage(), RFC.clientFirst);
  assert.equal(server.start(RFC.clientFirst), RFC.serverFirst);
  assert.equal(client.finalMessage(RFC.serverFirst), RFC.clientFinal);
  assert.deepEqual(server.finish(RFC.clientFinal), { ok: true, user: 'user', serverFinal: RFC.serverFinal });
  assert.equal(client.serverVerified, false);
  client.verifyServer(RFC.serverFinal);
  assert.equal(client.serverVerified, true);
});

test('a verifier holds salt, count and keys, never the password; 4096 iterations at least, more allowed', () => {
  const verifier = makeVerifier('correct horse');
  assert.equal(verifier.iterations, 4096);
  assert.equal(Buffer.from(verifier.salt, 'base64').length, 16);
  assert.equal(Buffer.from(verifier.storedKey, 'base64').length, 32);
  assert.equal(Buffer.from(verifier.serverKey, 'base64').length, 32);
  assert.ok(!JSON.stringify(verifier).includes('correct horse'));
  assert.notEqual(makeVerifier('correct horse').salt, verifier.salt, 'a fresh salt each time');
  assert.equal(makeVerifier('x', { iterations: 5000 }).iterations, 5000);
  assertScramError(() => makeVerifier('x', { iterations: 4095 }), 'ITERATIONS_TOO_LOW');
  assertScramError(() => makeVerifier(''), 'INVALID_PASSWORD');
  assertScramError(() => makeVerifier('bell\u0007'), 'INVALID_PASSWORD');
});

test('SASLprep: a password typed in another Unicode form is the same password', () => {
  // U+2168 ROMAN NUMERAL NINE maps to "IX"; a soft hyphen maps to nothing.
  const verifier = makeVerifier('\u2168', { salt: Buffer.from('salt') });
  assert.deepEqual(makeVerifier('I\u00adX', { salt: Buffer.from('salt') }), verifier);
  assert.ok(login('u', 'IX', { u: verifier }).ok);
});

function login(user: string, password: string, users: Record<string, ScramVerifier>): ReturnType<ScramServer['finish']> & { client: ScramClient; serverFirst: string } {
  const client = new ScramClient(user, password);
  const server = serverFor(users);
  const serverFirst = server.start(client.firstMessage());
  const outcome = server.finish(client.finalMessage(serverFirst));
  if (outcome.ok) client.verifyServer(outcome.serverFinal);
  return { ...outcome, client, serverFirst };
}

test('round trips: the right password logs in and the client verifies the server', () => {
  const users = { alice: makeVerifier('wonderland'), 'bob@example.com': makeVerifier('p,a=s s 🔑', { iterations: 4100 }) };
  const alice = login('alice', 'wonderland', users);
  assert.equal(alice.ok, true);
  assert.equal(alice.user, 'alice');
  assert.equal(alice.client.serverVerified, true);
  assert.equal(login('bob@example.com', 'p,a=s s 🔑', users).ok, true);
});

test('a wrong password fails, and names the user it was for', () => {
  const outcome = login('alice', 'wonderlan', { alice: makeVerifier('wonderland') });
  assert.deepEqual({ ok: outcome.ok, user: outcome.user }, { ok: false, user: 'alice' });
});

test('an unknown user gets a server-first message like any other, stable per name, and fails', () => {
  const users = { alice: makeVerifier('wonderland') };
  const shape = (message: string): string => message.replace(/^r=[^,]+,s=[A-Za-z0-9+/]{22}==,i=(\d+)$/, 'r=*,s=*,i=$1');
  const known = login('alice', 'x', users);
  const unknown = login('mallory', 'x', users);
  assert.equal(shape(unknown.serverFirst), shape(known.serverFirst));
  assert.equal(shape(unknown.serverFirst), 'r=*,s=*,i=4096');
  assert.deepEqual({ ok: unknown.ok, user: unknown.user }, { ok: false, user: 'mallory' });
  const salt = (message: string): string => /,s=([^,]+),/.exec(message)![1]!;
  assert.equal(salt(login('mallory', 'y', users).serverFirst), salt(unknown.serverFirst), 'the same salt on every try');
  assert.notEqual(salt(login('eve', 'y', users).serverFirst), salt(unknown.serverFirst));
  // Even the password that would match the decoy's keys cannot exist: the decoy has no password.
  assert.deepEqual(decoyVerifier(SECRET, 'mallory'), decoyVerifier(SECRET, 'mallory'));
  assert.notDeepEqual(decoyVerifier(SECRET, 'mallory'), decoyVerifier(Buffer.alloc(32, 8), 'mallory'));
});

test('the client rejects a server that does not know the verifier, or a weak iteration count', () => {
  const real = makeVerifier('secret');
  const client = new ScramClient('alice', 'secret');
  // A fake server that learned nothing: it answers with the decoy's keys.
  const fake = serverFor({ alice: { ...decoy('alice'), salt: real.salt } });
  const final = client.finalMessage(fake.start(client.firstMessage()));
  assert.equal(fake.finish(final).ok, false);
  const honest = serverFor({ alice: real }).start(new ScramClient('alice', 'secret', 'abc').firstMessage());
  const forged = new ScramClient('alice', 'secret', 'abc');
  forged.firstMessage();
  forged.finalMessage(honest);
  assertScramError(() => forged.verifyServer(`v=${randomBytes(32).toString('base64')}`), 'SERVER_SIGNATURE_MISMATCH');
  assertScramError(() => forged.verifyServer('e=invalid-proof'), 'SERVER_ERROR');
  assert.equal(forged.serverVerified, false);

  const weak = new ScramClient('alice', 'secret', 'abc');
  weak.firstMessage();
  assertScramError(() => weak.finalMessage('r=abcdef,s=c2FsdA==,i=4095'), 'ITERATIONS_TOO_LOW');
  const greedy = new ScramClient('alice', 'secret', 'abc');
  greedy.firstMessage();
  assertScramError(() => greedy.finalMessage('r=abcdef,s=c2FsdA==,i=999999999'), 'ITERATIONS_TOO_HIGH');
  const stale = new ScramClient('alice', 'secret', 'abc');
  stale.firstMessage();
  assertScramError(() => stale.finalMessage('r=abc,s=c2FsdA==,i=4096'), 'NONCE_MISMATCH');
  assertScramError(() => stale.finalMessage('r=xyzdef,s=c2FsdA==,i=4096'), 'NONCE_MISMATCH');
});

test('user names are escaped as the RFC says', () => {
  assert.equal(escapeUsername('a,b=c'), 'a=2Cb=3Dc');
  assert.equal(unescapeUsername('a=2Cb=3Dc'), 'a,b=c');
  assert.equal(unescapeUsername('=3D2C'), '=2C');
  assertScramError(() => unescapeUsername('a=b'), 'MALFORMED');
  const client = new ScramClient('we,ird=name', 'pw', 'nonce');
  assert.equal(client.firstMessage(), 'n,,n=we=2Cird=3Dname,r=nonce');
  assert.equal(parseClientFirst(client.firstMessage()).user, 'we,ird=name');
});

test('the server refuses channel binding, an authzid, mandatory extensions and broken exchanges', () => {
  const users = { alice: makeVerifier('pw') };
  assertScramError(() => serverFor(users).start('p=tls-unique,,n=alice,r=abc'), 'CHANNEL_BINDING_NOT_SUPPORTED');
  assertScramError(() => serverFor(users).start('n,a=bob,n=alice,r=abc'), 'AUTHZID_NOT_SUPPORTED');
  assertScramError(() => serverFor(users).start('n,,m=ext,n=alice,r=abc'), 'EXTENSION_NOT_SUPPORTED');
  assertScramError(() => serverFor(users).start('x,,n=alice,r=abc'), 'MALFORMED');
  assertScramError(() => serverFor(users).start('n,,n=alice'), 'MALFORMED');
  assertScramError(() => serverFor(users).start('n,,n=alice,r=a b'), 'MALFORMED');

  // "y,,": a client that could bind but was not offered it; its c= repeats "y,,".
  const server = serverFor(users, 'SERVER');
  const serverFirst = server.start('y,,n=alice,r=abc');
  const client = new ScramClient('alice', 'pw', 'abc');
  client.firstMessage();
  const final = client.finalMessage(serverFirst).replace('c=biws', `c=${Buffer.from('y,,').toString('base64')}`);
  // The proof covers c=biws, so changing it fails the proof, not the exchange.
  assert.equal(server.finish(final).ok, false);

  const mismatch = serverFor(users, 'SERVER');
  mismatch.start('y,,n=alice,r=abc');
  assertScramError(() => mismatch.finish(`c=biws,r=abcSERVER,p=${randomBytes(32).toString('base64')}`), 'CHANNEL_BINDING_MISMATCH');
  const wrongNonce = serverFor(users, 'SERVER');
  wrongNonce.start('n,,n=alice,r=abc');
  assertScramError(() => wrongNonce.finish(`c=biws,r=abcOTHER,p=${randomBytes(32).toString('base64')}`), 'NONCE_MISMATCH');
  assertScramError(() => serverFor(users).finish('c=biws,r=x,p=AAAA'), 'OUT_OF_ORDER');
  const twice = serverFor(users);
  twice.start('n,,n=alice,r=abc');
  assertScramError(() => twice.start('n,,n=alice,r=abc'), 'OUT_OF_ORDER');
});

test('y,, round trip: a client that could bind, and says so, logs in with c= repeating y,,', () => {
  const verifier = makeVerifier('pw');
  const server = serverFor({ alice: verifier }, 'S');
  const bare = 'n=alice,r=abc';
  const serverFirst = server.start(`y,,${bare}`);
  const salted = pbkdf2Sync('pw', Buffer.from(verifier.salt, 'base64'), verifier.iterations, 32, 'sha256');
  const hmac = (key: Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();
  const clientKey = hmac(salted, 'Client Key');
  const withoutProof = `c=eSws,r=abcS`;
  const signature = hmac(createHash('sha256').update(clientKey).digest(), `${bare},${serverFirst},${withoutProof}`);
  const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i]!));
  const outcome = server.finish(`${withoutProof},p=${proof.toString('base64')}`);
  assert.equal(outcome.ok, true);
});

const PARSERS: Array<[string, (text: string) => unknown]> = [
  ['parseClientFirst', parseClientFirst],
  ['parseServerFirst', parseServerFirst],
  ['parseClientFinal', parseClientFinal],
  ['parseServerFinal', parseServerFinal],
  ['new ScramClient', (text) => new ScramClient(text, text, text).firstMessage()],
  ['new ScramServer', (text) => new ScramServer(() => undefined, decoy, text)],
  ['makeVerifier', (text) => makeVerifier(text, { salt: Buffer.from('s') })],
  ['ScramServer.start', (text) => serverFor({ alice: makeVerifier('pw', { salt: Buffer.from('s') }) }).start(text)],
  [
    'ScramServer.finish',
    (text) => {
      const server = serverFor({ alice: makeVerifier('pw', { salt: Buffer.from('s') }) }, 'S');
      server.start('n,,n=alice,r=abc');
      return server.finish(text);
    },
  ],
  [
    'ScramClient.finalMessage',
    (text) => {
      const client = new ScramClient('alice', 'pw', 'abc');
      client.firstMessage();
      return client.finalMessage(text.replace(/i=\d+/, 'i=4096'));
    },
  ],
  [
    'ScramClient.verifyServer',
    (text) => {
      const client = new ScramClient('alice', 'pw', 'abc');
      client.firstMessage();
      client.finalMessage('r=abcdef,s=c2FsdA==,i=4096');
      client.verifyServer(text);
    },
  ],
];

/** Strings that look like SCRAM messages often enough to get past the first checks. */
const scramish = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc
    .array(
      fc.tuple(fc.constantFrom('n', 'y', 'p', 'a', 'r', 's', 'i', 'c', 'v', 'e', 'm', 'x', ''), fc.constantFrom('=', ''), fc.oneof(fc.constantFrom('', 'abc', 'biws', 'eSws', 'abcS', 'c2FsdA==', '4096', '0', '=2C', '=', 'AAAA'), fc.base64String({ maxLength: 48 }), fc.string({ maxLength: 10 }))),
      { maxLength: 6 },
    )
    .map((parts) => parts.map(([name, eq, value]) => `${name}${eq}${value}`).join(',')),
);

test('property: garbage to every parser is refused with a ScramError, never anything else', () => {
  for (const [name, parse] of PARSERS) {
    fc.assert(
      fc.property(scramish, (text) => {
        try {
          parse(text);
        } catch (error) {
          assert.ok(error instanceof ScramError, `${name}(${JSON.stringify(text)}) threw ${String(error)}`);
        }
      }),
      { numRuns: 300 },
    );
  }
});

test('property: any user name and password round-trip', () => {
  const name = fc.string({ minLength: 1, maxLength: 20 }).filter((text) => /^[\x21-\x7e]+$/.test(text));
  const password = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((text) => {
    try {
      makeVerifier(text, { salt: Buffer.from('s') });
      return true;
    } catch {
      return false;
    }
  });
  fc.assert(
    fc.property(name, password, (user, secret) => {
      const users = { [user]: makeVerifier(secret) };
      const outcome = login(user, secret, users);
      assert.equal(outcome.ok, true);
      assert.equal(outcome.user, user);
    }),
    { numRuns: 40 },
  );
});
