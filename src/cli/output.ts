/**
 * What the `bucket` program reports, as data. Front ends (the shell, later
 * one-shot verbs) hand outcomes, listings and failures to an Output; the
 * human renderer (human-output.ts) turns them into lines for people, and a
 * `--json` renderer can sit beside it, implementing the same interface.
 */
import type { RemoteBucket, RemoteFile, RemoteUpload, ServerHello, TransferResult } from '../client/client.js';
import { ClientError } from '../client/errors.js';
import { BucketError } from '../errors.js';
import { CliError } from './errors.js';

export type Outcome =
  | { kind: 'hello'; server: ServerHello }
  | { kind: 'bucket-created'; bucket: RemoteBucket }
  /** `deletedFiles` only when the bucket's files were deleted with it. */
  | { kind: 'bucket-deleted'; bucket: string; deletedFiles?: number }
  | { kind: 'bucket-kept'; bucket: string }
  | { kind: 'uploaded'; bucket: string; file: TransferResult }
  | { kind: 'downloaded'; file: TransferResult & { path: string } }
  | { kind: 'not-downloaded'; path: string }
  | { kind: 'file-deleted'; bucket: string; name: string }
  | { kind: 'upload-aborted'; id: string; released: number }
  | { kind: 'goodbye' };

/** A failure the program reports (anything else is a bug). */
export type Failure = BucketError | ClientError | CliError;

export function isFailure(error: unknown): error is Failure {
  return error instanceof BucketError || error instanceof ClientError || error instanceof CliError;
}

export interface Output {
  show(outcome: Outcome): void;
  /** Renders rows as they come, never holding them all. */
  buckets(rows: AsyncIterable<RemoteBucket>): Promise<void>;
  /** Renders rows as they come, never holding them all. */
  files(bucket: string, rows: AsyncIterable<RemoteFile>): Promise<void>;
  /** The server's unfinished uploads. */
  uploads(rows: AsyncIterable<RemoteUpload>): Promise<void>;
  /** A transfer going on after a break: `offset` bytes were in place; attempt 0 is an earlier run's upload. */
  resumed(info: { direction: 'upload' | 'download'; offset: number; attempt: number }): void;
  failure(failure: Failure): void;
}
