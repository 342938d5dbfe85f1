/** Small stream helpers that never leave listeners behind. */
import type { Readable, Writable } from 'node:stream';
import type { FlowWindow } from './flow.js';

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
 * Writes a body chunk to a stream, counting it in `window` until it has
 * been flushed: resolves at once while the window is open, so producing
 * the next chunk overlaps with sending the last; rejects if a write failed.
 * `flushed` is called once the stream is done with the chunk's memory.
 */
export function writeWindowed(stream: Writable, chunk: Uint8Array, window: FlowWindow, flushed?: () => void): Promise<void> {
  if (window.failure) return Promise.reject(window.failure);
  if (stream.destroyed) return Promise.reject(new Error('stream destroyed'));
  const length = chunk.length;
  window.add(length);
  stream.write(chunk, (error?: Error | null) => {
    window.remove(length);
    flushed?.();
    if (error) window.fail(error);
  });
  return window.open ? Promise.resolve() : window.whenOpen();
}
