export {
  BucketClient,
  uploadIdOf,
  type AbortedUpload,
  type ConnectOptions,
  type Credentials,
  type DownloadDestination,
  type DownloadOptions,
  type DownloadStart,
  type RangedTransferResult,
  type RemoteBucket,
  type ListFilesOptions,
  type RemoteEntry,
  type RemoteFile,
  type RemoteFolder,
  type RemoteUpload,
  type ResumeOptions,
  type ResumePoint,
  type ResumeSource,
  type ServerHello,
  type TransferOptions,
  type TransferResult,
  type UploadOptions,
} from './client.js';
export { ClientError, CLIENT_ERRORS, type ClientErrorCode } from './errors.js';
export type { TlsOption } from './transport.js';
export { downloadFile, isPartialDownload, partialName, resolveDestination, uploadFile, type DownloadFileOptions, type UploadFileOptions } from './files.js';
export { DEFAULT_RETRIES, type ResumeInfo, type RetryOptions } from './retry.js';
export { FileUploadJournal, uploadJournalPath, type UploadJournal, type UploadKey, type UploadMark } from './upload-journal.js';
export { DEFAULT_HOST, DEFAULT_PORT } from '../protocol/defaults.js';
export type { GrantedPermission } from '../protocol/requests.js';
