/**
 * Reads frames from a socket through a FrameDecoder. Bytes are taken as
 * they arrive ('data' events, no copies) and the socket is paused while
 * more than a bounded amount waits undecoded, so TCP backpressure reaches
 * the sender and memory stays flat however fast it sends. With a shared
 * budget (a FlowWindow for a whole server), a connection holding more than
 * a line's worth also pauses while the budget is spent, so many fast
 * senders together stay within it too.
 */
import type { Readable } from 'node:stream';
import { FrameDecoder, type Frame } from '../protocol/decoder.js';
import type { FlowWindow } from '../util/flow.js';

export type ReadResult = Frame | { kind: 'end' };

// Read ahead up to this much, so the socket keeps flowing while a frame is
// being handled; pause above it.
const READ_AHEAD_BYTES = 1024 * 1024;

export interface FrameReaderOptions {
  /** A budget shared with other readers; each may always hold `floorBytes`. */
  budget?: FlowWindow;
  /** Held regardless of the budget, so a request line can always complete (default 72 KiB). */
  floorBytes?: number;
}

export class FrameReader {
  readonly decoder: FrameDecoder;
  readonly #stream: Readable;
  readonly #budget: FlowWindow | undefined;
  readonly #floor: number;
  #accounted = 0; // bytes counted in the budget: what the decoder holds
  #waitingForBudget = false;
  #ended = false;
  #finished = false;
  #failure: Error | undefined;
  #discarding = false;
  #wake: (() => void) | undefined;

  constructor(stream: Readable, decoder: FrameDecoder = new FrameDecoder(), options: FrameReaderOptions = {}) {
    this.decoder = decoder;
    this.#stream = stream;
    this.#budget = options.budget;
    this.#floor = options.floorBytes ?? 72 * 1024;
    stream.on('data', (chunk: Buffer) => {
      if (this.#discarding) return;
      decoder.push(chunk);
      this.#account();
      if (this.#mustPause()) this.#pause();
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
      this.#release();
      this.#notify();
    });
  }

  /** The next frame, or `end` when the peer has finished sending. */
  async next(): Promise<ReadResult> {
    for (;;) {
      const frame = this.decoder.next();
      if (frame) {
        this.#account();
        if (this.#stream.isPaused() && !this.#mustPause()) this.#resume();
        return frame;
      }
      if (this.#ended) {
        if (!this.#finished) {
          this.#finished = true;
          const last = this.decoder.finish();
          this.#account();
          if (last) return last;
        }
        return { kind: 'end' };
      }
      if (this.#failure) throw this.#failure;
      // Nothing whole to hand out: more bytes are needed whatever the budget.
      if (this.#stream.isPaused() && this.decoder.bufferedBytes <= READ_AHEAD_BYTES) this.#resume();
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /** Reads and drops everything until the peer stops sending. Never throws. */
  async discardRest(): Promise<void> {
    this.#discarding = true;
    this.#release();
    this.#stream.resume();
    while (!this.#ended && !this.#failure) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #mustPause(): boolean {
    const held = this.decoder.bufferedBytes;
    if (held > READ_AHEAD_BYTES) return true;
    if (this.#budget === undefined || this.#budget.open) return false;
    // With the budget spent, a body waits for its handler to take what is
    // held (it asks for more when it runs dry); a line may still complete.
    return this.decoder.state === 'BODY' ? held > 0 : held > this.#floor;
  }

  #pause(): void {
    this.#stream.pause();
    const budget = this.#budget;
    if (!budget || this.#waitingForBudget || budget.open) return;
    this.#waitingForBudget = true;
    budget.whenOpen().then(
      () => {
        this.#waitingForBudget = false;
        if (!this.#discarding && this.#stream.isPaused() && !this.#mustPause()) this.#resume();
        else if (this.#stream.isPaused() && !this.#discarding) this.#pause();
      },
      () => {
        this.#waitingForBudget = false;
      },
    );
  }

  #resume(): void {
    if (!this.#stream.destroyed) this.#stream.resume();
  }

  /** Keeps the budget's count equal to what the decoder holds. */
  #account(): void {
    if (!this.#budget) return;
    const held = this.#discarding ? 0 : this.decoder.bufferedBytes;
    const delta = held - this.#accounted;
    if (delta > 0) this.#budget.add(delta);
    else if (delta < 0) this.#budget.remove(-delta);
    this.#accounted = held;
  }

  #release(): void {
    if (this.#budget && this.#accounted > 0) this.#budget.remove(this.#accounted);
    this.#accounted = 0;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
