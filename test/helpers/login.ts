/** Helpers for tests that speak the login by hand or wait on the access file. */
import assert from 'node:assert/strict';
import { encodeRequest } from '../../src/protocol/requests.js';
import { ScramClient } from '../../src/protocol/scram.js';
import { RawPeer } from './raw.js';

/** The LOGIN_PROOF line answering a `130,<server-first-message> ...` challenge line. */
export function proofRequest(scram: ScramClient, challengeLine: string): Buffer {
  const serverFirst = decodeURIComponent(challengeLine.slice(4, challengeLine.indexOf(' ')));
  return encodeRequest({ command: 'LOGIN_PROOF', message: scram.finalMessage(serverFirst) });
}

/** Waits until `check` passes (the server sees access-file changes within a second). */
export async function eventually(check: () => Promise<void>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** A raw connection logged in as `user`, whose password the tests set as "<user>'s password". */
export async function logIn(port: number, user: string): Promise<RawPeer> {
  const peer = await RawPeer.connect(port);
  const scram = new ScramClient(user, `${user}'s password`);
  peer.send(encodeRequest({ command: 'LOGIN', mechanism: 'SCRAM-SHA-256', message: scram.firstMessage() }));
  peer.send(proofRequest(scram, await peer.line()));
  assert.match(await peer.line(), /^200,/);
  return peer;
}
