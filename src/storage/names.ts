/**
 * The naming rules, shared by every backend. Bucket names follow S3's rules
 * so that buckets map one-to-one onto an S3-compatible store; file names are
 * folders and a name joined by "/", as S3 keys are, each segment any UTF-8
 * that is safe as one path component on every common filesystem.
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
/** The most bytes of one segment (a folder's or the file's own name). */
export const MAX_FILE_NAME_BYTES = 255;
/** The most bytes of a whole name, folders included. */
export const MAX_FILE_PATH_BYTES = 1024;
/** Separates folders in a file name, as in an S3 key. */
export const FOLDER_SEPARATOR = '/';

/**
 * Returns the file name normalised to NFC (so that the same name typed on
 * macOS and on Linux is the same file), or throws INVALID_FILE_NAME. A
 * name is segments joined by "/" (`2026/trip/img.jpg`): each 1-255 bytes,
 * without control characters, not "." or ".."; at most 1024 bytes in all.
 */
export function normalizeFileName(name: string): string {
  const normalized = name.normalize('NFC');
  if (!isNormalName(normalized)) throw new BucketError('INVALID_FILE_NAME');
  return normalized;
}

/** Whether `name` is a valid file name exactly as it is (already NFC). */
export function isNormalName(name: string): boolean {
  const bytes = Buffer.byteLength(name, 'utf8');
  return (
    bytes >= 1 &&
    bytes <= MAX_FILE_PATH_BYTES &&
    name.normalize('NFC') === name &&
    !CONTROL.test(name) &&
    // Lone surrogates cannot be stored as UTF-8 without loss.
    Buffer.from(name, 'utf8').toString('utf8') === name &&
    name.split(FOLDER_SEPARATOR).every(isSegment)
  );
}

/** One segment of a name: what a single folder or file on disk may be called. */
export function isNormalSegment(segment: string): boolean {
  // Printable ASCII is NFC and valid UTF-8 already: the common case, checked cheaply (listings check every entry).
  if (PRINTABLE_ASCII.test(segment)) return segment !== '.' && segment !== '..';
  return !segment.includes(FOLDER_SEPARATOR) && isNormalName(segment);
}

const PRINTABLE_ASCII = /^[\u0020-\u002e\u0030-\u007e]{1,255}$/;

function isSegment(segment: string): boolean {
  const bytes = Buffer.byteLength(segment, 'utf8');
  return bytes >= 1 && bytes <= MAX_FILE_NAME_BYTES && segment !== '.' && segment !== '..';
}

/**
 * A listing's prefix, normalised to NFC like the names it is matched
 * against; throws BAD_FIELD for one no name could start with.
 */
export function normalizePrefix(prefix: string): string {
  const normalized = prefix.normalize('NFC');
  if (Buffer.byteLength(normalized, 'utf8') > MAX_FILE_PATH_BYTES || CONTROL.test(normalized)) {
    throw new BucketError('BAD_FIELD', 'a listing prefix is at most 1024 bytes of UTF-8 without control characters');
  }
  return normalized;
}
