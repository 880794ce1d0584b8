import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';

/**
 * Trimmed, non-empty lines of a text file (`-` reads stdin), for --list and --labels.
 * An unreadable file is a UsageError naming the flag, the file and what it should hold.
 */
export function readLines(file: string, flag: string, expected: string): string[] {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch {
    throw new UsageError(`Cannot read ${flag} ${file}; ${expected}`);
  }
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
}

/** Class labels, one per line. */
export function readLabels(file: string): string[] {
  return readLines(file, '--labels', 'give a text file with one label per line');
}
