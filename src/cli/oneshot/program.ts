/**
 * `bucket VERB [options] ARGS`: the one-shot verbs, parsed by commander,
 * run through the client library, reported by report.ts, ended with an
 * exit code from exit-codes.ts. (`bucket` with no verb is the shell.)
 */
import { Command, CommanderError, Option } from 'commander';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { BucketClient, RemoteEntry } from '../../client/index.js';
import { FileUploadJournal, uploadJournalPath } from '../../client/index.js';
import { BucketError } from '../../errors.js';
import { VERSION } from '../../version.js';
import { plural } from '../format.js';
import { HashCache, hashCachePath } from '../hash-cache.js';
import { isFailure } from '../output.js';
import { parseCount, UsageError } from '../options.js';
import { completionScript, SHELLS, type Shell, type VerbSpec } from './completion-scripts.js';
import { EXIT, exitCodeOf, exitCodeOfAll } from './exit-codes.js';
import { parseRemote, showRemote } from './remote.js';
import { HumanReporter, JsonReporter, type Reporter } from './report.js';
import { VerbSession } from './session.js';
import { besideProgress, openProgress, progressMode, type ProgressMode } from './progress-display.js';
import { runSync } from './sync.js';
import { syncEnds } from './sync-ends.js';
import { fail, planGet, planPut, plannedBytes, runGet, runPut, type ResumeSettings, type TransferTally } from './transfers.js';

/** What each verb's arguments are, for completion. */
const ARGUMENTS: Record<string, VerbSpec['args']> = {
  ls: 'remote',
  mb: 'none',
  rb: 'remote',
  rm: 'remote',
  stat: 'remote',
  cat: 'remote',
  ping: 'none',
  put: 'local-then-remote',
  get: 'remote-then-local',
  sync: 'local-or-remote',
  uploads: 'remote',
  'abort-upload': 'none',
  completion: [...SHELLS],
};
const COMPLETION_TIMEOUT_MS = 2000;
// Enough names to choose from; past that, completion is no help anyway.
const MAX_COMPLETIONS = 1000;

/** Buckets (as `name/`), or the files and folders one level under what follows `BUCKET/`. */
async function remoteNames(client: BucketClient, word: string): Promise<string[]> {
  const names: string[] = [];
  const slash = word.indexOf('/');
  if (slash < 0) {
    for await (const bucket of client.iterateBuckets()) if (bucket.name.startsWith(word) && names.length < MAX_COMPLETIONS) names.push(`${bucket.name}/`);
    return names;
  }
  const bucket = word.slice(0, slash);
  for await (const entry of client.iterateFiles(bucket, { prefix: word.slice(slash + 1), delimiter: '/' })) {
    names.push(`${bucket}/${entry.name}`);
    if (names.length >= MAX_COMPLETIONS) break;
  }
  return names;
}

/** --retries: a whole number, 0 for none. */
function parseRetries(text: string): number {
  if (!/^[0-9]{1,4}$/.test(text)) throw new UsageError(`invalid --retries "${text}": use a whole number, 0 for none`);
  return Number(text);
}

async function writeAll(stream: NodeJS.WritableStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}
const USAGE_LINE = 'usage: bucket [options] VERB [verb options] ARGS (bucket --help lists the verbs; bucket VERB --help, a verb\'s options)';

interface GlobalValues {
  server?: string;
  profile?: string;
  host?: string;
  port?: string;
  user?: string;
  tls?: boolean;
  ca?: string;
  insecure?: boolean;
  json?: boolean;
  /** --progress (true), --no-progress (false). */
  progress?: boolean;
}

