/** "1 file", "2 files": counts in replies and in the shell read as English. */
export function plural(count: number, word: string, pluralWord = `${word}s`): string {
  return `${count} ${count === 1 ? word : pluralWord}`;
}
