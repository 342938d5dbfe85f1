/**
 * A push decoder for the bucketd byte stream, used by both ends.
 *
 * Bytes go in with `push(chunk)`; frames come out of `next()` until it
 * returns undefined (more bytes needed). The stream is lines, except where
 * the reader, having understood a line, calls `expectBody(size)`: then
 * exactly `size` raw bytes follow as body chunks, then one trailer line
 * (or, for a body without one, the next line).
 *
 *   LINE --expectBody(n)--> BODY --n bytes--> TRAILER --line--> LINE
 *   LINE --expectBody(n, false)--> BODY --n bytes--> LINE
 *
 * Body chunks are slices of the pushed buffers, never gathered, so a body
 * of any size passes through in bounded memory. Pure: no I/O, no timers.
 */

export type Frame =
  | { kind: 'line'; line: Buffer }
  | { kind: 'body'; chunk: Buffer }
  | { kind: 'trailer'; line: Buffer }
  | { kind: 'line-too-long'; limit: number };

export type DecoderState = 'LINE' | 'BODY' | 'TRAILER' | 'FAILED';

export const DEFAULT_MAX_LINE_BYTES = 64 * 1024;

const LF = 0x0a;
const CR = 0x0d;

export class FrameDecoder {
  readonly maxLineBytes: number;
  #state: DecoderState = 'LINE';
  #chunks: Buffer[] = [];
  #headOffset = 0; // bytes of #chunks[0] already consumed
  #length = 0; // unconsumed bytes
  #scanned = 0; // unconsumed bytes known to hold no LF
  #bodyRemaining = 0;
  /** Where the body in progress leads: its trailer, or straight to the next line. */
  #afterBody: 'TRAILER' | 'LINE' = 'TRAILER';
  #consumed = 0;

  constructor(options: { maxLineBytes?: number } = {}) {
    this.maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  }

  get state(): DecoderState {
    return this.#state;
  }

  /** Unconsumed bytes held by the decoder. */
  get bufferedBytes(): number {
    return this.#length;
  }

  /** Bytes taken out as frames so far, line ends included. */
  get consumedBytes(): number {
    return this.#consumed;
  }

  /** Body bytes still to come in the BODY state. */
  get bodyRemaining(): number {
    return this.#bodyRemaining;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.#state === 'FAILED') return;
    this.#chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    this.#length += chunk.length;
  }

  /**
   * Switches to BODY after a line: the next `size` bytes are a body, then a
   * trailer line unless `trailer` is false. A zero size goes straight on.
   */
  expectBody(size: number, trailer = true): void {
    if (this.#state !== 'LINE') throw new Error(`expectBody() in state ${this.#state}`);
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid body size ${size}`);
    this.#bodyRemaining = size;
    this.#afterBody = trailer ? 'TRAILER' : 'LINE';
    this.#state = size === 0 ? this.#afterBody : 'BODY';
  }

  next(): Frame | undefined {
    switch (this.#state) {
      case 'FAILED':
        return undefined;
      case 'BODY':
        return this.#nextBodyChunk();
      case 'LINE':
      case 'TRAILER': {
        const line = this.#nextLine();
        if (line === undefined || line === 'too-long') {
          if (line === 'too-long') {
            this.#state = 'FAILED';
            this.#discardAll();
            return { kind: 'line-too-long', limit: this.maxLineBytes };
          }
          return undefined;
        }
        if (this.#state === 'TRAILER') {
          this.#state = 'LINE';
          return { kind: 'trailer', line };
        }
        return { kind: 'line', line };
      }
    }
  }

  /**
   * At end of input: a last line without its LF, if one is pending and
   * within the limit (so `printf HELLO | nc` still works); otherwise nothing.
   */
  finish(): Frame | undefined {
    if ((this.#state !== 'LINE' && this.#state !== 'TRAILER') || this.#length === 0) return undefined;
    if (this.#length > this.maxLineBytes) return undefined;
    let line = this.#take(this.#length);
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    const kind = this.#state === 'TRAILER' ? 'trailer' : 'line';
    this.#state = 'LINE';
    return { kind, line };
  }

  #nextBodyChunk(): Frame | undefined {
    if (this.#length === 0) return undefined;
    const first = this.#chunks[0]!;
    const available = first.length - this.#headOffset;
    const size = Math.min(available, this.#bodyRemaining);
    const chunk = this.#take(size);
    this.#bodyRemaining -= size;
    if (this.#bodyRemaining === 0) this.#state = this.#afterBody;
    return { kind: 'body', chunk };
  }

  #nextLine(): Buffer | 'too-long' | undefined {
    const lf = this.#findLineFeed();
    if (lf < 0) {
      // A line may be as long as the limit plus its CR LF.
      return this.#length > this.maxLineBytes + 1 ? 'too-long' : undefined;
    }
    let line = this.#take(lf + 1).subarray(0, lf);
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    if (line.length > this.maxLineBytes) return 'too-long';
    return line;
  }

  /** Position of the first LF among the unconsumed bytes, or -1. */
  #findLineFeed(): number {
    let base = 0; // position of the current chunk's first unconsumed byte
    for (let i = 0; i < this.#chunks.length; i++) {
      const chunk = this.#chunks[i]!;
      const start = i === 0 ? this.#headOffset : 0;
      const size = chunk.length - start;
      if (base + size > this.#scanned) {
        const from = start + Math.max(0, this.#scanned - base);
        const at = chunk.indexOf(LF, from);
        if (at >= 0) return base + (at - start);
      }
      base += size;
    }
    this.#scanned = this.#length;
    return -1;
  }

  /** Removes and returns the first `n` unconsumed bytes. */
  #take(n: number): Buffer {
    this.#length -= n;
    this.#consumed += n;
    this.#scanned = 0;
    const first = this.#chunks[0];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    if (first.length - this.#headOffset >= n) {
      const out = first.subarray(this.#headOffset, this.#headOffset + n);
      this.#headOffset += n;
      if (this.#headOffset === first.length) {
        this.#chunks.shift();
        this.#headOffset = 0;
      }
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    while (copied < n) {
      const chunk = this.#chunks[0]!;
      const count = Math.min(chunk.length - this.#headOffset, n - copied);
      chunk.copy(out, copied, this.#headOffset, this.#headOffset + count);
      copied += count;
      this.#headOffset += count;
      if (this.#headOffset === chunk.length) {
        this.#chunks.shift();
        this.#headOffset = 0;
      }
    }
    return out;
  }

  #discardAll(): void {
    this.#chunks = [];
    this.#headOffset = 0;
    this.#length = 0;
    this.#scanned = 0;
  }
}
