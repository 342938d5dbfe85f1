/**
 * The one place where a backend is chosen at start-up, from where the
 * operator says the store is. Today: a folder (a path, or a file: URL).
 * A later backend adds its scheme here, and nothing else changes.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FsStorage, type FsStorageOptions } from './fs/fs-storage.js';
import type { Storage } from './storage.js';

export type StorageOptions = FsStorageOptions;

/** Where a store is and which backend serves it, as parsed from one string. */
export type StoreLocation = { backend: 'fs'; root: string };

/** The location a string names; throws UnsupportedStoreError for a scheme no backend serves. */
export function parseStoreLocation(location: string): StoreLocation {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(location)?.[1]?.toLowerCase();
  if (scheme === undefined) return { backend: 'fs', root: path.resolve(location) };
  if (scheme === 'file') return { backend: 'fs', root: fileURLToPath(location) };
  throw new UnsupportedStoreError(`no storage backend serves "${scheme}://" locations; give a folder`);
}

export class UnsupportedStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedStoreError';
  }
}

export async function openStorage(location: string, options: StorageOptions = {}): Promise<Storage> {
  const where = parseStoreLocation(location);
  switch (where.backend) {
    case 'fs':
      return FsStorage.open(where.root, options);
  }
}
