/**
 * What the `bucket` program can do, as plain functions: explicit arguments
 * in, data out, no prompts and no printing. The interactive shell calls
 * these after asking its questions; one-shot verbs will call them after
 * parsing their arguments.
 */
import type { AbortedUpload, BucketClient, RemoteBucket, RemoteFile, RemoteUpload, ServerHello, TransferOptions, TransferResult } from '../client/client.js';
import { downloadFile, uploadFile, type UploadFileOptions } from '../client/files.js';
import type { RetryOptions } from '../client/retry.js';

export function hello(client: BucketClient): Promise<ServerHello> {
  return client.hello();
}

export function createBucket(client: BucketClient, bucket: string): Promise<RemoteBucket> {
  return client.createBucket(bucket);
}

/** The buckets, one by one. */
export function listBuckets(client: BucketClient): AsyncIterable<RemoteBucket> {
  return client.iterateBuckets();
}

/** Rejects with BUCKET_NOT_EMPTY (its file count in `details[0]`) unless `force`. */
export function deleteBucket(client: BucketClient, bucket: string, options: { force?: boolean } = {}): Promise<{ deletedFiles: number }> {
  return client.deleteBucket(bucket, options);
}

/** A bucket's files, one by one; rejects on the first step if there is no such bucket. */
export function listFiles(client: BucketClient, bucket: string): AsyncIterable<RemoteFile> {
  return client.iterateFiles(bucket);
}

/** Resumes by itself after a broken connection; with a journal, also an upload an earlier run left unfinished. */
export function upload(client: BucketClient, localPath: string, bucket: string, name: string, options: UploadFileOptions = {}): Promise<TransferResult> {
  return uploadFile(client, localPath, bucket, name, options);
}

/** Downloads to the exact local `target` (see downloadTarget), replacing a file there only with `overwrite`. */
export function download(
  client: BucketClient,
  bucket: string,
  name: string,
  target: string,
  options: TransferOptions & RetryOptions & { overwrite?: boolean } = {},
): Promise<TransferResult & { path: string }> {
  return downloadFile(client, bucket, name, target, options);
}

/** Resolves with the name as stored (normalised). */
export function deleteFile(client: BucketClient, bucket: string, name: string): Promise<{ name: string }> {
  return client.deleteFile(bucket, name);
}

/** The server's unfinished uploads (of one bucket, if given). */
export function listUploads(client: BucketClient, bucket?: string): Promise<RemoteUpload[]> {
  return client.listUploads(bucket);
}

export function abortUpload(client: BucketClient, uploadId: string): Promise<AbortedUpload> {
  return client.abortUpload(uploadId);
}
