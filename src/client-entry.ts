/**
 * `bucketd/client`: the client library alone. Importing it loads no server,
 * storage or command-line code (test/e2e/package-exports.test.ts checks).
 */
export * from './client/index.js';
export { BucketError, closesConnection, ERRORS, type AnyErrorCode, type ErrorCode } from './errors.js';
export { DEFAULT_HOST, DEFAULT_PORT } from './protocol/defaults.js';
export { PROTOCOL_VERSION, VERSION } from './version.js';
