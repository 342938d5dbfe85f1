/**
 * Who may do what. With no users, the server is open (as bucketd was
 * before logins; bucketd allows that only on loopback). With users, every
 * request is checked before dispatch against the grants of the session's
 * user, or of the anonymous user before a login:
 *
 *   read   LIST_FILE, DOWNLOAD_FILE, BUCKET_INFO
 *   write  read + UPLOAD_FILE, DELETE_FILE
 *   admin  write + DELETE_BUCKET, GRANT   (a server admin: admin everywhere)
 *   create NEW_BUCKET (a right of the user, not of a bucket)
 *
 * A logged-in user with no grant on a bucket cannot tell it from a missing
 * one (NO_SUCH_BUCKET); one with too small a grant gets FORBIDDEN with the
 * permission it lacks; before a login, AUTH_REQUIRED.
 */
import { BucketError } from '../../errors.js';
import type { LoggedIn, LoginPolicy } from '../../protocol/messages.js';
import type { Request } from '../../protocol/requests.js';
import { decoyVerifier, SCRAM_MECHANISM, ScramError, ScramServer } from '../../protocol/scram.js';
import { isValidBucketName, normalizeFileName } from '../../storage/names.js';
import type { Logger } from '../logger.js';
import type { Session } from '../session.js';
import { ANONYMOUS, isValidUserName, permits, type Permission, type UserStore } from '../users/index.js';
import { LoginThrottle } from './throttle.js';

export const MECHANISMS = [SCRAM_MECHANISM];

type Need = { bucket: string; name?: string; permission: Permission } | 'create' | 'none';

function needOf(request: Request): Need {
  switch (request.command) {
    case 'HELLO':
    case 'EXIT':
    case 'LOGIN':
    case 'LOGIN_PROOF':
    case 'LIST_BUCKET':
      return 'none';
    case 'NEW_BUCKET':
      return 'create';
    case 'DELETE_BUCKET':
      return { bucket: request.bucket, permission: 'admin' };
    case 'UPLOAD_FILE':
    case 'DELETE_FILE':
      return { bucket: request.bucket, name: request.name, permission: 'write' };
    case 'DOWNLOAD_FILE':
      return { bucket: request.bucket, name: request.name, permission: 'read' };
    case 'LIST_FILE':
    case 'BUCKET_INFO':
      return { bucket: request.bucket, permission: 'read' };
    case 'GRANT':
      return { bucket: request.bucket, permission: 'admin' };
    case 'RESUME_UPLOAD':
    case 'ABORT_UPLOAD':
    case 'LIST_UPLOADS':
      // Which bucket is known only from the upload: checked by uploadAccess().
      return 'none';
  }
}

/** The larger of two grants: a user may always do what the anonymous user may. */
function larger(a: Permission | undefined, b: Permission | undefined): Permission | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return permits(a, b) ? a : b;
}

export class Authority {
  readonly #store: UserStore | undefined;
  readonly #logger: Logger;
  readonly #throttle: LoginThrottle;
  readonly #logins = new WeakMap<Session, ScramServer>();
  /**
   * Once this server has had users, it never falls back to open: removing
   * the last user leaves only what the anonymous user was granted.
   */
  #hadUsers = false;

  constructor(store: UserStore | undefined, logger: Logger, throttle = new LoginThrottle()) {
    this.#store = store;
    this.#hadUsers = store?.hasUsers === true;
    this.#logger = logger;
    this.#throttle = throttle;
  }

  /** The users, grants and quotas, when the server has an access file. */
  get store(): UserStore | undefined {
    return this.#store;
  }

