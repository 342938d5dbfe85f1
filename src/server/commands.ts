/**
 * Command handlers: a parsed request in, typed replies out through the
 * exchange. Handlers never parse bytes and never touch files except
 * through Storage.
 */
import { BUCKET_CREATED, BUCKET_DELETED, BUCKET_ITEM, BYE, FILE_DELETED, FILE_ITEM, HELLO } from '../protocol/messages.js';
import type { Request } from '../protocol/requests.js';
import { assertNever } from '../util/never.js';
import { plural } from '../util/plural.js';
import { PROTOCOL_VERSION, SERVER_NAME, VERSION } from '../version.js';
import type { Exchange, Outcome } from './exchange.js';
import { receiveUpload, sendDownload } from './transfers.js';

export async function handleRequest(request: Request, exchange: Exchange): Promise<Outcome> {
  switch (request.command) {
    case 'HELLO':
      await exchange.reply(HELLO, { name: SERVER_NAME, version: VERSION, protocol: PROTOCOL_VERSION });
      return 'continue';
    case 'EXIT':
      await exchange.reply(BYE, {});
      return 'close';
    case 'NEW_BUCKET': {
      exchange.describe({ bucket: request.bucket });
      await exchange.reply(BUCKET_CREATED, await exchange.storage.createBucket(request.bucket));
      return 'continue';
    }
    case 'LIST_BUCKET': {
      await exchange.list(BUCKET_ITEM, () => exchange.storage.listBuckets(), (count) => plural(count, 'bucket'));
      return 'continue';
    }
    case 'DELETE_BUCKET': {
      exchange.describe({ bucket: request.bucket });
      const { deletedFiles } = await exchange.storage.deleteBucket(request.bucket, { force: request.force });
      await exchange.reply(BUCKET_DELETED, { bucket: request.bucket, deletedFiles });
      exchange.logger.info('bucket deleted', { peer: exchange.session.peer, bucket: request.bucket, files: deletedFiles });
      return 'continue';
    }
    case 'LIST_FILE': {
      exchange.describe({ bucket: request.bucket });
      await exchange.list(FILE_ITEM, () => exchange.storage.listFiles(request.bucket), (count) => `${plural(count, 'file')} in "${request.bucket}"`);
      return 'continue';
    }
    case 'DELETE_FILE': {
      exchange.describe({ bucket: request.bucket, name: request.name });
      const { name } = await exchange.storage.deleteFile(request.bucket, request.name);
      await exchange.reply(FILE_DELETED, { bucket: request.bucket, name });
      return 'continue';
    }
    case 'UPLOAD_FILE':
      exchange.describe({ bucket: request.bucket, name: request.name });
      return receiveUpload(request, exchange);
    case 'DOWNLOAD_FILE':
      exchange.describe({ bucket: request.bucket, name: request.name });
      return sendDownload(request, exchange);
    default:
      return assertNever(request);
  }
}
