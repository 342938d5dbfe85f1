/** An unfinished upload's id: 128 random bits as 32 lower-case hex digits. */
export function isUploadId(text: string): boolean {
  return /^[0-9a-f]{32}$/.test(text);
}
