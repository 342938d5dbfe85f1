#!/usr/bin/env node
/**
 * bucket — the interactive client. Connects to bucketd, then loops on a
 * prompt; works the same with its input piped, which is how scripts use it.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_PORT } from '../protocol/defaults.js';
import { VERSION } from '../version.js';
import { hostOf, parsePort, UsageError } from './options.js';
import { Prompter } from './prompter.js';
import { Shell } from './shell.js';

const USAGE = `usage: bucket [--host HOST] [--port PORT]

Connects to a bucketd server and reads commands: HELLO, EXIT, NEW_BUCKET,
LIST_BUCKET, DELETE_BUCKET, UPLOAD_FILE, LIST_FILE, DOWNLOAD_FILE, DELETE_FILE.
Each command asks for what it needs, one line at a time. Input may be piped:
  printf 'NEW_BUCKET\\nphotos\\nEXIT\\n' | bucket

options:
  --host HOST    server address (default 127.0.0.1; env BUCKETD_HOST)
  --port PORT    server port (default ${DEFAULT_PORT}; env BUCKETD_PORT)
  -h, --help     show this help
  -v, --version  show the version`;

// A reader that went away (`bucket ... | head -1`) ends the program quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`bucket ${VERSION}\n`);
    return 0;
  }
  const host = hostOf(values.host ?? process.env.BUCKETD_HOST);
  const port = parsePort(values.port ?? process.env.BUCKETD_PORT);
  // A person at the keyboard gets prompts, on stderr if stdout is redirected
  // (`bucket | tee session.log`).
  const interactive = process.stdin.isTTY === true && (process.stdout.isTTY === true || process.stderr.isTTY === true);
  const prompter = new Prompter(process.stdin, process.stdout.isTTY ? process.stdout : process.stderr, interactive);
  const shell = new Shell({ host, port, prompter, out: process.stdout, err: process.stderr });
  // Ctrl-C when input is not a terminal: cancel a transfer, or leave.
  process.on('SIGINT', () => {
    if (!shell.interrupt()) process.exit(130);
  });
  try {
    return await shell.run();
  } finally {
    prompter.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
    // Nothing should keep the process alive after the session; make sure.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (error: unknown) => {
    if (error instanceof UsageError || (error instanceof Error && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`bucket: ${error.message}\n${USAGE.split('\n')[0]}\n`);
      process.exit(2);
    }
    process.stderr.write(`bucket: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
