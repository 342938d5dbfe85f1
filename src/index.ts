/** The bucketd package: the client library, and the server for embedding. */
export * from './client/index.js';
export { BucketError, closesConnection, ERRORS, type AnyErrorCode, type ErrorCode } from './errors.js';
export { BucketServer, DEFAULT_HOST, DEFAULT_PORT, type ServerOptions } from './server/server.js';
export { createLogger, type LogFormat, type Logger, type LogLevel } from './server/logger.js';
export { accessLog, combineHooks } from './server/access-log.js';
export { ServerMetrics, type MetricsSource, type ServerMetricsOptions } from './server/ops/metrics.js';
export { UserStore, type UserStoreOptions } from './server/users/index.js';
export { Activity } from './server/ops/activity.js';
export { OpsHttpServer, type OpsHttpOptions, type OpsSource } from './server/ops/http.js';
export { TlsSetupError, type CertificateSummary, type TlsFiles } from './server/tls.js';
export { FsStorage, UnsafeRootError, type FsStorageOptions } from './storage/fs/fs-storage.js';
export type { CloseReason, RequestRecord, ServerHooks, Session } from './server/session.js';
export { VerifiedDownload, VerifiedUpload } from './storage/verify.js';
export type { BucketInfo, BufferLender, Chunk, DownloadSource, FileInfo, FolderInfo, Listing, ListOptions, Storage, StoredFile, UploadSink } from './storage/storage.js';
export { PROTOCOL_VERSION, VERSION } from './version.js';
