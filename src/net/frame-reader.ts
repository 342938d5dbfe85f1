/**
 * Reads frames from a socket through a FrameDecoder, pulling bytes only as
 * frames are asked for: while the reader is not asked, the socket is not
 * read, and TCP backpressure reaches the sender.
 */
import type { Readable } from 'node:stream';
import { FrameDecoder, type Frame } from '../protocol/decoder.js';

export type ReadResult = Frame | { kind: 'end' };

export class FrameReader {
  readonly decoder: FrameDecoder;
  readonly #chunks: AsyncIterator<Buffer>;
  #ended = false;

  constructor(stream: Readable, decoder: FrameDecoder = new FrameDecoder()) {
    this.decoder = decoder;
    this.#chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** The next frame, or `end` when the peer has finished sending. */
  async next(): Promise<ReadResult> {
    for (;;) {
      const frame = this.decoder.next();
      if (frame) return frame;
      if (this.#ended) return { kind: 'end' };
      const result = await this.#chunks.next();
      if (result.done) {
        this.#ended = true;
        return this.decoder.finish() ?? { kind: 'end' };
      }
      this.decoder.push(result.value);
    }
  }

  /** Reads and drops everything until the peer stops sending. Never throws. */
  async discardRest(): Promise<void> {
    try {
      while (!this.#ended) {
        const result = await this.#chunks.next();
        if (result.done) this.#ended = true;
      }
    } catch {
      this.#ended = true;
    }
  }

  /** True when no unread bytes are waiting. */
  get idle(): boolean {
    return this.decoder.bufferedBytes === 0;
  }
}
