/**
 * A listing with a prefix and a delimiter, from a server older than
 * protocol 3 (which knows only `LIST_FILE,<bucket>`): the whole bucket's
 * listing, filtered here as a protocol 3 server would filter it — names
 * that start with the prefix (in NFC, as the server reads it), and with
 * the delimiter, what lies deeper folded into one folder entry each.
 */
import type { FileEntry, ListEntry } from '../protocol/messages.js';

/**
 * `files` must come in name order (byte order of UTF-8), as every
 * server sends them: then the names under one folder come together, and
 * each folder is one entry, in its place among the files.
 */
export async function* filterListing(files: AsyncIterable<FileEntry>, prefix: string, delimiter: '/' | undefined): AsyncGenerator<ListEntry> {
  const wanted = prefix.normalize('NFC');
  let lastFolder: string | undefined;
  for await (const file of files) {
    if (!file.name.startsWith(wanted)) continue;
    if (delimiter !== undefined) {
      const cut = file.name.indexOf(delimiter, wanted.length);
      if (cut >= 0) {
        const folder = file.name.slice(0, cut + delimiter.length);
        if (folder !== lastFolder) {
          lastFolder = folder;
          yield { kind: 'folder', name: folder };
        }
        continue;
      }
    }
    yield file;
  }
}
