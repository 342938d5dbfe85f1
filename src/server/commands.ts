/**
 * Command handlers: a parsed request in, replies out through the exchange.
 * Handlers never parse bytes and never touch files except through Storage.
 */
import { createHash } from 'node:crypto';
import { BucketError } from '../errors.js';
import type { ReadResult } from '../net/frame-reader.js';
import { encodeErrorReply, encodeItem, encodeReply, STATUS } from '../protocol/replies.js';
import { parseUploadTrailer, type Request } from '../protocol/requests.js';
import type { Storage } from '../storage/storage.js';
import { PROTOCOL_VERSION, SERVER_NAME, VERSION } from '../version.js';
import { plural } from '../util/plural.js';
import type { Logger } from './logger.js';

/** What a handler may do with its connection. */
export interface Exchange {
  readonly storage: Storage;
  readonly logger: Logger;
  readonly maxFileSize: number;
  readonly peer: string;
  send(data: Buffer): Promise<void>;
  /**
   * Hands body bytes to the socket without waiting; resolves once they are
   * flushed, after which the caller may reuse the buffer.
   */
  sendBody(data: Buffer): Promise<void>;
  next(): Promise<ReadResult>;
  expectBody(size: number): void;
}

// Downloads read and send in chunks of this size, from a ring of buffers.
const DOWNLOAD_CHUNK_BYTES = 1024 * 1024;
const DOWNLOAD_RING_SIZE = 4;

/** After a command: keep serving, or close (after the reply was sent). */
export type Outcome = 'continue' | 'close';

// Item lines are sent in batches of about this size, not one write each.
const LIST_BATCH_BYTES = 64 * 1024;

export async function handleRequest(request: Request, exchange: Exchange): Promise<Outcome> {
  switch (request.command) {
    case 'HELLO':
      await exchange.send(
        encodeReply(STATUS.OK, [SERVER_NAME, VERSION, String(PROTOCOL_VERSION)], `hello from ${SERVER_NAME} ${VERSION} (protocol ${PROTOCOL_VERSION})`),
      );
      return 'continue';
    case 'EXIT':
      await exchange.send(encodeReply(STATUS.BYE, [], 'goodbye'));
      return 'close';
    case 'NEW_BUCKET': {
      const bucket = await exchange.storage.createBucket(request.bucket);
      await exchange.send(encodeReply(STATUS.CREATED, [bucket.name, bucket.createdAt.toISOString()], `bucket "${bucket.name}" created`));
      return 'continue';
    }
    case 'LIST_BUCKET': {
      const buckets = await exchange.storage.listBuckets();
      const items = buckets.map((bucket) => [bucket.name, bucket.createdAt.toISOString()]);
      await sendList(exchange, items, plural(items.length, 'bucket'));
      return 'continue';
    }
    case 'DELETE_BUCKET': {
      const { deletedFiles } = await exchange.storage.deleteBucket(request.bucket, { force: request.force });
      const files = deletedFiles > 0 ? ` with ${plural(deletedFiles, 'file')}` : '';
      await exchange.send(encodeReply(STATUS.OK, [request.bucket, String(deletedFiles)], `bucket "${request.bucket}" deleted${files}`));
      exchange.logger.info('bucket deleted', { peer: exchange.peer, bucket: request.bucket, files: deletedFiles });
      return 'continue';
    }
    case 'LIST_FILE': {
      const files = await exchange.storage.listFiles(request.bucket);
      const items = files.map((file) => [file.name, String(file.size), file.modifiedAt.toISOString(), file.sha256 ?? '']);
      await sendList(exchange, items, `${plural(items.length, 'file')} in "${request.bucket}"`);
      return 'continue';
    }
    case 'DELETE_FILE': {
      const { name } = await exchange.storage.deleteFile(request.bucket, request.name);
      await exchange.send(encodeReply(STATUS.OK, [request.bucket, name], `file "${name}" deleted`));
      return 'continue';
    }
    case 'UPLOAD_FILE':
      return receiveUpload(request, exchange);
    case 'DOWNLOAD_FILE':
      return sendDownload(request, exchange);
  }
}

async function sendList(exchange: Exchange, items: string[][], message: string): Promise<void> {
  let batch: Buffer[] = [encodeReply(STATUS.OK, [String(items.length)], message)];
  let batchBytes = 0;
  for (const item of items) {
    const line = encodeItem(item);
    batch.push(line);
    batchBytes += line.length;
    if (batchBytes >= LIST_BATCH_BYTES) {
      await exchange.send(Buffer.concat(batch));
      batch = [];
      batchBytes = 0;
    }
  }
  if (batch.length > 0) await exchange.send(Buffer.concat(batch));
}

