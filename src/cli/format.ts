/** Plain words for the `bucket` program's output: sizes, times, names. */

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 0 B, 999 B, 1.0 KiB, 51.3 MiB, 4.0 GiB */
export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${UNITS[unit]}`;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Local time as YYYY-MM-DD HH:MM:SS. */
export function humanTime(date: Date): string {
  if (date.getTime() === 0) return '-';
  return `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())} ${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`;
}

/** Makes a name safe to print on one line of a terminal. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

export { plural } from '../util/plural.js';

/** `connection lost, resuming at 1.7 GiB`; for what an earlier run left unfinished (attempt 0), `resuming an unfinished upload at 1.7 GiB`. */
export function resumedLine(info: { direction: 'upload' | 'download'; offset: number; attempt: number }): string {
  return info.attempt === 0 ? `resuming an unfinished ${info.direction} at ${humanSize(info.offset)}` : `connection lost, resuming at ${humanSize(info.offset)}`;
}
