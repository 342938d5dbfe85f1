/** Writable sinks that check what a download delivered without keeping it. */
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';

export interface HashingSink {
  sink: Writable;
  /** Bytes received so far. */
  readonly received: number;
  /** The SHA-256 of everything received (call once, at the end). */
  digest(): string;
}

export function hashingSink(): HashingSink {
  const hash = createHash('sha256');
  let received = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      received += chunk.length;
      done();
    },
  });
  return {
    sink,
    get received() {
      return received;
    },
    digest: () => hash.digest('hex'),
  };
}
