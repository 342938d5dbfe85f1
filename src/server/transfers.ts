/**
 * The two commands that move bodies. Counting and hashing happen in
 * storage/verify.ts; here: the exchange around them, back-pressure, and
 * what each way of failing tells the client.
 */
import { BucketError } from '../errors.js';
import { DOWNLOAD_DONE, DOWNLOAD_GO_AHEAD, UPLOAD_GO_AHEAD, UPLOAD_STORED } from '../protocol/messages.js';
import { parseUploadTrailer, type Request } from '../protocol/requests.js';
import { VerifiedDownload, VerifiedUpload } from '../storage/verify.js';
import { ConnectionGone, type Exchange, type Outcome } from './exchange.js';

// Download chunks handed to the socket and not yet flushed, at most.
const DOWNLOAD_CHUNKS_IN_FLIGHT = 4;

export async function receiveUpload(request: Extract<Request, { command: 'UPLOAD_FILE' }>, exchange: Exchange): Promise<Outcome> {
  if (request.size > exchange.maxFileSize) {
    throw new BucketError('TOO_LARGE', `file is ${request.size} bytes; this server accepts at most ${exchange.maxFileSize}`, [String(exchange.maxFileSize)]);
  }
  // Refusals happen here, before the client sends a single body byte.
  const upload = new VerifiedUpload(await exchange.storage.startUpload(request.bucket, request.name, request.size), request.size);
  exchange.describe({ bucket: request.bucket, name: upload.name });
  exchange.uploads.add(upload);
  let releaseQuota: () => void;
  try {
    releaseQuota = await exchange.quotas.reserve(request.bucket, request.size);
  } catch (error) {
    exchange.uploads.delete(upload);
    await upload.abort();
    throw error;
  }
  try {
    return await receiveBody(request, upload, exchange);
  } finally {
    exchange.uploads.delete(upload);
    releaseQuota();
  }
}

async function receiveBody(request: Extract<Request, { command: 'UPLOAD_FILE' }>, upload: VerifiedUpload, exchange: Exchange): Promise<Outcome> {
  // Every way out that stores nothing removes the partial file before the
  // client is answered, so "nothing was stored" is already true when heard.
  let settled = false;
  const refuse = async (answer: () => Promise<void>): Promise<Outcome> => {
    settled = true;
    await upload.abort();
    await answer();
    return 'close';
  };
  const guard = exchange.guardRate();
  try {
    await exchange.reply(UPLOAD_GO_AHEAD, { name: upload.name, size: request.size });
    exchange.expectBody(request.size);
    for (;;) {
      const frame = await exchange.next();
      if (frame.kind === 'body') {
        try {
          await guard.paused(upload.write(frame.chunk)); // waiting on the disk is not the client's time
        } catch (error) {
          // The client is still sending: answer now and close, since the
          // rest of its body can no longer go anywhere.
          return await refuse(() => exchange.fail(error));
        }
        continue;
      }
      if (frame.kind === 'end') {
        exchange.logger.debug('upload cut short', { peer: exchange.session.peer, bucket: request.bucket, name: upload.name, received: upload.received });
        // The peer may have only half-closed: tell it why nothing was stored.
        return await refuse(() => exchange.fail(new BucketError('INCOMPLETE_BODY')).catch(() => undefined));
      }
      const sha256 = frame.kind === 'trailer' ? parseUploadTrailer(frame.line) : undefined;
      if (sha256 === undefined) return await refuse(() => exchange.fail(new BucketError('BAD_TRAILER')));
      settled = true;
      guard.stop();
      const stored = await upload.commit(sha256); // on failure, nothing was stored
      exchange.quotas.stored(request.bucket, stored.size);
      await exchange.reply(UPLOAD_STORED, { bucket: request.bucket, ...stored });
      return 'continue';
    }
  } finally {
    guard.stop();
    if (!settled) await upload.abort(); // the connection failed mid-body
  }
}

export async function sendDownload(request: Extract<Request, { command: 'DOWNLOAD_FILE' }>, exchange: Exchange): Promise<Outcome> {
  const source = await exchange.storage.openFile(request.bucket, request.name);
  const guard = exchange.guardRate();
  try {
    await exchange.reply(DOWNLOAD_GO_AHEAD, { name: source.name, size: source.size });
    const download = new VerifiedDownload(source);
    // Each chunk's buffer goes back to the server-wide pool once flushed.
    // Reading the next chunk overlaps with sending the last, up to a few
    // in flight — or one, while the pool is spent, so a stalled reader
    // pins as little as possible.
    const inFlight: Array<Promise<void>> = [];
    exchange.bodyOut(true);
    try {
      const chunks = download.chunks(exchange.buffers);
      try {
        // Reading the disk is the server's own time, not the reader's.
        for (let step = await guard.paused(chunks.next()); !step.done; step = await guard.paused(chunks.next())) {
          const chunk = step.value;
          const sent = exchange.sendBody(chunk.bytes).finally(() => chunk.release());
          sent.catch(() => undefined); // awaited below, or the connection is gone
          inFlight.push(sent);
          while (inFlight.length >= DOWNLOAD_CHUNKS_IN_FLIGHT || (inFlight.length > 0 && !exchange.buffers.available)) await inFlight.shift();
        }
      } finally {
        await chunks.return(undefined); // lets the source release what it holds
      }
      await Promise.all(inFlight);
      exchange.bodyOut(false);
    } catch (error) {
      if (error instanceof ConnectionGone) throw error;
      exchange.logger.error('read failed during download', { bucket: request.bucket, name: source.name, error: String(error) });
      await Promise.allSettled(inFlight);
      return 'close'; // The announced length can no longer be honoured.
    }
    const check = download.check();
    if (check.bytes !== source.size) {
      exchange.logger.error('file shrank during download', { bucket: request.bucket, name: source.name, sent: check.bytes, size: source.size });
      return 'close';
    }
    if (!check.intact) {
      exchange.logger.error('stored file fails its checksum', { bucket: request.bucket, name: source.name, recorded: source.recordedSha256, computed: check.sha256 });
      await exchange.fail(new BucketError('CORRUPT_FILE', undefined, [check.sha256]));
      return 'continue';
    }
    await exchange.reply(DOWNLOAD_DONE, { sha256: check.sha256 }, `sent ${source.size} bytes`);
    return 'continue';
  } finally {
    guard.stop();
    await source.close();
  }
}