  get usersExist(): boolean {
    if (this.#store?.hasUsers) this.#hadUsers = true;
    return this.#hadUsers;
  }

  loginPolicy(): LoginPolicy {
    if (!this.usersExist) return 'none';
    return this.#store && this.#store.grantsOf(undefined).size > 0 ? 'optional' : 'required';
  }

  /** Throws the error a request gets instead of running; returns if it may run. */
  check(session: Session, request: Request): void {
    const store = this.#store;
    if (!store || !this.usersExist) return;
    const need = needOf(request);
    if (need === 'none') return;
    const user = this.#currentUser(session);
    if (need === 'create') {
      if (!isValidBucketName(request.command === 'NEW_BUCKET' ? request.bucket : '')) return; // its own error comes first
      if (user === undefined) throw new BucketError('AUTH_REQUIRED', 'log in to create buckets');
      const record = store.user(user)!;
      if (!record.admin && !record.canCreate) throw new BucketError('FORBIDDEN', `user "${user}" may not create buckets`, ['create']);
      return;
    }
    // Malformed names get their own errors from the storage, in the usual order.
    if (!isValidBucketName(need.bucket)) return;
    if (need.name !== undefined && !isValidFileName(need.name)) return;
    const held = this.#permissionOn(user, need.bucket);
    if (permits(held, need.permission)) return;
    if (user === undefined) throw new BucketError('AUTH_REQUIRED', `log in to ${describe(need.permission)} bucket "${need.bucket}"`);
    if (held === undefined) throw new BucketError('NO_SUCH_BUCKET', `no bucket "${need.bucket}"`);
    throw new BucketError('FORBIDDEN', `user "${user}" may not ${describe(need.permission)} bucket "${need.bucket}": it needs ${need.permission}`, [need.permission]);
  }

  /**
   * Whether the session may resume or abort an unfinished upload, or see
   * it in LIST_UPLOADS (`see`: false rather than an error). An upload
   * started by a user is that user's: theirs to see and abort, and to
   * resume while they may write the bucket. One started by the anonymous
   * user (or before there were users) is anyone's who may write the
   * bucket. An admin of the bucket may do anything with any. Throws
   * AUTH_REQUIRED or FORBIDDEN (detail `owner`, or `write` for an owner
   * who may no longer write).
   */
  uploadAccess(session: Session, upload: { bucket: string; owner?: string | undefined }, use: 'resume' | 'abort' | 'see'): boolean {
    if (!this.#store || !this.usersExist) return true;
    const user = this.#currentUser(session);
    const held = this.#permissionOn(user, upload.bucket);
    const mayWrite = permits(held, 'write');
    const owns = upload.owner !== undefined && upload.owner === user;
    const allowed = permits(held, 'admin') || (upload.owner === undefined ? mayWrite : owns && (use !== 'resume' || mayWrite));
    if (allowed || use === 'see') return allowed;
    if (user === undefined) throw new BucketError('AUTH_REQUIRED', `log in to ${use} this upload`);
    if (owns) throw new BucketError('FORBIDDEN', `user "${user}" may not resume this upload: it needs write on bucket "${upload.bucket}"`, ['write']);
    throw new BucketError('FORBIDDEN', `user "${user}" may not ${use} this upload: it is not theirs, and needs admin on bucket "${upload.bucket}"`, ['owner']);
  }

  /** Whether the session sees the bucket in LIST_BUCKET. */
  canSee(session: Session, bucket: string): boolean {
    if (!this.#store || !this.usersExist) return true;
    return this.#permissionOn(this.#currentUser(session), bucket) !== undefined;
  }

  /**
   * Changes a grant on a bucket (the caller holds admin on it, checked
   * before dispatch): `none` takes it back. The user must exist, or be the
   * anonymous user.
   */
  async grant(bucket: string, user: string, permission: Permission | 'none'): Promise<void> {
    const store = this.#store;
    if (!store || !this.usersExist) throw new BucketError('FORBIDDEN', 'this server has no users: everyone may do everything, and grants mean nothing', ['admin']);
    if (user !== ANONYMOUS && !isValidUserName(user)) throw new BucketError('INVALID_USER_NAME');
    if (user !== ANONYMOUS && store.user(user) === undefined) throw new BucketError('NO_SUCH_USER', `no user "${user}"`);
    if (permission === 'none') await store.revoke(user, bucket);
    else await store.grant(user, bucket, permission);
  }

  /** The session's user while its login still holds: removed or given a new password since, it is logged out. */
  #currentUser(session: Session): string | undefined {
    const user = session.user;
    if (user === undefined) return undefined;
    const record = this.#store?.user(user);
    if (record === undefined || record.scram.storedKey !== session.loginStamp) {
      session.user = undefined;
      session.loginStamp = undefined;
      throw new BucketError('AUTH_REQUIRED', 'this login is no longer valid (the user was removed or its password changed); log in again');
    }
    return user;
  }

  #permissionOn(user: string | undefined, bucket: string): Permission | undefined {
    const store = this.#store!;
    return larger(user === undefined ? undefined : store.permissionOn(user, bucket), store.grantsOf(undefined).get(bucket));
  }

  /** A bucket was created: its creator becomes its admin. */
  async created(session: Session, bucket: string): Promise<void> {
    if (!this.#store?.hasUsers || session.user === undefined) return;
    await this.#store.grant(session.user, bucket, 'admin');
  }

  /** A bucket was deleted: its grants and quota go with it (a new bucket of that name starts clean). */
  async deleted(bucket: string): Promise<void> {
    await this.#store?.forgetBucket(bucket, { withQuota: false });
  }

  /** The first step of a login: the server's challenge. */
  async startLogin(session: Session, mechanism: string, message: string): Promise<string> {
    // A new login logs the connection out until it succeeds.
    session.user = undefined;
    session.loginStamp = undefined;
    this.#logins.delete(session);
    if (mechanism !== SCRAM_MECHANISM) throw new BucketError('UNSUPPORTED_MECHANISM', `unsupported login mechanism "${mechanism}"; this server offers ${MECHANISMS.join(', ')}`);
    const store = this.#store;
    await store?.refresh(); // a user added or changed a moment ago counts now
    const secret = store?.decoySecret ?? DECOY_SECRET;
    const server = new ScramServer(
      (name) => store?.user(name)?.scram,
      (name) => decoyVerifier(secret, name),
    );
    try {
      const challenge = server.start(message);
      this.#logins.set(session, server);
      return challenge;
    } catch (error) {
      if (!(error instanceof ScramError)) throw error;
      return this.#fail(session, undefined, error.message);
    }
  }

  /** The last step: the session is logged in, or AUTH_FAILED after the throttle's delay. */
  async finishLogin(session: Session, message: string): Promise<LoggedIn> {
    const server = this.#logins.get(session);
    if (!server) throw new BucketError('LOGIN_NOT_STARTED');
    this.#logins.delete(session);
    // Attempts for one user, or from one address, take turns after failures.
    await this.#throttle.turn(session.remoteAddress, server.user);
    let outcome;
    try {
      outcome = server.finish(message);
    } catch (error) {
      if (!(error instanceof ScramError)) throw error;
      return this.#fail(session, server.user, error.message);
    }
    if (!outcome.ok) return this.#fail(session, outcome.user, outcome.knownUser ? 'wrong password' : 'no such user');
    session.user = outcome.user;
    session.loginStamp = this.#store?.user(outcome.user)?.scram.storedKey;
    this.#throttle.succeeded(outcome.user);
    this.#logger.debug('logged in', { peer: session.peer, user: outcome.user });
    return { user: outcome.user, message: outcome.serverFinal };
  }

  async #fail(session: Session, user: string | undefined, why: string): Promise<never> {
    session.user = undefined;
    session.loginStamp = undefined;
    const delayMs = this.#throttle.failed(session.remoteAddress, user);
    // The reason stays in the log: the reply is the same whatever went wrong.
    this.#logger.warn('login failed', { conn: session.id, peer: session.peer, user, reason: why, delayMs });
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    throw new BucketError('AUTH_FAILED');
  }
}

// A server with no access file still answers logins like one with users.
const DECOY_SECRET = Buffer.from('bucketd: no access file, no users');

function describe(permission: Permission): string {
  return permission === 'read' ? 'read' : permission === 'write' ? 'change' : 'administer';
}

function isValidFileName(name: string): boolean {
  try {
    normalizeFileName(name);
    return true;
  } catch {
    return false;
  }
}
