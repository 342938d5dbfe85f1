/**
 * Who may do what: the users, their grants and the quotas, as kept in the
 * access file (access-file.ts). Reads are synchronous, from a copy in
 * memory; every change takes the lock file, re-reads the file, applies
 * itself and writes the file whole, so `bucketd user ...` run beside a
 * server loses nothing. The server polls the file and reloads it when it
 * changed, so a change made from the command line is seen within `pollMs`.
 */
import { lstat, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { BucketError } from '../../errors.js';
import { makeVerifier, type ScramVerifier } from '../../protocol/scram.js';
import { checkBucketName } from '../../storage/names.js';
import { errnoOf } from '../../storage/fs/os-errors.js';
import {
  ACCESS_FILE,
  ACCESS_LOCK,
  AccessFileError,
  emptyDocument,
  readAccessFile,
  serializeDocument,
  statAccessFile,
  writeAccessFile,
  type AccessDocument,
  type FileSignature,
  type UserEntry,
} from './access-file.js';
import { withFileLock, type FileLockOptions } from './file-lock.js';
import { ANONYMOUS, checkPermission, checkUserName, type Permission } from './names.js';

export interface UserRecord {
  name: string;
  admin: boolean;
  canCreate: boolean;
  scram: ScramVerifier;
  grants: Record<string, Permission>;
  createdAt: string;
}

export interface UserStoreOptions {
  /** How often to look whether the file changed (default 1000 ms; 0: never, call refresh()). */
  pollMs?: number;
  /** Called after the file was reloaded because another process changed it. */
  onReload?: () => void;
  /** Called when a reload failed; the store keeps what it had. */
  onError?: (error: Error) => void;
  /** For tests: the lock's timings. */
  lock?: FileLockOptions;
}

/** The file as the store serves it: immutable, swapped whole on every change. */
interface Snapshot {
  decoySecret: Buffer;
  users: ReadonlyMap<string, UserRecord>;
  grants: ReadonlyMap<string, ReadonlyMap<string, Permission>>;
  anonymous: ReadonlyMap<string, Permission>;
  quotas: ReadonlyMap<string, number>;
}

const NO_GRANTS: ReadonlyMap<string, Permission> = new Map();

function snapshotOf(document: AccessDocument): Snapshot {
  const users = new Map<string, UserRecord>();
  const grants = new Map<string, ReadonlyMap<string, Permission>>();
  for (const entry of document.users) {
    const record: UserRecord = Object.freeze({
      name: entry.name,
      admin: entry.admin,
      canCreate: entry.canCreate,
      scram: Object.freeze({ ...entry.scram }),
      grants: Object.freeze({ ...entry.grants }),
      createdAt: entry.createdAt,
    });
    users.set(entry.name, record);
    grants.set(entry.name, new Map(Object.entries(entry.grants)));
  }
  return {
    decoySecret: Buffer.from(document.decoySecret, 'base64'),
    users,
    grants,
    anonymous: new Map(Object.entries(document.anonymous.grants)),
    quotas: new Map(Object.entries(document.quotas)),
  };
}

const noSuchUser = (name: string): BucketError => new BucketError('NO_SUCH_USER', `no user "${name}"`);

export class UserStore {
  readonly #file: string;
  readonly #lockFile: string;
  readonly #tmpDir: string;
  readonly #options: UserStoreOptions;
  #snapshot: Snapshot;
  /** The version of the file the snapshot came from; undefined while there is no file. */
  #signature: FileSignature | undefined;
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  /** Counts snapshots, so that a reload that raced with a change does not undo it. */
  #generation = 0;
  /** Changes made by this process, one at a time (the lock file serialises processes). */
  #changes: Promise<unknown> = Promise.resolve();

  private constructor(hiddenDir: string, options: UserStoreOptions, loaded: Awaited<ReturnType<typeof readAccessFile>>) {
    this.#file = path.join(hiddenDir, ACCESS_FILE);
    this.#lockFile = path.join(hiddenDir, ACCESS_LOCK);
    this.#tmpDir = path.join(hiddenDir, 'tmp');
    this.#options = options;
    // With no file yet, a secret of our own serves until the first change writes one.
    this.#snapshot = snapshotOf(loaded?.document ?? emptyDocument());
    this.#signature = loaded?.signature;
  }

  /**
   * Opens the access file in `hiddenDir` (ROOT/.bucketd), which is created
   * if missing, as is its tmp/ folder; a link in place of either, or of the
   * file, is refused. A missing file means no users. An invalid file is an
   * AccessFileError.
   */
  static async open(hiddenDir: string, options: UserStoreOptions = {}): Promise<UserStore> {
    await ensureRealFolder(hiddenDir);
    await ensureRealFolder(path.join(hiddenDir, 'tmp'));
    const store = new UserStore(hiddenDir, options, await readAccessFile(path.join(hiddenDir, ACCESS_FILE)));
    const pollMs = options.pollMs ?? 1000;
    if (pollMs > 0) {
      store.#timer = setInterval(() => void store.refresh(), pollMs);
      store.#timer.unref();
    }
    return store;
  }

  /** Stops polling. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Reloads the file if another process changed it. Never throws: failures go to onError. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#reloadIfChanged()
      .catch((error: unknown) => this.#options.onError?.(error instanceof Error ? error : new Error(String(error))))
      .finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #reloadIfChanged(): Promise<void> {
    const generation = this.#generation;
    const signature = await statAccessFile(this.#file);
    if (signature === this.#signature) return;
    const loaded = await readAccessFile(this.#file);
    // A change of our own came in meanwhile: it read the file under the lock, and is newer.
    if (generation !== this.#generation) return;
    if (loaded === undefined) {
      // Removing the file by hand does not open the server to everyone.
      throw new AccessFileError(`${this.#file} has gone; keeping the users and grants last read from it`);
    }
    if (loaded.signature === this.#signature) return;
    this.#snapshot = snapshotOf(loaded.document);
    this.#signature = loaded.signature;
    this.#generation++;
    this.#options.onReload?.();
  }

  /** The server secret for decoy verifiers (random, made once, kept in the file). */
  get decoySecret(): Buffer {
    return this.#snapshot.decoySecret;
  }

  /** At least one real user (the anonymous one does not count). */
  get hasUsers(): boolean {
    return this.#snapshot.users.size > 0;
  }

  user(name: string): UserRecord | undefined {
    return this.#snapshot.users.get(name);
  }

  listUsers(): UserRecord[] {
    return [...this.#snapshot.users.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Grants of a user, or of the anonymous user for undefined / 'anonymous'; none for an unknown user. */
  grantsOf(name: string | undefined): ReadonlyMap<string, Permission> {
    if (name === undefined || name === ANONYMOUS) return this.#snapshot.anonymous;
    return this.#snapshot.grants.get(name) ?? NO_GRANTS;
  }

  /** What `name` (undefined: anonymous) may do with `bucket`: a server admin may do everything. */
  permissionOn(name: string | undefined, bucket: string): Permission | undefined {
    if (name !== undefined && this.#snapshot.users.get(name)?.admin) return 'admin';
    return this.grantsOf(name).get(bucket);
  }

  /** The bucket's quota in bytes, if it has one. */
  quota(bucket: string): number | undefined {
    return this.#snapshot.quotas.get(bucket);
  }

  /** Every quota, by bucket. */
  quotas(): ReadonlyMap<string, number> {
    return this.#snapshot.quotas;
  }

  /** USER_EXISTS if taken, INVALID_USER_NAME for a bad name; an unacceptable password is a ScramError. */
  async addUser(name: string, password: string, options: { admin?: boolean; canCreate?: boolean } = {}): Promise<void> {
    checkUserName(name);
    const scram = makeVerifier(password);
    await this.#change((document) => {
      if (document.users.some((user) => user.name === name)) throw new BucketError('USER_EXISTS', `user "${name}" already exists`);
      document.users.push({ name, admin: options.admin ?? false, canCreate: options.canCreate ?? true, createdAt: new Date().toISOString(), scram, grants: {} });
      return true;
    });
  }

  async setPassword(name: string, password: string): Promise<void> {
    checkUserName(name);
    const scram = makeVerifier(password);
    await this.#change((document) => {
      userIn(document, name).scram = scram;
      return true;
    });
  }

  /** Changes a user's server-wide rights. */
  async setRights(name: string, rights: { admin?: boolean; canCreate?: boolean }): Promise<void> {
    checkUserName(name);
    await this.#change((document) => {
      const user = userIn(document, name);
      if (rights.admin !== undefined) user.admin = rights.admin;
      if (rights.canCreate !== undefined) user.canCreate = rights.canCreate;
      return true;
    });
  }

  async removeUser(name: string): Promise<void> {
    checkUserName(name);
    await this.#change((document) => {
      const before = document.users.length;
      document.users = document.users.filter((user) => user.name !== name);
      if (document.users.length === before) throw noSuchUser(name);
      return true;
    });
  }

  /** Gives `name` (a user, or 'anonymous') `permission` on `bucket`, in place of what it had there. */
  async grant(name: string, bucket: string, permission: Permission): Promise<void> {
    checkBucketName(bucket);
    checkPermission(permission);
    if (name !== ANONYMOUS) checkUserName(name);
    await this.#change((document) => {
      grantsIn(document, name)[bucket] = permission;
      return true;
    });
  }

  /** Takes back `name`'s grant on `bucket`; resolves to false if there was none. */
  async revoke(name: string, bucket: string): Promise<boolean> {
    checkBucketName(bucket);
    if (name !== ANONYMOUS) checkUserName(name);
    let revoked = false;
    await this.#change((document) => {
      const grants = grantsIn(document, name);
      revoked = Object.hasOwn(grants, bucket);
      delete grants[bucket];
      return revoked;
    });
    return revoked;
  }

  /** Sets the bucket's quota in bytes; undefined removes it. */
  async setQuota(bucket: string, bytes: number | undefined): Promise<void> {
    checkBucketName(bucket);
    if (bytes !== undefined && !(Number.isSafeInteger(bytes) && bytes >= 0)) throw new BucketError('BAD_FIELD', 'a quota is a whole number of bytes');
    await this.#change((document) => {
      const had = document.quotas[bucket];
      if (bytes === undefined) delete document.quotas[bucket];
      else document.quotas[bucket] = bytes;
      return had !== bytes;
    });
  }

  /**
   * A bucket was deleted: every grant on it goes (a new bucket of that name
   * starts clean). Its quota, an operator's setting, stays unless
   * `withQuota`. Writes nothing if none of it mentions the bucket.
   */
  async forgetBucket(bucket: string, options: { withQuota?: boolean } = {}): Promise<void> {
    const withQuota = options.withQuota !== false;
    await this.#change((document) => {
      let changed = (withQuota && Object.hasOwn(document.quotas, bucket)) || Object.hasOwn(document.anonymous.grants, bucket);
      if (withQuota) delete document.quotas[bucket];
      delete document.anonymous.grants[bucket];
      for (const user of document.users) {
        if (!Object.hasOwn(user.grants, bucket)) continue;
        changed = true;
        delete user.grants[bucket];
      }
      return changed;
    });
  }

  /**
   * One change: under the lock, read the file as it is now, apply `apply`
   * (which says whether it changed anything, or throws), write it back.
   * Either way the snapshot becomes what the file holds.
   */
  #change(apply: (document: AccessDocument) => boolean): Promise<void> {
    const run = this.#changes.then(() =>
      withFileLock(
        this.#lockFile,
        async () => {
          const current = await readAccessFile(this.#file);
          const document = current?.document ?? emptyDocument(this.#snapshot.decoySecret);
          if (apply(document)) {
            this.#signature = await writeAccessFile(this.#file, this.#tmpDir, serializeDocument(document));
          } else {
            this.#signature = current?.signature;
          }
          this.#snapshot = snapshotOf(document);
          this.#generation++;
        },
        this.#options.lock,
      ),
    );
    this.#changes = run.catch(() => undefined);
    return run;
  }
}

function userIn(document: AccessDocument, name: string): UserEntry {
  const user = document.users.find((entry) => entry.name === name);
  if (!user) throw noSuchUser(name);
  return user;
}

function grantsIn(document: AccessDocument, name: string): Record<string, Permission> {
  return name === ANONYMOUS ? document.anonymous.grants : userIn(document, name).grants;
}

/** Makes `dir` if absent; refuses a symbolic link or a file in its place. */
async function ensureRealFolder(dir: string): Promise<void> {
  const stats = await lstat(dir).catch((error: unknown) => {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw error;
  });
  if (stats === undefined) {
    await mkdir(dir, { mode: 0o700 }).catch((error: unknown) => {
      if (errnoOf(error) !== 'EEXIST') throw error;
    });
    return ensureRealFolder(dir);
  }
  if (stats.isSymbolicLink()) throw new AccessFileError(`${dir} is a symbolic link; bucketd never follows links in its bookkeeping folder. Remove it (and check who put it there)`);
  if (!stats.isDirectory()) throw new AccessFileError(`${dir} is not a folder; remove it`);
}
