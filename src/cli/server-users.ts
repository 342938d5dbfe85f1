/**
 * `bucketd user ...` and `bucketd bucket ...`: who may log in to the
 * server of a ROOT and what each may do, kept in ROOT/.bucketd/access.json.
 * They work while a server runs on that ROOT (a lock file keeps changes
 * apart), and the server sees each change within a second.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import { BucketError } from '../errors.js';
import { ANONYMOUS, checkUserName, isPermission, UserStore, type UserRecord } from '../server/users/index.js';
import { HIDDEN_DIR } from '../storage/fs/layout.js';
import { errnoOf } from '../storage/fs/os-errors.js';
import { checkBucketName } from '../storage/names.js';
import { parseStoreLocation } from '../storage/open.js';
import { humanSize, printable } from './format.js';
import { expandHome } from './home.js';
import { runMain, type CommandLine } from './main.js';
import { parseByteSize, UsageError } from './options.js';
import { LineReader, readNewPassword, type SecretSource } from './password-prompt.js';
import { askForRoot } from './root-prompt.js';

export type AdminProgram = 'user' | 'bucket';

/** `bucketd user ...` or `bucketd bucket ...`: the word must come first. */
export function adminProgramOf(args: readonly string[]): AdminProgram | undefined {
  return args[0] === 'user' || args[0] === 'bucket' ? args[0] : undefined;
}

const ROOT_HELP = `ROOT is the server's folder: --root ROOT, or the last argument, or asked for
(one line of standard input when piped). A ROOT folder named "user" or
"bucket" is written ./user or ./bucket.`;

const USER_USAGE = `usage: bucketd user COMMAND [ARGUMENTS] [--root ROOT | ROOT]

Manages who may log in to the bucketd that serves ROOT. Works while the
server runs; it sees each change within a second.

commands:
  add NAME [--admin] [--no-create] [--generate]
                            adds a user. The password is asked twice at a terminal
                            (not shown), or read as one line of standard input;
                            --generate makes a random secret instead and prints it once.
                            --admin: a server admin (every bucket, every right);
                            --no-create: may not create buckets
  list                      one line per user: name, rights (admin, create), grants
  passwd NAME [--generate]  sets a new password
  remove NAME               removes a user
  grant NAME BUCKET read|write|admin
                            gives NAME that permission on BUCKET: read lists and
                            downloads; write also uploads and deletes files; admin
                            also deletes the bucket and grants others
  revoke NAME BUCKET        takes NAME's grant on BUCKET back
NAME may be "anonymous" for grant and revoke: what clients that have not
logged in may do (grant anonymous BUCKET read makes a bucket public).

${ROOT_HELP}

options:
  --root ROOT      the server's folder
  --admin          (add) make a server admin
  --no-create      (add) the user may not create buckets
  --generate       (add, passwd) make a random secret and print it on standard output
  -h, --help       show this help
  -V, --version    show the version`;

const BUCKET_USAGE = `usage: bucketd bucket COMMAND [ARGUMENTS] [--root ROOT | ROOT]

Settings of the buckets of the bucketd that serves ROOT. Works while the
server runs; it sees each change within a second.

commands:
  quota BUCKET SIZE|none   the most BUCKET may hold, e.g. 10G, 512M (binary units);
                           none removes the quota. Uploads past it are refused.
  quotas                   one line per bucket with a quota: bucket, bytes, size

${ROOT_HELP}

options:
  --root ROOT      the server's folder
  -h, --help       show this help
  -V, --version    show the version`;

const OPTIONS = {
  root: { type: 'string' },
  admin: { type: 'boolean' },
  'no-create': { type: 'boolean' },
  generate: { type: 'boolean' },
} as const;

type Values = CommandLine<typeof OPTIONS>['values'];

interface Command {
  /** The positional arguments, by name, before the optional ROOT. */
  args: readonly string[];
  /** The options it takes besides --root. */
  options: ReadonlyArray<keyof typeof OPTIONS>;
  /** Whether it changes the access file (and may then create ROOT). */
  changes: boolean;
  run(context: Context): Promise<void>;
}

interface Context {
  args: string[];
  values: Values;
  root: string;
  /** The access file, opened (creating ROOT/.bucketd if missing). */
  store(): Promise<UserStore>;
  /** The same, or undefined if ROOT has no .bucketd folder yet (nothing is made). */
  existingStore(): Promise<UserStore | undefined>;
  secrets(): SecretSource;
  out(line: string): void;
  note(line: string): void;
}

const quoted = (text: string): string => `"${printable(text)}"`;
const who = (name: string): string => (name === ANONYMOUS ? 'anonymous' : quoted(name));

/** A random secret, for scripts: 32 bytes, base64url. */
function generatedSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** The password for `name`: generated and printed once, or asked for. */
async function newPassword(context: Context, name: string): Promise<{ password: string; generated: boolean }> {
  if (context.values.generate) return { password: generatedSecret(), generated: true };
  return { password: await readNewPassword(context.secrets(), quoted(name)), generated: false };
}

