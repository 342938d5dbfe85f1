/** Small stream helpers that never leave listeners behind. */
import type { Readable, Writable } from 'node:stream';

/**
 * Resolves on the stream's 'drain'; rejects if it errors or closes first,
 * so a writer never waits on a peer that is gone.
 */
export function drained(stream: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      stream.off('drain', onDrain);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onClose = (): void => {
      cleanup();
      reject(Object.assign(new Error('stream closed before it drained'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    if (stream.destroyed) {
      onClose();
      return;
    }
    stream.on('drain', onDrain);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}

/** Writes a chunk and waits for 'drain' only when the stream asks for it. */
export async function writeChunk(stream: Writable, chunk: Uint8Array): Promise<void> {
  if (!stream.write(chunk)) await drained(stream);
}

/**
 * Ends a writable and waits for its 'close', which for a file stream comes
 * after its descriptor was flushed and closed. Rejects if it failed.
 */
export function endAndClose(stream: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    let failure: Error | undefined;
    stream.once('error', (error) => {
      failure = error;
    });
    stream.once('close', () => (failure ? reject(failure) : stream.errored ? reject(stream.errored) : resolve()));
    stream.end();
  });
}

/** Destroys a stream and waits until it has released what it holds. */
export function destroyAndWait(stream: Writable | Readable): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('close', () => resolve());
    stream.on('error', () => undefined);
    stream.destroy();
  });
}

/**
 * Writes a body to a stream keeping up to `highWaterMark` bytes in flight:
 * a caller waits only above that, and goes on once half has been flushed,
 * rather than when the stream has emptied ('drain'), so that producing the
 * next chunk overlaps with sending the last.
 */
export class BodyWriter {
  readonly #stream: Writable;
  readonly #highWaterMark: number;
  #pending = 0;
  #failure: Error | undefined;
  #waiter: { resolve: () => void; reject: (error: Error) => void } | undefined;

  constructor(stream: Writable, highWaterMark: number) {
    this.#stream = stream;
    this.#highWaterMark = highWaterMark;
    // A destroyed stream fails the callbacks of unflushed writes, which
    // rejects a waiting caller: no 'close' listener needed.
  }

  write(chunk: Uint8Array): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#stream.destroyed) return Promise.reject(new Error('stream destroyed'));
    const length = chunk.length;
    this.#pending += length;
    this.#stream.write(chunk, (error?: Error | null) => {
      this.#pending -= length;
      if (error) this.#fail(error);
      else if (this.#waiter && this.#pending <= this.#highWaterMark / 2) {
        const waiter = this.#waiter;
        this.#waiter = undefined;
        waiter.resolve();
      }
    });
    if (this.#pending <= this.#highWaterMark) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(this.#failure);
  }
}
