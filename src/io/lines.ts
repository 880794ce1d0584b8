import { readInputBytes, readInputText } from './read-file.js';
import { nameFromBytes } from './names.js';

/**
 * Trimmed, non-empty lines of a text file (`-` reads stdin), for labels.
 * An unreadable file is a UsageError naming what it is, the file and what it should hold.
 */
export function readLines(file: string, what: string, expected: string): string[] {
  return readInputText(file, { what, expected })
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

/**
 * The paths of a list file (`-` reads stdin). 'lines': one path per line, trimmed; empty lines and
 * lines starting with `#` are skipped. 'nul': NUL-separated, exactly as written (`find -print0`),
 * no comments. Relative paths stay relative: they resolve against the working directory, like
 * `tar -T` and `rsync --files-from`.
 */
export function readPathList(file: string, separator: 'lines' | 'nul'): string[] {
  const expected = separator === 'nul' ? 'give a file of NUL-separated paths, or - for stdin' : 'give a file with one path per line, or - for stdin';
  const read = readInputBytes(file, { what: 'the list', expected });
  // a byte-order mark (what some editors write) is not part of the first path
  const bytes = read[0] === 0xef && read[1] === 0xbb && read[2] === 0xbf ? read.subarray(3) : read;
  // split as bytes, so a path that is not valid UTF-8 keeps its bytes (names.ts)
  const pieces: string[] = [];
  const end = separator === 'nul' ? 0x00 : 0x0a;
  for (let start = 0; start <= bytes.length;) {
    let stop = bytes.indexOf(end, start);
    if (stop < 0) stop = bytes.length;
    pieces.push(nameFromBytes(bytes.subarray(start, stop)));
    start = stop + 1;
  }
  if (separator === 'nul') return pieces.filter((p) => p.length > 0);
  return pieces.map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith('#'));
}

/** Class labels, one per line. */
export function readLabels(file: string): string[] {
  return readLines(file, 'the labels file', 'give a text file with one label per line');
}

/**
 * The records of JSON Lines text, blank lines skipped: the one reader of predict's JSONL outputs.
 * A line that is not JSON throws what `bad` makes of its line number (1-based, blank lines counted).
 */
export function parseJsonLines<T = Record<string, unknown>>(text: string, bad: (line: number) => Error): T[] {
  const records: T[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      records.push(JSON.parse(line) as T);
    } catch {
      throw bad(i + 1);
    }
  });
  return records;
}
