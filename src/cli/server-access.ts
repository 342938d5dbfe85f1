/**
 * The server's users, grants and quotas at start-up, and the safe default:
 * a server with no users is open to anyone who reaches it, so it listens
 * only on loopback unless told --allow-anonymous.
 */
import path from 'node:path';
import type { Logger } from '../server/logger.js';
import { UserStore } from '../server/users/index.js';
import { HIDDEN_DIR } from '../storage/fs/layout.js';
import { parseStoreLocation } from '../storage/open.js';

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

export class UnsafeListenError extends Error {}

export async function openAccess(root: string, host: string, allowAnonymous: boolean, logger: Logger): Promise<UserStore> {
  const { root: folder } = parseStoreLocation(root);
  const users = await UserStore.open(path.join(folder, HIDDEN_DIR), { onError: (error) => logger.error('the access file cannot be read; keeping the last good one', { error: error.message }) });
  if (!users.hasUsers && !isLoopback(host)) {
    if (!allowAnonymous) {
      users.close();
      throw new UnsafeListenError(
        `refusing to listen on ${host} with no users: anyone who reaches it could read and change every bucket. Add one (bucketd user add NAME), or give --allow-anonymous`,
      );
    }
    logger.warn('serving with no users on a non-loopback address: anyone who reaches it can read and change every bucket', { host });
  }
  return users;
}
