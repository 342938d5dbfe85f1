#!/usr/bin/env node
/**
 * bucket — the interactive client. Connects to bucketd, then loops on a
 * prompt; works the same with its input piped, which is how scripts use it.
 * Given a verb (`bucket ls photos`), it runs that one command instead
 * (oneshot/program.ts).
 */
import { DEFAULT_PORT } from '../client/defaults.js';
import type { ServerConnection } from './connection.js';
import { enterUserFolder, runMain } from './main.js';
import { BucketError } from '../errors.js';
import { hostOf, parsePort, UsageError } from './options.js';
import { TLS_OPTIONS, TLS_USAGE, tlsOptionOf } from './tls-options.js';
import { SHELL_VERBS } from './verbs.js';

const USAGE = `usage: bucket [--host HOST] [--port PORT] [--user NAME]

Connects to a bucketd server and reads commands: ${SHELL_VERBS.slice(0, 3).join(', ')},
${SHELL_VERBS.slice(3, 7).join(', ')}, ${SHELL_VERBS.slice(7, 9).join(', ')},
${SHELL_VERBS.slice(9).join(', ')}.
Each command asks for what it needs, one line at a time. Input may be piped:
  printf 'NEW_BUCKET\\nphotos\\nEXIT\\n' | bucket
With piped input, the exit code is 1 if any command failed.

options:
  --host HOST    server address (default 127.0.0.1; env BUCKETD_HOST)
  --port PORT    server port (default ${DEFAULT_PORT}; env BUCKETD_PORT)
  --user NAME    log in as NAME (env BUCKET_USER); the password is asked for
                 without echo on a terminal, or read from env BUCKET_PASSWORD
                 (never from the command line)
${TLS_USAGE}
  -h, --help     show this help
  -V, --version  show the version

One-shot verbs, for scripts: bucket [options] VERB [verb options] ARGS
  ls [BUCKET[/PREFIX]] [-r] [-l]   mb BUCKET   rb BUCKET [--force]
  rm BUCKET/KEY... [-r]   stat BUCKET/KEY   cat BUCKET/KEY   ping
  put LOCAL... BUCKET[/KEY|/PREFIX/] [-r] [--parallel N] [--retries N]
  get BUCKET/KEY... [LOCAL] [-r] [--parallel N] [--retries N] [--force]
  sync SRC DST [--delete] [--dry-run] [--checksum] [--parallel N]
    (one a local folder, the other BUCKET[/PREFIX]; either way)
  uploads [BUCKET]   abort-upload ID...   completion bash|zsh|fish
  with --server bucket://[user@]host[:port] (env BUCKET_SERVER), --profile NAME,
  --json, --progress (a line a second off a terminal), --no-progress;
  bucket VERB --help shows a verb's options. Exit codes: 0 done,
  1 failed, 2 usage, 3 not found, 4 refused, 5 conflict, 6 connection,
  7 integrity.`;

// Options that take a value, so that the value is not read as a verb.
const VALUE_OPTIONS = new Set(['--host', '--port', '--user', '--ca', '--server', '--profile', '--parallel']);
const VERB_ONLY_OPTIONS = new Set(['--server', '--profile', '--json', '--progress', '--no-progress']);

/** Whether the command line names a verb (or a verb-only option): then it is a one-shot call, not the shell. */
export function isVerbCall(args: readonly string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return i + 1 < args.length;
    const name = arg.split('=')[0]!;
    if (VERB_ONLY_OPTIONS.has(name)) return true;
    if (VALUE_OPTIONS.has(arg)) i++;
    else if (!arg.startsWith('-')) return true;
  }
  return false;
}

if (isVerbCall(process.argv.slice(2))) {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    // A reader that went away (`bucket ls | head`) ends the program quietly.
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  enterUserFolder(process.env);
  // Loaded only here: a verb never loads the shell, nor the shell the verbs.
  import('./oneshot/program.js').then(({ runVerb }) => runVerb(process.argv.slice(2), { out: process.stdout, err: process.stderr, env: process.env })).then(
    (code) => {
      process.exitCode = code;
      setTimeout(() => process.exit(code), 200).unref();
    },
    (error: unknown) => {
      process.stderr.write(`bucket: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
} else {
  runMain({
    name: 'bucket',
    usage: USAGE,
    allowPositionals: false,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      user: { type: 'string' },
      ...TLS_OPTIONS,
    },
    async main({ values }) {
      const tls = await tlsOptionOf(values, process.env, (line) => process.stderr.write(`bucket: ${line}\n`));
      const { ServerConnection } = await import('./connection.js');
      const connection = new ServerConnection(hostOf(values.host ?? process.env.BUCKETD_HOST), parsePort(values.port ?? process.env.BUCKETD_PORT), { tls });
      // A person at the keyboard gets prompts, on stderr if stdout is redirected
      // (`bucket | tee session.log`).
      const interactive = process.stdin.isTTY === true && (process.stdout.isTTY === true || process.stderr.isTTY === true);
      const [{ Prompter }, { HumanOutput }, { Shell }, { FileUploadJournal, uploadJournalPath }] = await Promise.all([import('./prompter.js'), import('./human-output.js'), import('./shell.js'), import('../client/upload-journal.js')]);
      const prompter = new Prompter(process.stdin, process.stdout.isTTY ? process.stdout : process.stderr, interactive);
      const output = new HumanOutput({ out: process.stdout, err: process.stderr, server: connection.address });
      const user = values.user ?? process.env.BUCKET_USER;
      if (user !== undefined && user !== '' && !(await logIn(connection, user, interactive))) return 1;
      const shell = new Shell({ connection, prompter, output, progress: process.stderr, journal: new FileUploadJournal(uploadJournalPath(process.env)) });
      // Ctrl-C when input is not a terminal: cancel a transfer, or leave.
      process.on('SIGINT', () => {
        if (!shell.interrupt()) process.exit(130);
      });
      try {
        return await shell.run();
      } finally {
        prompter.close();
      }
    },
  });
}

/**
 * Logs in before the session starts: with BUCKET_PASSWORD, or a password
 * typed without echo (a second try after a wrong one). False, after one
 * line on stderr, if it failed.
 */
async function logIn(connection: ServerConnection, user: string, interactive: boolean): Promise<boolean> {
  const fromEnvironment = process.env.BUCKET_PASSWORD;
  if (fromEnvironment === undefined && !(process.stdin.isTTY === true)) {
    throw new UsageError('--user needs a terminal to ask for the password, or the password in BUCKET_PASSWORD');
  }
  const tries = fromEnvironment === undefined && interactive ? 2 : 1;
  const { askHidden } = await import('./password-prompt.js');
  for (let attempt = 1; attempt <= tries; attempt++) {
    const password = fromEnvironment ?? (await askHidden(process.stdin, process.stderr, `password for ${user}: `));
    if (password === undefined) return false;
    connection.setCredentials({ user, password });
    try {
      await connection.open();
      return true;
    } catch (error) {
      const failed = error instanceof BucketError && error.code === 'AUTH_FAILED';
      const message = failed ? `login failed for "${user}": wrong user name or password` : error instanceof Error ? error.message : String(error);
      process.stderr.write(`error: ${message}\n`);
      if (!failed) return false;
    }
  }
  return false;
}
