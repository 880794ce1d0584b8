import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { UsageError } from '../errors.js';
import type { ScoredRow } from '../select/rank.js';

/** The rows of a finished predict output (CSV or JSONL, told apart by content), for select and later readers. */
export interface RunRows {
  /** ok rows, in output order. */
  rows: ScoredRow[];
  /** Rows with status error (left out). */
  errors: number;
}

export function readRunRows(file: string): RunRows {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch {
    throw new UsageError(`Cannot read the predict output ${file}; give the CSV or JSONL file a predict run wrote`);
  }
  const records: Record<string, unknown>[] = text.trimStart().startsWith('{')
    ? text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>)
    : parse(text, { columns: true }) as Record<string, unknown>[];
  const missing = ['path', 'status', 'confidence', 'entropy', 'mutual_information', 'variation_ratio', 'margin']
    .filter((k) => records.length > 0 && !(k in records[0]!));
  if (missing.length > 0) throw new UsageError(`${file} is not a predict output: it has no ${missing.join(', ')} column`);
  const ok = records.filter((r) => r.status === 'ok');
  return {
    rows: ok.map((r) => ({
      path: String(r.path), label: String(r.label), confidence: Number(r.confidence), entropy: Number(r.entropy),
      mutualInformation: Number(r.mutual_information), variationRatio: Number(r.variation_ratio), margin: Number(r.margin),
    })),
    errors: records.length - ok.length,
  };
}
