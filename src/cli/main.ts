/**
 * One way for both programs to start and end: --help and --version, usage
 * errors as one line and the usage (exit 2), other failures as one line
 * (exit 1), never a stack trace.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { VERSION } from '../version.js';
import { UsageError } from './options.js';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

const STANDARD_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const satisfies OptionsConfig;

export type CommandLine<O extends OptionsConfig> = ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>;

export interface Program<O extends OptionsConfig> {
  name: string;
  /** The --help text; its first line is the usage line. */
  usage: string;
  /** The program's options; -h/--help and -V/--version are added. */
  options: O;
  allowPositionals: boolean;
  /**
   * Resolves with the exit code, or with undefined when the program keeps
   * running (a server) and ends by itself.
   */
  main(commandLine: CommandLine<O>): Promise<number | undefined>;
  /** Called before a failure is written: what the program still holds for standard error goes first. */
  beforeFailure?: () => void;
}

/** Ctrl-C before the program got going: exit 130, quietly. */
export class Interrupted extends Error {}

export function runMain<const O extends OptionsConfig>(program: Program<O>): void {
  // A reader that went away (`bucket ... | head -1`) ends the program quietly.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  start(program).then(
    (code) => {
      if (code === undefined) return;
      process.exitCode = code;
      // Nothing should keep the process alive once it is done; make sure.
      setTimeout(() => process.exit(code), 200).unref();
    },
    (error: unknown) => {
      if (error instanceof Interrupted) process.exit(130);
      program.beforeFailure?.();
      const usage = usageProblem(error);
      if (usage !== undefined) {
        process.stderr.write(`${program.name}: ${usage}\n${program.usage.split('\n')[0]}\n`);
        process.exit(2);
      }
      process.stderr.write(`${program.name}: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}

async function start<O extends OptionsConfig>(program: Program<O>): Promise<number | undefined> {
  enterUserFolder(process.env);
  const commandLine = parseArgs({
    args: process.argv.slice(2),
    options: { ...program.options, ...STANDARD_OPTIONS },
    allowPositionals: program.allowPositionals,
    strict: true,
  });
  const standard = commandLine.values as { help?: boolean; version?: boolean };
  if (standard.help) {
    process.stdout.write(`${program.usage}\n`);
    return 0;
  }
  if (standard.version) {
    process.stdout.write(`${program.name} ${VERSION}\n`);
    return 0;
  }
  return program.main(commandLine as CommandLine<O>);
}

/**
 * `npm run client` and `npm run server` run in the package's folder; the
 * folder the user typed the command in is INIT_CWD, and relative paths
 * (ROOT, files to upload, where to download) mean that one.
 */
export function enterUserFolder(env: NodeJS.ProcessEnv): void {
  const script = env.npm_lifecycle_event;
  if (env.npm_package_name !== 'bucketd' || (script !== 'client' && script !== 'server') || !env.INIT_CWD) return;
  process.chdir(env.INIT_CWD);
}

/** The one-line reason, if `error` is about how the program was called. */
function usageProblem(error: unknown): string | undefined {
  if (error instanceof UsageError) return error.message;
  if (!(error instanceof Error && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) return undefined;
  // "Unknown option '-v'. To specify a positional argument ..." -> "unknown option '-v'"
  const first = error.message.split('. ')[0] ?? error.message;
  return first.charAt(0).toLowerCase() + first.slice(1);
}
