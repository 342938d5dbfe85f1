/** User names and permissions: the rules every part of the access file follows. */
import { BucketError } from '../../errors.js';

export type Permission = 'read' | 'write' | 'admin';

/** In rising order: each one allows what the ones before it do. */
export const PERMISSIONS: readonly Permission[] = ['read', 'write', 'admin'];

/** The user of a connection that has not logged in. Its grants make buckets public. */
export const ANONYMOUS = 'anonymous';

const USER_NAME = /^[A-Za-z0-9._@-]{1,64}$/;

export function isPermission(value: unknown): value is Permission {
  return typeof value === 'string' && (PERMISSIONS as readonly string[]).includes(value);
}

/** Whether holding `held` allows what `needed` does (admin > write > read). */
export function permits(held: Permission | undefined, needed: Permission): boolean {
  return held !== undefined && PERMISSIONS.indexOf(held) >= PERMISSIONS.indexOf(needed);
}

export function isValidUserName(name: string): boolean {
  return USER_NAME.test(name) && name.toLowerCase() !== ANONYMOUS;
}

/** Throws INVALID_USER_NAME unless `name` can be a user's name. */
export function checkUserName(name: string): string {
  if (!isValidUserName(name)) {
    const message = typeof name === 'string' && name.toLowerCase() === ANONYMOUS ? `"${name}" is reserved for connections that have not logged in` : undefined;
    throw new BucketError('INVALID_USER_NAME', message);
  }
  return name;
}

export function checkPermission(value: string): Permission {
  if (!isPermission(value)) throw new BucketError('BAD_FIELD', `"${value}" is not a permission: use read, write or admin`);
  return value;
}
