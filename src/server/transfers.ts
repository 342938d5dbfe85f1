/**
 * The two commands that move bodies. Counting and hashing happen in
 * storage/verify.ts; here: the exchange around them, back-pressure, and
 * what each way of failing tells the client.
 */
import { BucketError } from '../errors.js';
import { DOWNLOAD_DONE, DOWNLOAD_GO_AHEAD, RANGED_DOWNLOAD_GO_AHEAD, RESUME_GO_AHEAD, UPLOAD_ABORTED, UPLOAD_GO_AHEAD, UPLOAD_ITEM, UPLOAD_STORED, type UploadEntry } from '../protocol/messages.js';
import { parseUploadTrailer, type Request } from '../protocol/requests.js';
import { checkBucketName } from '../storage/names.js';
import { listingOf, type Listing, type StagedUpload, type StagingSink } from '../storage/storage.js';
import { VerifiedDownload, VerifiedUpload } from '../storage/verify.js';
import { plural } from '../util/plural.js';
import { ConnectionGone, type Exchange, type Outcome } from './exchange.js';

// Download chunks handed to the socket and not yet flushed, at most.
const DOWNLOAD_CHUNKS_IN_FLIGHT = 4;

export async function receiveUpload(request: Extract<Request, { command: 'UPLOAD_FILE' }>, exchange: Exchange): Promise<Outcome> {
  if (request.size > exchange.maxFileSize) {
    throw new BucketError('TOO_LARGE', `file is ${request.size} bytes; this server accepts at most ${exchange.maxFileSize}`, [String(exchange.maxFileSize)]);
  }
  const id = exchange.staging.newId();
  const release = exchange.staging.claim(id);
  try {
    // Refusals happen here, before the client sends a single body byte
    // (or, for an upload sent at once, before its body is taken).
    const staging = exchange.session.user === undefined ? { id } : { id, owner: exchange.session.user };
    const sink = await exchange.storage.startUpload(request.bucket, request.name, request.size, staging);
    const upload = new VerifiedUpload(sink, request.size);
    exchange.describe({ bucket: request.bucket, name: upload.name });
    const start: BodyStart =
      request.sha256 === undefined ? { goAhead: () => exchange.reply(UPLOAD_GO_AHEAD, { name: upload.name, size: request.size, uploadId: id }) } : { sha256: request.sha256 };
    return await feed(exchange, request.bucket, sink, upload, request.size, start);
  } finally {
    release();
  }
}

/**
 * How a body starts: after a go-ahead, ending with the trailer; or sent at
 * once with its SHA-256 on the request line (protocol 5), not kept for a
 * resume if it breaks, since the client was given no id to resume it by.
 */
type BodyStart = { goAhead: () => Promise<void> } | { sha256: string };

/**
 * The unfinished upload `id`, claimed for this connection (UPLOAD_BUSY if
 * another has it), if it is there, unexpired, and this session's to `use`;
 * else the claim is let go and the refusal thrown.
 */
async function claimStaged(exchange: Exchange, id: string, use: 'resume' | 'abort'): Promise<{ staged: StagedUpload; release: () => void }> {
  const release = exchange.staging.claim(id);
  try {
    const staged = await exchange.storage.stagedUpload(id);
    if (staged === undefined || exchange.staging.isExpired(staged)) throw new BucketError('NO_SUCH_UPLOAD');
    exchange.describe({ bucket: staged.bucket, name: staged.name });
    exchange.authority.uploadAccess(exchange.session, staged, use);
    return { staged, release };
  } catch (error) {
    release();
    throw error;
  }
}

/** RESUME_UPLOAD: the staged upload goes on from what the server holds (or the client's offset, if less). */
export async function resumeUpload(request: Extract<Request, { command: 'RESUME_UPLOAD' }>, exchange: Exchange): Promise<Outcome> {
  const { staged, release } = await claimStaged(exchange, request.id, 'resume');
  try {
    const offset = request.offset ?? staged.held;
    if (offset > staged.held) throw new BucketError('BAD_OFFSET', `the server holds ${staged.held} bytes of this upload`, [String(staged.held)]);
    // The quota first: a refusal must leave the staged bytes as they were.
    // Its whole size is reserved, so what it holds stops counting apart.
    exchange.staging.feeding(request.id, staged.bucket);
    const releaseQuota = await exchange.quotas.reserve(staged.bucket, staged.size);
    let opened;
    try {
      opened = await exchange.storage.resumeUpload(request.id, offset);
    } catch (error) {
      releaseQuota();
      throw error;
    }
    const { sink, prefix } = opened;
    let upload: VerifiedUpload;
    try {
      // Where the hash stood when the bytes stopped, if this server saw it; else read them once more.
      const snapshot = exchange.staging.takeHash(request.id, offset);
      upload = snapshot ? VerifiedUpload.fromSnapshot(sink, staged.size, snapshot) : await VerifiedUpload.resumed(sink, staged.size, offset, prefix);
    } catch (error) {
      releaseQuota();
      await sink.suspend();
      throw error;
    }
    return await feed(exchange, staged.bucket, sink, upload, staged.size - offset, { goAhead: () => exchange.reply(RESUME_GO_AHEAD, { name: staged.name, size: staged.size, uploadId: request.id, offset }) }, releaseQuota);
  } catch (error) {
    // Left as it was: it still waits for a resume (unless it is gone).
    if (!(error instanceof BucketError && error.code === 'NO_SUCH_UPLOAD')) await noteWaiting(exchange, request.id);
    throw error;
  } finally {
    release();
  }
}

