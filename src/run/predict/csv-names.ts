/** The one check a CSV's path cells need of a predict run's inputs (io/names.ts csvName). */
import { param, UsageError } from '../../errors.js';
import { csvName, csvNameClash } from '../../io/names.js';

/**
 * Refuses inputs that a CSV would name by the same path cell (csvNameClash): their rows could not
 * be told apart, and a resumed run would take one's row for the other's and skip it.
 */
export function refuseCsvNameClash(files: readonly string[]): void {
  const clash = csvNameClash(files);
  if (!clash) return;
  const [raw, valid] = clash;
  throw new UsageError(
    `Two inputs would have the same path cell in a CSV: ${csvName(raw)}, a name that is not UTF-8 (a CSV writes each such byte as \\xHH), and the file named ${valid}. Write JSONL (${param({ format: 'jsonl' })}), which keeps every name exactly, or rename one of them`,
  );
}
