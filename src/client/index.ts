export { BucketClient, type ConnectOptions, type Credentials, type RemoteBucket, type ListFilesOptions, type RemoteEntry, type RemoteFile, type RemoteFolder, type ServerHello, type TransferOptions, type TransferResult } from './client.js';
export { ClientError, CLIENT_ERRORS, type ClientErrorCode } from './errors.js';
export type { TlsOption } from './transport.js';
export { downloadFile, resolveDestination, uploadFile, type DownloadFileOptions } from './files.js';
export { DEFAULT_HOST, DEFAULT_PORT } from '../protocol/defaults.js';
export type { GrantedPermission } from '../protocol/requests.js';