async function noteWaiting(exchange: Exchange, id: string): Promise<void> {
  const staged = await exchange.storage.stagedUpload(id).catch(() => undefined);
  if (staged) exchange.staging.waiting(staged);
}

/**
 * Holds the bucket's quota for the whole upload (bytes already held
 * included), says go, and takes the body. Whatever ends it short of a
 * commit leaves the staged bytes for a resume.
 */
async function feed(exchange: Exchange, bucket: string, sink: StagingSink, upload: VerifiedUpload, bodySize: number, start: BodyStart, reserved?: () => void): Promise<Outcome> {
  exchange.staging.feeding(sink.id, bucket);
  exchange.uploads.add(upload);
  let releaseQuota: () => void = () => undefined;
  try {
    releaseQuota = reserved ?? (await exchange.quotas.reserve(bucket, upload.declaredSize));
  } catch (error) {
    exchange.uploads.delete(upload);
    await keep(exchange, sink, bucket, upload);
    throw error;
  }
  try {
    return await receiveBody(exchange, bucket, sink, upload, bodySize, start);
  } finally {
    exchange.uploads.delete(upload);
    releaseQuota();
  }
}

/**
 * Keeps what the upload holds for a resume; an upload that never got a
 * byte, or was sent at once (`resumable` false), is not worth keeping.
 */
async function keep(exchange: Exchange, sink: StagingSink, bucket: string, upload: VerifiedUpload, resumable = true): Promise<number> {
  // Nothing worth keeping, or nowhere left to keep it for (its bucket was deleted meanwhile).
  if (!resumable || upload.received === 0 || exchange.staging.isDoomed(sink.id)) {
    await upload.abort();
    exchange.staging.gone(sink.id);
    return 0;
  }
  const snapshot = upload.snapshot();
  const held = await sink.suspend();
  if (held === 0) {
    exchange.staging.gone(sink.id);
    return 0;
  }
  exchange.staging.waiting({ id: sink.id, bucket, name: sink.name, size: upload.declaredSize, held, startedAt: new Date(), updatedAt: new Date() });
  if (held === snapshot.received) exchange.staging.rememberHash(sink.id, snapshot);
  return held;
}

async function receiveBody(exchange: Exchange, bucket: string, sink: StagingSink, upload: VerifiedUpload, bodySize: number, start: BodyStart): Promise<Outcome> {
  const resumable = 'goAhead' in start;
  // Every way out that stores nothing settles the staged bytes (kept for a
  // resume, or removed) before the client is answered.
  let settled = false;
  const stop = async (answer: () => Promise<void>): Promise<Outcome> => {
    settled = true;
    await keep(exchange, sink, bucket, upload, resumable);
    await answer();
    return 'close';
  };
  const guard = exchange.guardRate();
  try {
    if (resumable) await start.goAhead();
    exchange.expectBody(bodySize);
    let sha256: string | undefined;
    // A body sent at once ends at its size (the next line is the next request); else at its trailer.
    for (let left = bodySize; sha256 === undefined; ) {
      if (!resumable && left === 0) {
        sha256 = start.sha256;
        break;
      }
      const frame = await exchange.next();
      if (frame.kind === 'body') {
        left -= frame.chunk.length;
        try {
          await guard.paused(upload.write(frame.chunk)); // waiting on the disk is not the client's time
        } catch (error) {
          // The client is still sending. After a go-ahead: answer now and
          // close, since the rest of its body can no longer go anywhere.
          if (resumable) return await stop(() => exchange.fail(error));
          // Sent at once: the rest is read and dropped, and the connection stays in step.
          settled = true;
          await keep(exchange, sink, bucket, upload, false);
          if ((await exchange.dropBody(left)) === 'close') return 'close';
          // The body is all in: the reply may wait for uploads still committing, which is not the client's time.
          guard.stop();
          await exchange.fail(error);
          return error instanceof BucketError && error.closesConnection ? 'close' : 'continue';
        }
        continue;
      }
      if (frame.kind === 'end') {
        exchange.logger.debug('upload cut short', { peer: exchange.session.peer, bucket, name: upload.name, upload: sink.id, received: upload.received });
        // The peer may have only half-closed: tell it why nothing was stored.
        const why = resumable ? `the connection ended before the declared bytes arrived; resume with RESUME_UPLOAD,${sink.id}` : 'the connection ended before the declared bytes arrived';
        return await stop(() => exchange.fail(new BucketError('INCOMPLETE_BODY', why)).catch(() => undefined));
      }
      sha256 = frame.kind === 'trailer' ? parseUploadTrailer(frame.line) : undefined;
      if (sha256 === undefined) return await stop(() => exchange.fail(new BucketError('BAD_TRAILER')));
    }
    settled = true;
    guard.stop();
    let stored;
    try {
      // Its bucket was deleted while it came (a new one of that name is not its bucket).
      if (exchange.staging.isDoomed(sink.id)) {
        await upload.abort();
        throw new BucketError('NO_SUCH_BUCKET', `bucket "${bucket}" was deleted during the upload`);
      }
      stored = await upload.commit(sha256); // on failure, nothing was stored
    } catch (error) {
      exchange.staging.gone(sink.id);
      // A store that could not write everything (a full disk) keeps what is
      // durable, for a resume; one sent at once has no one to resume it.
      if (resumable) await noteWaiting(exchange, sink.id);
      else await exchange.storage.abortUpload(sink.id).catch(() => undefined);
      throw error;
    }
    exchange.staging.gone(sink.id);
    exchange.quotas.stored(bucket, stored.size);
    await exchange.reply(UPLOAD_STORED, { bucket, ...stored });
    return 'continue';
  } finally {
    guard.stop();
    if (!settled) await keep(exchange, sink, bucket, upload, resumable).catch(() => undefined); // the connection failed mid-body
  }
}