const USER_COMMANDS: Record<string, Command> = {
  add: {
    args: ['NAME'],
    options: ['admin', 'no-create', 'generate'],
    changes: true,
    async run(context) {
      const name = checkUserName(context.args[0]!);
      const store = await context.store();
      // Before asking for a password that would be thrown away.
      if (store.user(name)) throw new BucketError('USER_EXISTS', `user ${quoted(name)} already exists`);
      const { password, generated } = await newPassword(context, name);
      const admin = context.values.admin === true;
      const canCreate = context.values['no-create'] !== true;
      await store.addUser(name, password, { admin, canCreate });
      const rights = [admin ? 'a server admin' : '', canCreate ? '' : 'may not create buckets'].filter(Boolean).join('; ');
      const line = `added user ${quoted(name)}${rights ? ` (${rights})` : ''}`;
      if (generated) {
        context.out(password);
        context.note(`${line}; its secret is the line above, shown this once`);
      } else context.out(line);
    },
  },
  list: {
    args: [],
    options: [],
    changes: false,
    async run(context) {
      const store = await context.existingStore();
      if (store) for (const line of userLines(store.listUsers(), store.grantsOf(ANONYMOUS))) context.out(line);
    },
  },
  passwd: {
    args: ['NAME'],
    options: ['generate'],
    changes: true,
    async run(context) {
      const name = checkUserName(context.args[0]!);
      const store = await context.store();
      if (!store.user(name)) throw new BucketError('NO_SUCH_USER', `no user ${quoted(name)}`);
      const { password, generated } = await newPassword(context, name);
      await store.setPassword(name, password);
      if (generated) {
        context.out(password);
        context.note(`changed the password of ${quoted(name)}; the new secret is the line above, shown this once`);
      } else context.out(`changed the password of ${quoted(name)}`);
    },
  },
  remove: {
    args: ['NAME'],
    options: [],
    changes: true,
    async run(context) {
      const name = checkUserName(context.args[0]!);
      await (await context.store()).removeUser(name);
      context.out(`removed user ${quoted(name)}`);
    },
  },
  grant: {
    args: ['NAME', 'BUCKET', 'PERMISSION'],
    options: [],
    changes: true,
    async run(context) {
      const [name, bucket, permission] = context.args as [string, string, string];
      if (name !== ANONYMOUS) checkUserName(name);
      if (!isPermission(permission)) throw new UsageError(`"${permission}" is not a permission: use read, write or admin`);
      checkBucketName(bucket);
      // A grant on a bucket that is not there would go to whoever creates it.
      await checkBucketExists(context.root, bucket);
      await (await context.store()).grant(name, bucket, permission);
      context.out(`granted ${permission} on ${quoted(bucket)} to ${who(name)}`);
    },
  },
  revoke: {
    args: ['NAME', 'BUCKET'],
    options: [],
    changes: true,
    async run(context) {
      const [name, bucket] = context.args as [string, string];
      if (name !== ANONYMOUS) checkUserName(name);
      checkBucketName(bucket);
      const revoked = await (await context.store()).revoke(name, bucket);
      context.out(revoked ? `revoked the grant of ${who(name)} on ${quoted(bucket)}` : `${who(name)} had no grant on ${quoted(bucket)}`);
    },
  },
};

const BUCKET_COMMANDS: Record<string, Command> = {
  quota: {
    args: ['BUCKET', 'SIZE'],
    options: [],
    changes: true,
    async run(context) {
      const [bucket, size] = context.args as [string, string];
      const bytes = size.toLowerCase() === 'none' ? undefined : parseByteSize(size, 'SIZE');
      checkBucketName(bucket);
      const store = await context.store();
      if (bytes === undefined) {
        const had = store.quota(bucket) !== undefined;
        await store.setQuota(bucket, undefined);
        context.out(had ? `removed the quota of ${quoted(bucket)}` : `${quoted(bucket)} has no quota`);
        return;
      }
      await checkBucketExists(context.root, bucket);
      await store.setQuota(bucket, bytes);
      context.out(`quota of ${quoted(bucket)} set to ${humanSize(bytes)} (${bytes} bytes)`);
    },
  },
  quotas: {
    args: [],
    options: [],
    changes: false,
    async run(context) {
      const quotas = [...((await context.existingStore())?.quotas() ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const width = Math.max(0, ...quotas.map(([bucket]) => bucket.length));
      for (const [bucket, bytes] of quotas) context.out(`${bucket.padEnd(width)}  ${bytes}  ${humanSize(bytes)}`);
    },
  },
};

/** name, rights, grants: one line per user, then anonymous if it holds any grant. */
function userLines(users: readonly UserRecord[], anonymous: ReadonlyMap<string, string>): string[] {
  const rows = users.map((user) => [user.name, [user.admin ? 'admin' : '', user.canCreate ? 'create' : ''].filter(Boolean).join(',') || '-', grantsText(Object.entries(user.grants))]);
  if (anonymous.size > 0) rows.push([ANONYMOUS, '-', grantsText([...anonymous])]);
  const width = Math.max(0, ...rows.map(([name]) => name!.length));
  return rows.map(([name, rights, grants]) => `${name!.padEnd(width)}  ${rights!.padEnd('admin,create'.length)}  ${grants}`);
}

function grantsText(grants: Array<[string, string]>): string {
  return (
    grants
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([bucket, permission]) => `${bucket}=${permission}`)
      .join(' ') || '-'
  );
}

/** The folder ROOT names, made if missing when `create`; a Error with one line otherwise. */
async function rootFolder(root: string, create: boolean): Promise<string> {
  const { root: folder } = parseStoreLocation(root);
  try {
    if (create) await mkdir(folder, { recursive: true });
    const real = await realpath(folder);
    if (!(await lstat(real)).isDirectory()) throw new Error(`${root} is not a folder`);
    return real;
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'ENOENT') throw new Error(`no folder ${root}`);
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new Error(`${root} is not a folder`);
    throw error;
  }
}

