/** Parsing and checking of the command-line values both programs share. */
import { DEFAULT_HOST, DEFAULT_PORT } from '../client/defaults.js';

export class UsageError extends Error {}

export function parsePort(text: string | undefined, fallback: number = DEFAULT_PORT): number {
  if (text === undefined || text === '') return fallback;
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError(`invalid port "${text}": use a number from 0 to 65535`);
  return Number(text);
}

export function hostOf(text: string | undefined): string {
  return text === undefined || text === '' ? DEFAULT_HOST : text;
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** A byte count such as 1048576, 512K, 10M or 2G (binary units). */
export function parseByteSize(text: string, option: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  const unit = UNITS[match?.[2]?.toLowerCase() ?? ''];
  if (!match || unit === undefined) throw new UsageError(`invalid ${option} "${text}": use bytes, or a number with K, M, G or T`);
  const bytes = Math.floor(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`invalid ${option} "${text}": too large`);
  return bytes;
}

/** Seconds as given on the command line, to milliseconds. */
export function parseSeconds(text: string, option: string): number {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text)) throw new UsageError(`invalid ${option} "${text}": use a number of seconds`);
  return Math.round(Number(text) * 1000);
}

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration such as 90s, 30m, 24h or 7d (a bare number is seconds); in milliseconds. */
export function parseDuration(text: string, option: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)([smhd]?)$/.exec(text);
  if (!match) throw new UsageError(`invalid ${option} "${text}": use a duration such as 90s, 30m, 24h or 7d (0: never)`);
  return Math.round(Number(match[1]) * DURATION_UNITS[match[2] || 's']!);
}

export function parseCount(text: string, option: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(text)) throw new UsageError(`invalid ${option} "${text}": use a whole number above 0`);
  return Number(text);
}

/** HOST:PORT, with brackets around an IPv6 host. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