/** LIST_UPLOADS[,<bucket>]: the unfinished uploads this session may resume or abort, oldest first. */
export async function listUploads(request: Extract<Request, { command: 'LIST_UPLOADS' }>, exchange: Exchange): Promise<Outcome> {
  if (request.bucket !== undefined) {
    exchange.describe({ bucket: request.bucket });
    checkBucketName(request.bucket);
  }
  const take = async (): Promise<Listing<UploadEntry>> => {
    const entries: UploadEntry[] = [];
    for (const upload of await exchange.storage.stagedUploads()) {
      if (request.bucket !== undefined && upload.bucket !== request.bucket) continue;
      if (exchange.staging.isExpired(upload) || exchange.staging.isDoomed(upload.id) || !exchange.authority.uploadAccess(exchange.session, upload, 'see')) continue;
      const expiresAt = exchange.staging.expiresAt(upload);
      entries.push({ id: upload.id, bucket: upload.bucket, name: upload.name, size: upload.size, held: upload.held, startedAt: upload.startedAt, ...(expiresAt === undefined ? {} : { expiresAt }) });
    }
    return listingOf(entries);
  };
  await exchange.list(UPLOAD_ITEM, take, (count) => `${plural(count, 'unfinished upload')}${request.bucket === undefined ? '' : ` in "${request.bucket}"`}`);
  return 'continue';
}

/** ABORT_UPLOAD,<id>: its staged bytes are released. */
export async function abortUpload(request: Extract<Request, { command: 'ABORT_UPLOAD' }>, exchange: Exchange): Promise<Outcome> {
  const { release } = await claimStaged(exchange, request.id, 'abort');
  try {
    const released = await exchange.storage.abortUpload(request.id);
    exchange.staging.gone(request.id);
    await exchange.reply(UPLOAD_ABORTED, { id: request.id, released });
    return 'continue';
  } finally {
    release();
  }
}

export async function sendDownload(request: Extract<Request, { command: 'DOWNLOAD_FILE' }>, exchange: Exchange): Promise<Outcome> {
  const source = await exchange.storage.openFile(request.bucket, request.name);
  const offset = request.offset ?? 0;
  const guard = exchange.guardRate();
  try {
    if (offset > source.size) throw new BucketError('BAD_OFFSET', `the file has ${source.size} bytes`, [String(source.size)]);
    if (request.offset === undefined) await exchange.reply(DOWNLOAD_GO_AHEAD, { name: source.name, size: source.size });
    else await exchange.reply(RANGED_DOWNLOAD_GO_AHEAD, { name: source.name, count: source.size - offset, offset, size: source.size, ...(source.recordedSha256 === undefined ? {} : { sha256: source.recordedSha256 }) });
    const download = new VerifiedDownload(source, offset);
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
    if (check.bytes !== source.size - offset) {
      exchange.logger.error('file shrank during download', { bucket: request.bucket, name: source.name, sent: check.bytes, size: source.size, offset });
      return 'close';
    }
    if (!check.intact) {
      exchange.logger.error('stored file fails its checksum', { bucket: request.bucket, name: source.name, recorded: source.recordedSha256, computed: check.sha256 });
      await exchange.fail(new BucketError('CORRUPT_FILE', undefined, [check.sha256]));
      return 'continue';
    }
    await exchange.reply(DOWNLOAD_DONE, { sha256: check.sha256 }, `sent ${source.size - offset} bytes`);
    return 'continue';
  } finally {
    guard.stop();
    await source.close();
  }
}