async function checkBucketExists(root: string, bucket: string): Promise<void> {
  const stats = await lstat(path.join(root, bucket)).catch(() => undefined);
  if (!stats?.isDirectory()) throw new BucketError('NO_SUCH_BUCKET', `no bucket ${quoted(bucket)} in ${root}`);
}

/** Splits the positionals after the command word into its arguments and ROOT. */
function argumentsAndRoot(command: Command, word: string, given: string[], rootOption: string | undefined): { args: string[]; root: string | undefined } {
  if (given.length < command.args.length) throw new UsageError(`${word} needs ${command.args.join(' ')}`);
  if (given.length > command.args.length + 1) throw new UsageError(`too many arguments for ${word}: it takes ${[...command.args, '[ROOT]'].join(' ')}`);
  const positionalRoot = given[command.args.length];
  if (positionalRoot !== undefined && rootOption !== undefined) throw new UsageError('give ROOT once: --root ROOT or a last argument, not both');
  return { args: given.slice(0, command.args.length), root: rootOption ?? positionalRoot };
}

async function main(program: AdminProgram, commands: Record<string, Command>, { values, positionals }: CommandLine<typeof OPTIONS>): Promise<number> {
  const word = positionals[1];
  const words = Object.keys(commands).join(', ');
  if (word === undefined) throw new UsageError(`say which ${program} command: ${words}`);
  const command = Object.hasOwn(commands, word) ? commands[word] : undefined;
  if (command === undefined) throw new UsageError(`unknown ${program} command "${word}"; the commands are ${words}`);
  for (const option of ['admin', 'no-create', 'generate'] as const) {
    if (values[option] !== undefined && !command.options.includes(option)) throw new UsageError(`--${option} does not go with ${program} ${word}`);
  }
  const { args, root: givenRoot } = argumentsAndRoot(command, word, positionals.slice(2), values.root);

  let lines: LineReader | undefined;
  const piped = (): LineReader => (lines ??= new LineReader(process.stdin));
  try {
    let root = givenRoot;
    if (root === undefined || root === '') {
      if (process.stdin.isTTY) root = await askForRoot(process.stdin, process.stderr, true);
      else {
        const line = (await piped().next())?.trim();
        root = line ? expandHome(line) : undefined;
      }
    }
    if (root === undefined || root === '') throw new UsageError('no ROOT folder given');
    const folder = await rootFolder(root, command.changes);
    const hiddenDir = path.join(folder, HIDDEN_DIR);
    let store: UserStore | undefined;
    const context: Context = {
      args,
      values,
      root: folder,
      async store() {
        store ??= await UserStore.open(hiddenDir, { pollMs: 0 });
        return store;
      },
      async existingStore() {
        // Looking into a ROOT that has no bookkeeping yet makes none.
        if ((await lstat(hiddenDir).catch(() => undefined)) === undefined) return undefined;
        return this.store();
      },
      secrets: () => (process.stdin.isTTY ? { terminal: true, input: process.stdin, output: process.stderr } : { terminal: false, lines: piped() }),
      out: (line) => process.stdout.write(`${line}\n`),
      note: (line) => process.stderr.write(`${line}\n`),
    };
    try {
      await command.run(context);
    } finally {
      store?.close();
    }
    return 0;
  } finally {
    lines?.close();
  }
}

/** Runs `bucketd user ...` or `bucketd bucket ...` as the whole program. */
export function runAdminProgram(program: AdminProgram): void {
  const commands = program === 'user' ? USER_COMMANDS : BUCKET_COMMANDS;
  runMain({
    name: 'bucketd',
    usage: program === 'user' ? USER_USAGE : BUCKET_USAGE,
    allowPositionals: true,
    options: OPTIONS,
    main: (commandLine) => main(program, commands, commandLine),
  });
}
