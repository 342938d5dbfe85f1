/**
 * The naming rules, shared by every backend. Bucket names follow S3's rules
 * so that buckets map one-to-one onto an S3-compatible store; file names are
 * any UTF-8 that is safe as one path component on every common filesystem.
 */
import { BucketError } from '../errors.js';

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IP_ADDRESS = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

export function isValidBucketName(name: string): boolean {
  return BUCKET_NAME.test(name) && !name.includes('..') && !IP_ADDRESS.test(name);
}

/** Throws INVALID_BUCKET_NAME unless `name` is a valid bucket name. */
export function checkBucketName(name: string): string {
  if (!isValidBucketName(name)) throw new BucketError('INVALID_BUCKET_NAME');
  return name;
}

// C0 controls, DEL and C1 controls.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
export const MAX_FILE_NAME_BYTES = 255;

/**
 * Returns the file name normalised to NFC (so that the same name typed on
 * macOS and on Linux is the same file), or throws INVALID_FILE_NAME.
 */
export function normalizeFileName(name: string): string {
  const normalized = name.normalize('NFC');
  const bytes = Buffer.byteLength(normalized, 'utf8');
  if (
    bytes < 1 ||
    bytes > MAX_FILE_NAME_BYTES ||
    normalized.includes('/') ||
    CONTROL.test(normalized) ||
    normalized === '.' ||
    normalized === '..' ||
    // Lone surrogates cannot be stored as UTF-8 without loss.
    Buffer.from(normalized, 'utf8').toString('utf8') !== normalized
  ) {
    throw new BucketError('INVALID_FILE_NAME');
  }
  return normalized;
}
