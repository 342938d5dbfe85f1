/**
 * Command handlers: a parsed request in, typed replies out through the
 * exchange. Handlers never parse bytes and never touch files except
 * through Storage.
 */
import { BUCKET_CREATED, BUCKET_DELETED, BUCKET_INFO, BUCKET_ITEM, BYE, FILE_DELETED, GRANTED, HELLO, LIST_ITEM, LOGGED_IN, LOGIN_CONTINUE } from '../protocol/messages.js';
import { checkBucketName } from '../storage/names.js';
import { listingOf, type BucketInfo, type Listing } from '../storage/storage.js';
import { MECHANISMS } from './auth/authority.js';
import type { Request } from '../protocol/requests.js';
import { assertNever } from '../util/never.js';
import { plural } from '../util/plural.js';
import { PROTOCOL_VERSION, SERVER_NAME, VERSION } from '../version.js';
import type { Exchange, Outcome } from './exchange.js';
import { abortUpload, listUploads, receiveUpload, resumeUpload, sendDownload } from './transfers.js';

export async function handleRequest(request: Request, exchange: Exchange): Promise<Outcome> {
  switch (request.command) {
    case 'HELLO':
      await exchange.reply(HELLO, { name: SERVER_NAME, version: VERSION, protocol: PROTOCOL_VERSION, login: exchange.authority.loginPolicy(), mechanisms: MECHANISMS });
      return 'continue';
    case 'LOGIN': {
      const challenge = await exchange.authority.startLogin(exchange.session, request.mechanism, request.message);
      await exchange.reply(LOGIN_CONTINUE, { message: challenge });
      return 'continue';
    }
    case 'LOGIN_PROOF': {
      const loggedIn = await exchange.authority.finishLogin(exchange.session, request.message);
      await exchange.reply(LOGGED_IN, loggedIn);
      return 'continue';
    }
    case 'BUCKET_INFO': {
      exchange.describe({ bucket: request.bucket });
      checkBucketName(request.bucket);
      const { files, bytes } = await exchange.quotas.usage(request.bucket);
      const quota = exchange.authority.store?.quota(request.bucket);
      await exchange.reply(BUCKET_INFO, { bucket: request.bucket, files, bytes, ...(quota === undefined ? {} : { quota }) });
      return 'continue';
    }
    case 'GRANT': {
      exchange.describe({ bucket: request.bucket });
      checkBucketName(request.bucket);
      await exchange.quotas.usage(request.bucket); // NO_SUCH_BUCKET for a missing one (a server admin may ask)
      await exchange.authority.grant(request.bucket, request.user, request.permission);
      await exchange.reply(GRANTED, { bucket: request.bucket, user: request.user, permission: request.permission });
      exchange.logger.info('grant changed', { peer: exchange.session.peer, by: exchange.session.user, bucket: request.bucket, user: request.user, permission: request.permission });
      return 'continue';
    }
    case 'EXIT':
      await exchange.reply(BYE, {});
      return 'close';
    case 'NEW_BUCKET': {
      exchange.describe({ bucket: request.bucket });
      const created = await exchange.storage.createBucket(request.bucket);
      await exchange.authority.created(exchange.session, created.name);
      await exchange.reply(BUCKET_CREATED, created);
      return 'continue';
    }
    case 'LIST_BUCKET': {
      // Only the buckets this session holds a grant on (all, on a server without users).
      const visible = async (): Promise<Listing<BucketInfo>> => {
        const all = await exchange.storage.listBuckets();
        const seen: BucketInfo[] = [];
        for await (const page of all.pages) seen.push(...page.filter((bucket) => exchange.authority.canSee(exchange.session, bucket.name)));
        return listingOf(seen);
      };
      await exchange.list(BUCKET_ITEM, visible, (count) => plural(count, 'bucket'));
      return 'continue';
    }
    case 'DELETE_BUCKET': {
      exchange.describe({ bucket: request.bucket });
      const { deletedFiles } = await exchange.storage.deleteBucket(request.bucket, { force: request.force });
      await exchange.staging.dropBucket(request.bucket);
      exchange.quotas.changed(request.bucket);
      await exchange.authority.deleted(request.bucket);
      await exchange.reply(BUCKET_DELETED, { bucket: request.bucket, deletedFiles });
      exchange.logger.debug('bucket deleted', { peer: exchange.session.peer, bucket: request.bucket, files: deletedFiles });
      return 'continue';
    }
    case 'LIST_FILE': {
      exchange.describe({ bucket: request.bucket });
      const options = { ...(request.prefix === undefined ? {} : { prefix: request.prefix }), ...(request.delimiter === undefined ? {} : { delimiter: request.delimiter }) };
      const what = (count: number): string => (request.delimiter === undefined ? plural(count, 'file') : plural(count, 'entry', 'entries'));
      const under = request.prefix === undefined || request.prefix === '' ? '' : ` under "${request.prefix}"`;
      await exchange.list(LIST_ITEM, () => exchange.storage.listFiles(request.bucket, options), (count) => `${what(count)} in "${request.bucket}"${under}`);
      return 'continue';
    }
    case 'DELETE_FILE': {
      exchange.describe({ bucket: request.bucket, name: request.name });
      const { name } = await exchange.storage.deleteFile(request.bucket, request.name);
      exchange.quotas.changed(request.bucket);
      await exchange.reply(FILE_DELETED, { bucket: request.bucket, name });
      return 'continue';
    }
    case 'UPLOAD_FILE':
      exchange.describe({ bucket: request.bucket, name: request.name });
      return receiveUpload(request, exchange);
    case 'DOWNLOAD_FILE':
      exchange.describe({ bucket: request.bucket, name: request.name });
      return sendDownload(request, exchange);
    case 'RESUME_UPLOAD':
      return resumeUpload(request, exchange);
    case 'LIST_UPLOADS':
      return listUploads(request, exchange);
    case 'ABORT_UPLOAD':
      return abortUpload(request, exchange);
    default:
      return assertNever(request);
  }
}
