/**
 * Which server a one-shot verb talks to, and as whom: `--server
 * bucket://alice@host:9077`, or --host/--port, or a named profile from the
 * config file (`--profile work`), or BUCKET_SERVER, or BUCKETD_HOST and
 * BUCKETD_PORT; the first given wins, in that order.
 *
 * The config file is JSON in the user's config folder
 * ($XDG_CONFIG_HOME/bucket/config.json, else ~/.config/bucket/config.json):
 *   { "profiles": { "work": { "server": "bucket://alice@files.example:9077", "tls": true, "ca": "/path/ca.pem" } } }
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_HOST, DEFAULT_PORT } from '../../client/index.js';
import { hostOf, parsePort, UsageError } from '../options.js';

export interface ServerAddress {
  host: string;
  port: number;
  user?: string;
}

export interface Profile {
  server?: string;
  user?: string;
  tls?: boolean;
  ca?: string;
  insecure?: boolean;
}

export interface TargetValues {
  server?: string | undefined;
  host?: string | undefined;
  port?: string | undefined;
  profile?: string | undefined;
  user?: string | undefined;
}

export interface Target extends ServerAddress {
  /** TLS settings from the profile, merged under the command line's. */
  profile: Profile;
}

/** bucket://[user@]host[:port], the host may be [IPv6]. */
export function parseServerUrl(text: string, where = '--server'): ServerAddress {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`invalid ${where} "${text}": write it as bucket://[user@]host[:port]`);
  }
  if (url.protocol !== 'bucket:' || url.hostname === '' || (url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '' || url.password !== '') {
    throw new UsageError(`invalid ${where} "${text}": write it as bucket://[user@]host[:port]`);
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const address: ServerAddress = { host, port: parsePort(url.port, DEFAULT_PORT) };
  if (url.username !== '') address.user = decodeURIComponent(url.username);
  return address;
}

export function configPath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME !== undefined && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(env.HOME ?? os.homedir(), '.config');
  return path.join(base, 'bucket', 'config.json');
}

export async function loadProfile(name: string, env: NodeJS.ProcessEnv): Promise<Profile> {
  const file = configPath(env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new UsageError(`no profile "${name}": ${file} cannot be read`);
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    throw new UsageError(`${file} is not valid JSON`);
  }
  const profiles = typeof config === 'object' && config !== null && 'profiles' in config ? config.profiles : undefined;
  const profile = typeof profiles === 'object' && profiles !== null && Object.prototype.hasOwnProperty.call(profiles, name) ? (profiles as Record<string, unknown>)[name] : undefined;
  if (typeof profile !== 'object' || profile === null) throw new UsageError(`no profile "${name}" in ${file}`);
  const { server, user, tls, ca, insecure } = profile as Record<string, unknown>;
  const checked: Profile = {};
  if (typeof server === 'string') checked.server = server;
  if (typeof user === 'string') checked.user = user;
  if (typeof tls === 'boolean') checked.tls = tls;
  if (typeof ca === 'string') checked.ca = ca;
  if (typeof insecure === 'boolean') checked.insecure = insecure;
  return checked;
}

export async function resolveTarget(values: TargetValues, env: NodeJS.ProcessEnv): Promise<Target> {
  if (values.server !== undefined && (values.host !== undefined || values.port !== undefined)) throw new UsageError('give --server or --host/--port, not both');
  const profileName = values.profile ?? (env.BUCKET_PROFILE || undefined);
  const profile = profileName === undefined ? {} : await loadProfile(profileName, env);
  let address: ServerAddress;
  if (values.server !== undefined) address = parseServerUrl(values.server);
  else if (values.host !== undefined || values.port !== undefined) address = { host: hostOf(values.host), port: parsePort(values.port) };
  else if (profile.server !== undefined) address = parseServerUrl(profile.server, `server of profile "${profileName}"`);
  else if (env.BUCKET_SERVER) address = parseServerUrl(env.BUCKET_SERVER, 'BUCKET_SERVER');
  else address = { host: hostOf(env.BUCKETD_HOST ?? DEFAULT_HOST), port: parsePort(env.BUCKETD_PORT) };
  const user = values.user ?? address.user ?? profile.user ?? (env.BUCKET_USER || undefined);
  return { host: address.host, port: address.port, ...(user === undefined ? {} : { user }), profile };
}