async function receiveUpload(request: Extract<Request, { command: 'UPLOAD_FILE' }>, exchange: Exchange): Promise<Outcome> {
  if (request.size > exchange.maxFileSize) {
    throw new BucketError('TOO_LARGE', `file is ${request.size} bytes; this server accepts at most ${exchange.maxFileSize}`, [String(exchange.maxFileSize)]);
  }
  // Refusals happen here, before the client sends a single body byte.
  const sink = await exchange.storage.startUpload(request.bucket, request.name, request.size);
  // Every way out that stores nothing removes the partial file before the
  // client is answered, so "nothing was stored" is already true when heard.
  let settled = false;
  const refuse = async (reply: () => Promise<void>): Promise<Outcome> => {
    settled = true;
    await sink.abort();
    await reply();
    return 'close';
  };
  try {
    await exchange.send(encodeReply(STATUS.GO_AHEAD, [sink.name, String(request.size)], `send ${request.size} bytes, then the SHA256 trailer`));
    exchange.expectBody(request.size);
    for (;;) {
      const frame = await exchange.next();
      if (frame.kind === 'body') {
        try {
          await sink.write(frame.chunk);
        } catch (error) {
          // The client is still sending: answer now and close, since the
          // rest of its body can no longer go anywhere.
          return await refuse(() => sendError(exchange, error));
        }
        continue;
      }
      if (frame.kind === 'end') {
        exchange.logger.warn('upload cut short', { peer: exchange.peer, bucket: request.bucket, name: sink.name });
        // The peer may have only half-closed: tell it why nothing was stored.
        return await refuse(() => exchange.send(encodeErrorReply('INCOMPLETE_BODY')).catch(() => undefined));
      }
      const sha256 = frame.kind === 'trailer' ? parseUploadTrailer(frame.line) : undefined;
      if (sha256 === undefined) return await refuse(() => exchange.send(encodeErrorReply('BAD_TRAILER')));
      settled = true;
      const stored = await sink.commit(sha256); // on failure, commit has removed the file
      await exchange.send(
        encodeReply(STATUS.CREATED, [request.bucket, stored.name, String(stored.size), stored.sha256], `stored "${stored.name}" (${stored.size} bytes)`),
      );
      exchange.logger.info('file stored', { peer: exchange.peer, bucket: request.bucket, name: stored.name, size: stored.size });
      return 'continue';
    }
  } finally {
    if (!settled) await sink.abort(); // the connection failed mid-body
  }
}

async function sendDownload(request: Extract<Request, { command: 'DOWNLOAD_FILE' }>, exchange: Exchange): Promise<Outcome> {
  const source = await exchange.storage.openFile(request.bucket, request.name);
  try {
    await exchange.send(encodeReply(STATUS.GO_AHEAD, [source.name, String(source.size)], `sending ${source.size} bytes, then a status line`));
    const hash = createHash('sha256');
    // A ring of buffers, each reused once its last write has been flushed:
    // reading the next chunk overlaps with sending the last, and a download
    // of any size allocates nothing more.
    const ring = Array.from({ length: DOWNLOAD_RING_SIZE }, () => Buffer.allocUnsafeSlow(DOWNLOAD_CHUNK_BYTES));
    const flushed: Array<Promise<void> | undefined> = [];
    let sent = 0;
    try {
      for (let turn = 0; sent < source.size; turn++) {
        const slot = turn % DOWNLOAD_RING_SIZE;
        await flushed[slot];
        const buffer = ring[slot]!;
        let count: number;
        try {
          count = await source.read(buffer, sent);
        } catch (error) {
          exchange.logger.error('read failed during download', { bucket: request.bucket, name: source.name, error: String(error) });
          return 'close'; // The announced length can no longer be honoured.
        }
        if (count === 0) break;
        const piece = buffer.subarray(0, count);
        hash.update(piece);
        sent += count;
        const written = exchange.sendBody(piece);
        written.catch(() => undefined); // awaited later, or the connection is gone
        flushed[slot] = written;
      }
      await Promise.all(flushed);
    } catch (error) {
      throw error instanceof ConnectionGone ? error : new ConnectionGone(String(error));
    }
    if (sent !== source.size) {
      exchange.logger.error('file shrank during download', { bucket: request.bucket, name: source.name, sent, size: source.size });
      return 'close';
    }
    const sha256 = hash.digest('hex');
    if (source.recordedSha256 !== undefined && source.recordedSha256 !== sha256) {
      exchange.logger.error('stored file fails its checksum', { bucket: request.bucket, name: source.name, recorded: source.recordedSha256, computed: sha256, sent });
      await exchange.send(encodeErrorReply('CORRUPT_FILE', undefined, [sha256]));
      return 'continue';
    }
    await exchange.send(encodeReply(STATUS.OK, [sha256], `sent ${source.size} bytes`));
    return 'continue';
  } finally {
    await source.close();
  }
}

/** Errors of the connection itself, which end it rather than get a reply. */
export class ConnectionGone extends Error {}

/** Sends the reply for a handler's failure: its code, or INTERNAL. */
export async function sendError(exchange: Exchange, error: unknown): Promise<void> {
  if (error instanceof BucketError) {
    await exchange.send(encodeErrorReply(error.code, error.message, error.details));
    return;
  }
  exchange.logger.error('unexpected error', { peer: exchange.peer, error: error instanceof Error ? error.message : String(error) });
  if (error instanceof Error && error.stack) exchange.logger.debug('stack', { stack: error.stack });
  await exchange.send(encodeErrorReply('INTERNAL'));
}
