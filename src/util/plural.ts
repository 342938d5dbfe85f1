/** "1 file", "2 files": counts in replies and in the shell read as English. */
export function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}
