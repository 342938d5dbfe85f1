/** Users, grants and quotas, kept in ROOT/.bucketd/access.json. */
export { ACCESS_FILE, ACCESS_LOCK, AccessFileError } from './access-file.js';
export { LockTimeoutError } from './file-lock.js';
export { ANONYMOUS, checkUserName, isPermission, isValidUserName, PERMISSIONS, permits, type Permission } from './names.js';
export { UserStore, type UserRecord, type UserStoreOptions } from './user-store.js';
