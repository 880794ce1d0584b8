import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { param, UsageError } from '../errors.js';
import { parseJsonLines } from '../io/lines.js';
import { imagePasses, readNpyPasses } from '../io/npy.js';
import type { ScoredRow } from '../select/rank.js';
import { summarize } from '../stats/aggregate.js';

/**
 * The rows of a finished predict output (CSV or JSONL, told apart by content) or of a --save-passes
 * .npy (its label column then holds class indices), for select and later readers.
 */
export interface RunRows {
  /** ok rows, in output order. */
  rows: ScoredRow[];
  /** Rows with status error (left out). */
  errors: number;
}

export function readRunRows(file: string): RunRows {
  if (file.endsWith('.npy')) return rowsOfPasses(file);
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch {
    throw new UsageError(`Cannot read the predict output ${file}; give the CSV or JSONL file a predict run wrote`);
  }
  const records: Record<string, unknown>[] = text.trimStart().startsWith('{')
    ? parseJsonLines(text, (line) => new UsageError(`${file} line ${line} is not JSON: give the CSV or JSONL file a predict run wrote`))
    : (parse(text, { columns: true }) as Record<string, unknown>[]);
  const missing = ['path', 'status', 'confidence', 'entropy', 'mutual_information', 'variation_ratio', 'margin'].filter(
    (k) => records.length > 0 && !(k in records[0]!),
  );
  if (missing.length > 0) throw new UsageError(`${file} is not a predict output: it has no ${missing.join(', ')} column`);
  const ok = records.filter((r) => r.status === 'ok');
  return {
    rows: ok.map((r) => ({
      path: String(r.path),
      label: String(r.label),
      confidence: Number(r.confidence),
      entropy: Number(r.entropy),
      mutualInformation: Number(r.mutual_information),
      variationRatio: Number(r.variation_ratio),
      margin: Number(r.margin),
    })),
    errors: records.length - ok.length,
  };
}

/** Each image's uncertainty from its saved passes (an adaptive run's NaN passes left out); an all-NaN image is an error row. */
function rowsOfPasses(file: string): RunRows {
  const saved = readNpyPasses(file);
  const classes = saved.shape[2];
  const rows: ScoredRow[] = [];
  imagePasses(saved).forEach((probs, i) => {
    if (probs.length === 0) return;
    const s = summarize(probs, classes);
    rows.push({
      path: saved.paths[i]!,
      label: String(s.predicted),
      confidence: s.confidence,
      entropy: s.entropy,
      mutualInformation: s.mutualInformation,
      variationRatio: s.variationRatio,
      margin: s.margin,
    });
  });
  return { rows, errors: saved.shape[0] - rows.length };
}

/** Every image's passes from a --save-passes file, for BatchBALD: images with a full set of passes only, with their predicted class. */
export function readFullPasses(file: string): { paths: string[]; passes: Float64Array[]; predicted: number[]; classes: number; left: number } {
  if (!file.endsWith('.npy'))
    throw new UsageError(`BatchBALD needs every pass of every image: give the .npy that predict ${param('savePasses')} wrote, not ${file}`);
  const saved = readNpyPasses(file);
  const [, passes, classes] = saved.shape;
  const out = { paths: [] as string[], passes: [] as Float64Array[], predicted: [] as number[], classes, left: 0 };
  imagePasses(saved).forEach((probs, i) => {
    if (probs.length !== passes * classes) {
      out.left++;
      return;
    }
    out.paths.push(saved.paths[i]!);
    out.passes.push(probs);
    out.predicted.push(summarize(probs, classes).predicted);
  });
  return out;
}
