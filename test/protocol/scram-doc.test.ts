/**
 * The login example in docs/PROTOCOL.md (RFC 7677's exchange) is what this
 * SCRAM code and codec produce, byte for byte, given the example's nonces.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { encodeTyped, LOGGED_IN, LOGIN_CONTINUE } from '../../src/protocol/messages.js';
import { encodeRequest } from '../../src/protocol/requests.js';
import { makeVerifier, ScramClient, ScramServer } from '../../src/protocol/scram.js';
import { REPO_ROOT } from '../helpers/server.js';

test("docs/PROTOCOL.md's login example is RFC 7677's exchange, as bucketd encodes it", () => {
  const doc = readFileSync(path.join(REPO_ROOT, 'docs/PROTOCOL.md'), 'utf8');
  const example = doc.split('\n').filter((line) => line.includes('rOprNGfwEbeRWgbNEkqO') || line.includes('6rriTRBi23WpRR'));
  const verifier = makeVerifier('pencil', { salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), iterations: 4096 });
  const server = new ScramServer((user) => (user === 'user' ? verifier : undefined), () => verifier, '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0');
  const client = new ScramClient('user', 'pencil', 'rOprNGfwEbeRWgbNEkqO');
  const first = client.firstMessage();
  const challenge = server.start(first);
  const final = client.finalMessage(challenge);
  const outcome = server.finish(final);
  assert.ok(outcome.ok);
  client.verifyServer(outcome.serverFinal);
  const wire = [
    `C: ${encodeRequest({ command: 'LOGIN', mechanism: 'SCRAM-SHA-256', message: first }).toString().trimEnd()}`,
    `S: ${encodeTyped(LOGIN_CONTINUE, { message: challenge }).toString().trimEnd()}`,
    `C: ${encodeRequest({ command: 'LOGIN_PROOF', message: final }).toString().trimEnd()}`,
    `S: ${encodeTyped(LOGGED_IN, { user: outcome.user, message: outcome.serverFinal }).toString().trimEnd()}`,
  ];
  assert.deepEqual(example, wire);
});
