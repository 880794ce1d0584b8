/** predict's JSONL rows as the end-to-end tests read them, and how close a printed probability is to its value. */

/** One JSONL row of predict with --per-class (the fields the tests read). */
export interface JsonRow {
  path: string;
  status: string;
  label: string;
  class_index: number;
  confidence: number;
  mean: number[];
  std: number[];
}

/** The rows of predict's JSONL stdout. */
export function jsonRows(stdout: string): JsonRow[] {
  return stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as JsonRow);
}

/** Rows print 6 decimals: half a unit of the last one, plus float32's error on a probability. */
export const PRINTED = 5e-7 + 1e-6;
