/**
 * Reads frames from a socket through a FrameDecoder. Bytes are taken as
 * they arrive ('data' events, no copies) and the socket is paused while
 * more than a bounded amount waits undecoded, so TCP backpressure reaches
 * the sender and memory stays flat however fast it sends.
 */
import type { Readable } from 'node:stream';
import { FrameDecoder, type Frame } from '../protocol/decoder.js';

export type ReadResult = Frame | { kind: 'end' };

// Read ahead up to this much, so the socket keeps flowing while a frame is
// being handled; pause above it.
const READ_AHEAD_BYTES = 1024 * 1024;

export class FrameReader {
  readonly decoder: FrameDecoder;
  readonly #stream: Readable;
  #ended = false;
  #finished = false;
  #failure: Error | undefined;
  #discarding = false;
  #wake: (() => void) | undefined;

  constructor(stream: Readable, decoder: FrameDecoder = new FrameDecoder()) {
    this.decoder = decoder;
    this.#stream = stream;
    stream.on('data', (chunk: Buffer) => {
      if (this.#discarding) return;
      decoder.push(chunk);
      if (decoder.bufferedBytes > READ_AHEAD_BYTES) stream.pause();
      this.#notify();
    });
    stream.on('end', () => {
      this.#ended = true;
      this.#notify();
    });
    stream.on('error', (error: Error) => {
      this.#failure ??= error;
      this.#notify();
    });
    stream.on('close', () => {
      if (!this.#ended) this.#failure ??= Object.assign(new Error('connection closed'), { code: 'ECONNRESET' });
      this.#notify();
    });
  }

  /** The next frame, or `end` when the peer has finished sending. */
  async next(): Promise<ReadResult> {
    for (;;) {
      const frame = this.decoder.next();
      if (frame) {
        if (this.#stream.isPaused() && this.decoder.bufferedBytes <= READ_AHEAD_BYTES) this.#stream.resume();
        return frame;
      }
      if (this.#ended) {
        if (!this.#finished) {
          this.#finished = true;
          const last = this.decoder.finish();
          if (last) return last;
        }
        return { kind: 'end' };
      }
      if (this.#failure) throw this.#failure;
      if (this.#stream.isPaused()) this.#stream.resume();
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /** Reads and drops everything until the peer stops sending. Never throws. */
  async discardRest(): Promise<void> {
    this.#discarding = true;
    this.#stream.resume();
    while (!this.#ended && !this.#failure) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
