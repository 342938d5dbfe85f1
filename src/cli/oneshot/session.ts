/**
 * The server a verb works with: where (target.ts), with which TLS, logged
 * in as whom; and as many connections as a transfer wants, each opened
 * when first used.
 */
import type { ConnectOptions } from '../../client/index.js';
import { ServerConnection } from '../connection.js';
import { UsageError } from '../options.js';
import { askHidden } from '../password-prompt.js';
import { tlsOptionOf, type TlsValues } from '../tls-options.js';
import { resolveTarget, type Target, type TargetValues } from './target.js';

export class VerbSession {
  readonly target: Target;
  readonly #options: Omit<ConnectOptions, 'host' | 'port'>;
  readonly #connections: ServerConnection[] = [];

  private constructor(target: Target, options: Omit<ConnectOptions, 'host' | 'port'>) {
    this.target = target;
    this.#options = options;
  }

  static async open(values: TargetValues & TlsValues, env: NodeJS.ProcessEnv, warn: (line: string) => void, extra: Pick<ConnectOptions, 'connectTimeoutMs'> & { askPassword?: boolean } = {}): Promise<VerbSession> {
    const { askPassword = true, ...connect } = extra;
    const target = await resolveTarget(values, env);
    // The command line's TLS options over the profile's.
    const tlsValues: TlsValues = {
      tls: values.tls ?? target.profile.tls,
      ca: values.ca ?? (values.insecure ? undefined : target.profile.ca),
      insecure: values.insecure ?? (values.ca !== undefined ? undefined : target.profile.insecure),
    };
    const tls = await tlsOptionOf(tlsValues, env, warn);
    const options: Omit<ConnectOptions, 'host' | 'port'> = { ...connect, ...(tls === undefined ? {} : { tls }) };
    if (target.user !== undefined && target.user !== '') {
      options.credentials = { user: target.user, password: await passwordFor(target.user, env, askPassword) };
    }
    return new VerbSession(target, options);
  }

  /** A connection of its own (opened on first use). */
  connection(): ServerConnection {
    const connection = new ServerConnection(this.target.host, this.target.port, this.#options);
    this.#connections.push(connection);
    return connection;
  }

  /** Says goodbye on every connection opened. */
  async close(): Promise<void> {
    await Promise.all(this.#connections.map((connection) => connection.exit().catch(() => connection.close())));
  }
}

async function passwordFor(user: string, env: NodeJS.ProcessEnv, ask: boolean): Promise<string> {
  if (env.BUCKET_PASSWORD !== undefined) return env.BUCKET_PASSWORD;
  if (!ask || process.stdin.isTTY !== true) throw new UsageError(`logging in as "${user}" needs a terminal to ask for the password, or the password in BUCKET_PASSWORD`);
  const password = await askHidden(process.stdin, process.stderr, `password for ${user}: `);
  if (password === undefined) throw new UsageError('no password given');
  return password;
}
