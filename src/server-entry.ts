/** `bucketd/server`: the server and its storage, for embedding. */
export { BucketError, ERRORS, type ErrorCode } from './errors.js';
export { BucketServer, DEFAULT_HOST, DEFAULT_PORT, type ServerOptions } from './server/server.js';
export { createLogger, type Logger, type LogLevel } from './server/logger.js';
export { FsStorage } from './storage/fs/fs-storage.js';
export type { BucketInfo, DownloadSource, FileInfo, Storage, StoredFile, UploadSink } from './storage/storage.js';
export { PROTOCOL_VERSION, VERSION } from './version.js';