interface Streams {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

/** Runs one verb from `args` (the command line after `bucket`); resolves with the exit code. */
export async function runVerb(args: readonly string[], streams: Streams): Promise<number> {
  let exitCode: number = EXIT.DONE;
  const program = new Command('bucket');
  program
    .description('A bucketd client: one-shot verbs for scripts (with no verb, the interactive shell).')
    .version(`bucket ${VERSION}`, '-V, --version')
    .helpOption('-h, --help', 'show help')
    .addOption(new Option('--server <url>', 'the server, as bucket://[user@]host[:port] (env BUCKET_SERVER)'))
    .addOption(new Option('--profile <name>', 'a profile from the config file (env BUCKET_PROFILE)'))
    .addOption(new Option('--host <host>', 'server address (env BUCKETD_HOST)'))
    .addOption(new Option('--port <port>', 'server port (env BUCKETD_PORT)'))
    .addOption(new Option('--user <name>', 'log in as NAME (env BUCKET_USER; password from a prompt or BUCKET_PASSWORD)'))
    .addOption(new Option('--tls', 'speak TLS, checking the server (env BUCKET_TLS=1)'))
    .addOption(new Option('--ca <file>', 'check the server against this CA (PEM); implies --tls (env BUCKET_CA)'))
    .addOption(new Option('--insecure', "speak TLS without checking the server's certificate"))
    .addOption(new Option('--json', 'print one JSON object per line for each result; errors as JSON on stderr'))
    .addOption(new Option('--progress', 'show the progress of put and get off a terminal too: a line on stderr every second (JSON with --json)'))
    .addOption(new Option('--no-progress', 'show no progress, not even on a terminal'))
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => streams.out.write(text),
      writeErr: (text) => streams.err.write(text),
      // "error: unknown command 'lss'\n(Did you mean ls?)" -> one line.
      outputError: (text, write) => write(`bucket: ${text.replace(/^error: /, '').trimEnd().replace(/\n\(Did you mean (.*)\?\)$/, ' (did you mean $1?)')}\n${USAGE_LINE}\n`),
    });

  const outIsTerminal = (streams.out as NodeJS.WriteStream).isTTY === true;
  /** How put and get show their progress (progress-display.ts), by the options and standard error. */
  const progressModeOf = (command: Command): ProgressMode => {
    const values = command.optsWithGlobals<GlobalValues>();
    return progressMode(values.progress, values.json === true, streams.err, streams.env);
  };

  /** `long`: 'flag' for -l, 'always' for a verb whose one record is always shown whole. */
  const run = (work: (session: VerbSession, reporter: Reporter, command: Command) => Promise<number>, long: 'never' | 'flag' | 'always' = 'never') =>
    async (...actionArgs: unknown[]): Promise<void> => {
      const command = actionArgs[actionArgs.length - 1] as Command;
      const values = command.optsWithGlobals<GlobalValues>();
      const reporter = values.json ? new JsonReporter(streams) : new HumanReporter({ ...streams, long: long === 'always' || (long === 'flag' && command.opts<{ long?: boolean }>().long === true) });
      let session: VerbSession | undefined;
      try {
        session = await VerbSession.open(values, streams.env, (line) => streams.err.write(`bucket: ${line}\n`));
        exitCode = await work(session, reporter, command);
      } catch (error) {
        if (error instanceof UsageError) {
          streams.err.write(`bucket: ${error.message}\n${USAGE_LINE}\n`);
          exitCode = EXIT.USAGE;
        } else if (isFailure(error)) {
          reporter.failure(error);
          exitCode = exitCodeOf(error.code);
        } else {
          throw error;
        }
      } finally {
        await reporter.flush();
        await session?.close();
      }
    };

  program
    .command('ping')
    .description('ask the server who it is')
    .action(
      run(async (session, reporter) => {
        const connection = session.connection();
        const hello = await connection.use((client) => client.hello());
        await reporter.emit({ type: 'server', name: hello.name, version: hello.version, protocol: hello.protocol, address: connection.address });
        return EXIT.DONE;
      }),
    );

  program
    .command('ls')
    .description('list the buckets, or what a bucket holds (one level; -r for every depth)')
    .argument('[remote]', 'BUCKET or BUCKET/PREFIX')
    .option('-r, --recursive', 'list every file under the prefix, at every depth')
    .option('-l, --long', 'show size, time and SHA-256')
    .action(
      run(async (session, reporter, command) => {
        const [remoteText] = command.processedArgs as [string | undefined];
        const { recursive } = command.opts<{ recursive?: boolean }>();
        const connection = session.connection();
        await connection.use(async (client) => {
          if (remoteText === undefined) {
            for await (const bucket of client.iterateBuckets()) await reporter.emit({ type: 'bucket', name: bucket.name, created: bucket.createdAt });
            return;
          }
          const { bucket, key } = parseRemote(remoteText);
          // The whole bucket at every depth is the request every server knows.
          const entries: AsyncIterable<RemoteEntry> = recursive ? client.iterateFiles(bucket, key === '' ? {} : { prefix: key }) : client.iterateFiles(bucket, { prefix: key, delimiter: '/' });
          for await (const entry of entries) {
            if (entry.kind === 'folder') await reporter.emit({ type: 'folder', bucket, name: entry.name });
            else await reporter.emit({ type: 'file', bucket, name: entry.name, size: entry.size, modified: entry.modifiedAt, sha256: entry.sha256 ?? null });
          }
        });
        return EXIT.DONE;
      }, 'flag'),
    );

  program
    .command('mb')
    .description('make a bucket')
    .argument('<bucket>', 'the new bucket\'s name')
    .action(
      run(async (session, reporter, command) => {
        const [bucket] = command.processedArgs as [string];
        const created = await session.connection().use((client) => client.createBucket(bucket));
        await reporter.emit({ type: 'bucket-created', bucket: created.name, created: created.createdAt });
        return EXIT.DONE;
      }),
    );

  program
    .command('rb')
    .description('remove a bucket (an empty one, unless --force)')
    .argument('<bucket>', 'the bucket')
    .option('--force', 'remove the bucket with every file in it')
    .action(
      run(async (session, reporter, command) => {
        const [bucket] = command.processedArgs as [string];
        const { deletedFiles } = await session
          .connection()
          .use((client) => client.deleteBucket(bucket, { force: command.opts<{ force?: boolean }>().force === true }))
          .catch((error: unknown) => {
            // The server names the protocol's FORCE; here the way to it is --force.
            if (error instanceof BucketError && error.code === 'BUCKET_NOT_EMPTY') {
              throw new BucketError(error.code, error.message.replace(/ask for FORCE$/, 'use --force'), error.details, error.status);
            }
            throw error;
          });
        await reporter.emit({ type: 'bucket-deleted', bucket, deletedFiles });
        return EXIT.DONE;
      }),
    );

  program
    .command('rm')
    .description('remove files (with -r, every file under a prefix)')
    .argument('<remote...>', 'BUCKET/KEY, or with -r BUCKET[/PREFIX]')
    .option('-r, --recursive', 'remove every file under each prefix')
    .action(
      run(async (session, reporter, command) => {
        const [remoteTexts] = command.processedArgs as [string[]];
        const recursive = command.opts<{ recursive?: boolean }>().recursive === true;
        const remotes = remoteTexts.map(parseRemote);
        for (const remote of remotes) {
          if (!recursive && (remote.key === '' || remote.key.endsWith('/'))) throw new UsageError(`${showRemote(remote.bucket, remote.key)} names no file: give BUCKET/KEY, or add -r for everything under it (rb removes a bucket)`);
        }
        const tally: TransferTally = { done: 0, bytes: 0, failures: [] };
        const connection = session.connection();
        for (const remote of remotes) {
          try {
            const names: string[] = [];
            if (recursive) {
              await connection.use(async (client) => {
                for await (const file of client.iterateFiles(remote.bucket, remote.key === '' ? {} : { prefix: remote.key })) names.push(file.name);
              });
              if (names.length === 0) throw new BucketError('NO_SUCH_FILE', `no file under ${showRemote(remote.bucket, remote.key)}`);
            } else {
              names.push(remote.key);
            }
            for (const name of names) {
              try {
                const deleted = await connection.use((client) => client.deleteFile(remote.bucket, name));
                tally.done++;
                await reporter.emit({ type: 'deleted', bucket: remote.bucket, name: deleted.name });
              } catch (error) {
                if (!isFailure(error)) throw error;
                fail(reporter, tally, error, showRemote(remote.bucket, name));
              }
            }
          } catch (error) {
            if (!isFailure(error)) throw error;
            fail(reporter, tally, error);
          }
        }
        if (recursive) await reporter.emit({ type: 'summary', verb: 'rm', done: tally.done, failed: tally.failures.length, bytes: 0 });
        return tally.failures.length === 0 ? EXIT.DONE : exitCodeOfAll(tally.failures);
      }),
    );

  program
    .command('stat')
    .description("show one file's size, time and SHA-256")
    .argument('<remote>', 'BUCKET/KEY')
    .action(
      run(async (session, reporter, command) => {
        const [remoteText] = command.processedArgs as [string];
        const { bucket, key } = parseRemote(remoteText);
        if (key === '' || key.endsWith('/')) throw new UsageError(`${remoteText} names no file: give BUCKET/KEY`);
        const wanted = key.normalize('NFC');
        const file = await session.connection().use(async (client) => {
          let found;
          for await (const entry of client.iterateFiles(bucket, { prefix: wanted })) if (entry.name === wanted) found = entry;
          return found;
        });
        if (file === undefined) throw new BucketError('NO_SUCH_FILE', `no file "${key}" in bucket "${bucket}"`);
        await reporter.emit({ type: 'file', bucket, name: file.name, size: file.size, modified: file.modifiedAt, sha256: file.sha256 ?? null });
        return EXIT.DONE;
      }, 'always'),
    );

  program
    .command('cat')
    .description('write a file to standard output; the exit code says whether its SHA-256 matched')
    .argument('<remote>', 'BUCKET/KEY')
    .action(
      run(async (session, reporter, command) => {
        const [remoteText] = command.processedArgs as [string];
        const { bucket, key } = parseRemote(remoteText);
        if (key === '' || key.endsWith('/')) throw new UsageError(`${remoteText} names no file: give BUCKET/KEY`);
        let written = 0;
        try {
          await session.connection().use((client) => client.download(bucket, key, streams.out as Writable, { onProgress: (done) => (written = done) }));
        } catch (error) {
          // A reader that went away (`cat | head`) is no failure.
          if (isFailure(error) && ((error as { cause?: { code?: string } }).cause?.code === 'EPIPE')) return EXIT.DONE;
          // The bytes went out as they came: say that they are not to be trusted.
          if (!isFailure(error) || written === 0) throw error;
          reporter.failure({ code: error.code, message: `${error.message}; the ${plural(written, 'byte')} already written to standard output are not verified: discard them` }, remoteText);
          return exitCodeOf(error.code);
        }
        return EXIT.DONE;
      }),
    );

  program
    .command('put')
    .description('upload files (with -r, folders) to a bucket')
    .argument('<paths...>', 'LOCAL... BUCKET[/KEY or /PREFIX/]')
    .option('-r, --recursive', 'upload folders and everything in them (keys follow the paths)')
    .option('--parallel <n>', 'connections to use at once', '4')
    .option('--retries <n>', 'times a broken upload is resumed without moving forward before giving up', '5')
    .action(
      run(async (session, reporter, command) => {
        const [paths] = command.processedArgs as [string[]];
        const opts = command.opts<{ recursive?: boolean; parallel: string; retries: string }>();
        const resume: ResumeSettings = { retries: parseRetries(opts.retries), journal: new FileUploadJournal(uploadJournalPath(streams.env)) };
        if (paths.length < 2) throw new UsageError('put needs at least one local path and a destination: put LOCAL... BUCKET[/KEY]');
        const parallel = parseCount(opts.parallel, '--parallel');
        const destination = parseRemote(paths[paths.length - 1]!);
        const tally: TransferTally = { done: 0, bytes: 0, failures: [] };
        const mode = progressModeOf(command);
        const options = { recursive: opts.recursive === true, parallel, measure: mode !== 'off' };
        const jobs = await planPut(paths.slice(0, -1), destination, options, reporter, tally);
        const planned = jobs.length + tally.failures.length;
        const board = openProgress({ mode, stream: streams.err });
        board.expect(jobs.length, plannedBytes(jobs));
        try {
          await runPut(session, jobs, parallel, besideProgress(reporter, board, outIsTerminal), tally, board, resume);
        } finally {
          await board.finish();
        }
        if (options.recursive || planned > 1) await reporter.emit({ type: 'summary', verb: 'put', done: tally.done, failed: tally.failures.length, bytes: tally.bytes });
        return tally.failures.length === 0 ? EXIT.DONE : exitCodeOfAll(tally.failures);
      }),
    );

  program
    .command('get')
    .description('download files (with -r, everything under a prefix); never replaces a local file unless --force')
    .argument('<paths...>', 'BUCKET/KEY... [LOCAL]')
    .option('-r, --recursive', 'download everything under each prefix (local paths follow the keys)')
    .option('--parallel <n>', 'connections to use at once', '4')
    .option('--force', 'replace local files that are in the way')
    .option('--retries <n>', 'times a broken download is resumed without moving forward before giving up', '5')
    .action(
      run(async (session, reporter, command) => {
        const [paths] = command.processedArgs as [string[]];
        const opts = command.opts<{ recursive?: boolean; parallel: string; force?: boolean; retries: string }>();
        const resume: ResumeSettings = { retries: parseRetries(opts.retries) };
        const parallel = parseCount(opts.parallel, '--parallel');
        const remotes = (paths.length > 1 ? paths.slice(0, -1) : paths).map(parseRemote);
        const local = paths.length > 1 ? paths[paths.length - 1]! : '.';
        const options = { recursive: opts.recursive === true, parallel, force: opts.force === true };
        const tally: TransferTally = { done: 0, bytes: 0, failures: [] };
        const lister = session.connection();
        const jobs = await lister.use((client) => planGet(client, remotes, local, options, reporter, tally));
        const planned = jobs.length + tally.failures.length;
        // A single file's size comes with its download's go-ahead.
        const board = openProgress({ mode: progressModeOf(command), stream: streams.err });
        board.expect(jobs.length, plannedBytes(jobs));
        try {
          await runGet(session, jobs, options, besideProgress(reporter, board, outIsTerminal), tally, board, resume);
        } finally {
          await board.finish();
        }
        if (options.recursive || planned > 1) await reporter.emit({ type: 'summary', verb: 'get', done: tally.done, failed: tally.failures.length, bytes: tally.bytes });
        return tally.failures.length === 0 ? EXIT.DONE : exitCodeOfAll(tally.failures);
      }),
    );

  program
    .command('sync')
    .description('make DST hold what SRC holds, one a local folder and the other BUCKET[/PREFIX]: copies what is missing or differs by SHA-256')
    .argument('<source>', 'LOCAL-FOLDER or BUCKET[/PREFIX]: what to copy from')
    .argument('<destination>', 'BUCKET[/PREFIX] or LOCAL-FOLDER: what to bring up to date')
    .option('--delete', 'also remove from the destination what the source no longer has')
    .option('--dry-run', 'say what would be copied and deleted; change nothing')
    .option('--checksum', 'hash every local file of the same size as its remote, trusting no remembered hash')
    .option('--parallel <n>', 'connections to use at once', '4')
    .action(
      run(async (session, reporter, command) => {
        const [source, destination] = command.processedArgs as [string, string];
        const opts = command.opts<{ delete?: boolean; dryRun?: boolean; checksum?: boolean; parallel: string }>();
        const options = { delete: opts.delete === true, dryRun: opts.dryRun === true, checksum: opts.checksum === true, parallel: parseCount(opts.parallel, '--parallel'), journal: new FileUploadJournal(uploadJournalPath(streams.env)) };
        const ends = await syncEnds(source, destination);
        const cache = await HashCache.load(hashCachePath(streams.env));
        const board = openProgress({ mode: progressModeOf(command), stream: streams.err });
        let tally;
        try {
          tally = await runSync(session, ends, options, cache, besideProgress(reporter, board, outIsTerminal), board);
        } finally {
          await board.finish();
        }
        const { done, bytes, copied, skipped, deleted, hashed } = tally;
        await reporter.emit({ type: 'summary', verb: 'sync', done, failed: tally.failures.length, bytes, copied, skipped, deleted, hashed, dryRun: options.dryRun });
        return tally.failures.length === 0 ? EXIT.DONE : exitCodeOfAll(tally.failures);
      }),
    );

  program
    .command('uploads')
    .description("list the server's unfinished uploads (resumable, or to abort), of one bucket or all")
    .argument('[bucket]', 'only this bucket\'s')
    .action(
      run(async (session, reporter, command) => {
        const [bucketText] = command.processedArgs as [string | undefined];
        const bucket = bucketText === undefined ? undefined : parseRemote(bucketText).bucket;
        const uploads = await session.connection().use((client) => client.listUploads(bucket));
        for (const upload of uploads) {
          await reporter.emit({ type: 'upload', id: upload.id, bucket: upload.bucket, name: upload.name, size: upload.size, held: upload.held, started: upload.startedAt, expires: upload.expiresAt ?? null });
        }
        return EXIT.DONE;
      }),
    );

  program
    .command('abort-upload')
    .description('drop unfinished uploads by id (see uploads), releasing what the server holds of them')
    .argument('<id...>', 'upload ids')
    .action(
      run(async (session, reporter, command) => {
        const [ids] = command.processedArgs as [string[]];
        const tally: TransferTally = { done: 0, bytes: 0, failures: [] };
        const connection = session.connection();
        for (const id of ids) {
          try {
            const aborted = await connection.use((client) => client.abortUpload(id));
            tally.done++;
            await reporter.emit({ type: 'upload-aborted', id: aborted.id, released: aborted.released });
          } catch (error) {
            if (!isFailure(error)) throw error;
            fail(reporter, tally, error, ids.length > 1 ? id : undefined);
          }
        }
        return tally.failures.length === 0 ? EXIT.DONE : exitCodeOfAll(tally.failures);
      }),
    );

  program
    .command('completion')
    .description('print a completion script: source <(bucket completion bash)')
    .argument('<shell>', SHELLS.join(', '))
    .action(async (shell: string) => {
      if (!(SHELLS as readonly string[]).includes(shell)) {
        streams.err.write(`bucket: no completion for "${shell}": use ${SHELLS.join(', ')}\n${USAGE_LINE}\n`);
        exitCode = EXIT.USAGE;
        return;
      }
      const specs = program.commands
        .filter((command) => command.name() in ARGUMENTS)
        .map((command) => ({ name: command.name(), options: command.options.flatMap((option) => [option.short, option.long].filter((flag): flag is string => flag !== undefined)), args: ARGUMENTS[command.name()]! }));
      const globals = program.options.flatMap((option) => [option.short, option.long].filter((flag): flag is string => flag !== undefined));
      await writeAll(streams.out, completionScript(shell as Shell, specs, globals));
    });

  // For completion scripts: remote names that start with a word, or nothing, quickly.
  program
    .command('__complete', { hidden: true })
    .argument('[word]', 'what has been typed', '')
    .action(async (word: string, _options: unknown, command: Command) => {
      const values = command.optsWithGlobals<GlobalValues>();
      const timer = setTimeout(() => process.exit(0), COMPLETION_TIMEOUT_MS);
      try {
        const session = await VerbSession.open(values, streams.env, () => undefined, { connectTimeoutMs: COMPLETION_TIMEOUT_MS, askPassword: false });
        try {
          for (const name of await session.connection().use((client) => remoteNames(client, word))) await writeAll(streams.out, `${name}\n`);
        } finally {
          await session.close();
        }
      } catch {
        // Offline, or not allowed: completion offers no remote names.
      } finally {
        clearTimeout(timer);
      }
    });

  try {
    await program.parseAsync([...args], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end well; every other complaint is about the call.
      return error.exitCode === 0 ? EXIT.DONE : EXIT.USAGE;
    }
    throw error;
  }
  return exitCode;
}
