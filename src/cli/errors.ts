/**
 * Problems the `bucket` program finds on its own side, before or around a
 * request: a local path that is not there, a question left unanswered.
 * Errors from the server (BucketError) and the client library (ClientError)
 * pass through as they are; all three carry a stable `code`, so that a
 * renderer other than the human one can report them as data.
 */

export const CLI_ERRORS = {
  UNKNOWN_COMMAND: 'not one of the command words',
  NO_SUCH_LOCAL_FILE: 'no such local file or folder',
  NOT_A_FILE: 'the local path is not a file',
  DESTINATION_IS_FOLDER: 'the download destination is a folder',
  UNANSWERED: 'a question was left without an answer',
  INPUT_ENDED: 'the input ended before a command had all it needs',
  NEEDS_RECURSIVE: 'the local path is a folder; add -r to copy what it holds',
  LOCAL_PATH_CONFLICT: 'a local file stands where a folder is needed, or a folder where a file goes',
  UNSAFE_NAME: 'a remote name that cannot be a local path',
  SYNC_INCOMPLETE: 'part of the local folder could not be read, so sync deleted nothing',
} as const;

export type CliErrorCode = keyof typeof CLI_ERRORS;

export class CliError extends Error {
  readonly code: CliErrorCode;

  constructor(code: CliErrorCode, message: string = CLI_ERRORS[code]) {
    super(message);
    this.name = 'CliError';
    this.code = code;
  }
}
