/** Helpers for tests that speak the login by hand or wait on the access file. */
import { encodeRequest } from '../../src/protocol/requests.js';
import type { ScramClient } from '../../src/protocol/scram.js';

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
