/**
 * An upload's SHA-256 computed on a worker thread (hash-worker.ts) from
 * the same shared-memory buffers the main thread reads the file into and
 * sends: hashing, most of the CPU a large upload costs, runs beside
 * reading and sending instead of between them, at no extra copy. One per
 * uploadFile call, kept across its resumes (its marks make a resume cheap).
 */
import { Worker } from 'node:worker_threads';
import type { HasherJob, HasherReply, HasherRequest } from './hash-worker.js';

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: Error) => void;
}

export class UploadHasher {
  readonly #worker: Worker;
  readonly #size: number;
  readonly #hashed = new Map<number, Waiter<void>>();
  readonly #digests: Array<Waiter<{ sha256: string; at: number }>> = [];
  #nextId = 0;
  #failure: Error | undefined;
  #stopped = false;

  constructor(path: string, size: number) {
    this.#size = size;
    // Named from the folder above: this code also runs bundled into the bucket program (dist/cli).
    this.#worker = new Worker(new URL('../client/hash-worker.js', import.meta.url), { workerData: { path, size } satisfies HasherJob });
    this.#worker.on('message', (reply: HasherReply) => {
      if (reply.kind === 'hashed') {
        const waiter = this.#hashed.get(reply.id);
        this.#hashed.delete(reply.id);
        waiter?.resolve();
      } else if (reply.kind === 'digest') {
        this.#digests.shift()?.resolve(reply);
      } else {
        this.#fail(Object.assign(new Error(reply.message), reply.code === undefined ? {} : { code: reply.code }));
      }
    });
    this.#worker.on('error', (error) => this.#fail(error));
    this.#worker.on('exit', () => this.#fail(Object.assign(new Error('hashing stopped'), { code: 'ABORT_ERR' })));
  }

  /** The bytes fed next start at `offset` (a resume): the hash goes back to there. */
  seek(offset: number): void {
    this.#post({ kind: 'seek', offset });
  }

  /**
   * Feeds the file's bytes at `offset`, which must lie in shared memory;
   * resolves once they are hashed, when their memory may be used again.
   */
  hash(bytes: Uint8Array, offset: number): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    const done = new Promise<void>((resolve, reject) => this.#hashed.set(id, { resolve, reject }));
    this.#post({ kind: 'chunk', id, offset, bytes });
    return done;
  }

  /** The whole file's SHA-256, once every byte has been fed. */
  async digest(): Promise<string> {
    if (this.#failure) throw this.#failure;
    const reply = new Promise<{ sha256: string; at: number }>((resolve, reject) => this.#digests.push({ resolve, reject }));
    this.#post({ kind: 'digest' });
    const { sha256, at } = await reply;
    if (at !== this.#size) throw new Error(`the hash covers ${at} of ${this.#size} bytes`);
    return sha256;
  }

  /** Ends the thread; whatever still waits on it fails. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    void this.#worker.terminate();
  }

  #post(request: HasherRequest): void {
    if (!this.#failure) this.#worker.postMessage(request);
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const waiter of this.#hashed.values()) waiter.reject(this.#failure);
    this.#hashed.clear();
    for (const waiter of this.#digests.splice(0)) waiter.reject(this.#failure);
  }
}
