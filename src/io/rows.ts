import { csvName } from './names.js';
import { topK, type McSummary } from '../stats/aggregate.js';

/** One image's result: its MC summary (and, when asked, its passes [T, C] and deterministic probabilities [C]), or why it failed. */
export type ImageResult =
  | {
      file: string;
      index: number;
      status: 'ok';
      summary: McSummary;
      passProbs?: Float64Array;
      deterministicProbs?: Float64Array;
      /** With logit scores asked for (a logits model): the mean over passes of the max logit and of the energy -logsumexp(z), and the same of the deterministic pass. */
      logitScores?: { maxLogit: number; energy: number; deterministic?: { maxLogit: number; energy: number } };
      /** Under a calibration: `summary` comes from the tempered passes; the uncalibrated confidence and the prediction set (class indices, rank order). */
      calibrated?: { uncalibratedConfidence: number; set: number[] };
    }
  | { file: string; index: number; status: 'error'; error: string };

/** Decimal places of probabilities and uncertainties in CSV/JSONL (float32 passes: 6 is all they carry). */
const DECIMALS = 6;

const BASE_COLUMNS = ['path', 'label', 'class_index', 'confidence', 'entropy', 'mutual_information', 'expected_entropy', 'variation_ratio', 'margin'] as const;

/** Columns of a calibrated run, before `status`: the confidence before calibration, the prediction set (a JSON array of labels) and its size. */
const CALIBRATED_COLUMNS = ['uncalibrated_confidence', 'set', 'set_size'] as const;

/** Header of the CSV for a given top-k; `passes` (T used per image) follows `margin` with adaptive T; CALIBRATED_COLUMNS precede `status` under a calibration. */
export function csvHeader(topk: number, withPasses = false, calibrated = false): string[] {
  const columns: string[] = [...BASE_COLUMNS];
  if (withPasses) columns.push('passes');
  for (let k = 1; k <= topk; k++) columns.push(`top${k}_label`, `top${k}_prob`);
  if (calibrated) columns.push(...CALIBRATED_COLUMNS);
  columns.push('status', 'error');
  return columns;
}

function fixed(value: number): string {
  return value.toFixed(DECIMALS);
}

/**
 * A text cell a spreadsheet would not run as a formula: one starting with =, +, -, @, a tab or a
 * carriage return gets a leading apostrophe (spreadsheets show the rest as text). Other cells are kept.
 */
function spreadsheetSafe(cell: string): string {
  return /^[=+\-@\t\r]/.test(cell) ? `'${cell}` : cell;
}

/**
 * One CSV record (unquoted values; the CSV writer quotes). A path that is not valid UTF-8 is
 * written with csvName's escape. `safe`: the text cells (path, labels,
 * error) through spreadsheetSafe; numbers are never changed.
 */
export function csvRecord(result: ImageResult, labels: readonly string[], topk: number, withPasses = false, safe = false, calibrated = false): string[] {
  const text = safe ? spreadsheetSafe : (cell: string) => cell;
  if (result.status === 'error') {
    const empty = BASE_COLUMNS.length - 1 + (withPasses ? 1 : 0) + 2 * topk + (calibrated ? CALIBRATED_COLUMNS.length : 0);
    return [text(csvName(result.file)), ...Array<string>(empty).fill(''), 'error', text(result.error)];
  }
  const s = result.summary;
  const record = [
    text(csvName(result.file)),
    text(labels[s.predicted] ?? String(s.predicted)),
    String(s.predicted),
    fixed(s.confidence),
    fixed(s.entropy),
    fixed(s.mutualInformation),
    fixed(s.expectedEntropy),
    fixed(s.variationRatio),
    fixed(s.margin),
  ];
  if (withPasses) record.push(String(s.passes));
  for (const c of topK(s.mean, topk)) record.push(text(labels[c] ?? String(c)), fixed(s.mean[c]!));
  for (let k = Math.min(topk, s.mean.length); k < topk; k++) record.push('', '');
  if (calibrated) {
    const c = result.calibrated!;
    record.push(fixed(c.uncalibratedConfidence), JSON.stringify(c.set.map((k) => labels[k] ?? String(k))), String(c.set.length));
  }
  record.push('ok', '');
  return record;
}

const round = (v: number): number => Number(v.toFixed(DECIMALS));

/** One JSONL object; with perClass, the full mean and std vectors. */
export function jsonRecord(result: ImageResult, labels: readonly string[], topk: number, perClass: boolean, withPasses = false): Record<string, unknown> {
  if (result.status === 'error') return { path: result.file, status: 'error', error: result.error };
  const s = result.summary;
  const record: Record<string, unknown> = {
    path: result.file,
    label: labels[s.predicted] ?? String(s.predicted),
    class_index: s.predicted,
    confidence: round(s.confidence),
    entropy: round(s.entropy),
    mutual_information: round(s.mutualInformation),
    expected_entropy: round(s.expectedEntropy),
    variation_ratio: round(s.variationRatio),
    margin: round(s.margin),
    ...(withPasses && { passes: s.passes }),
    topk: topK(s.mean, topk).map((c) => ({ label: labels[c] ?? String(c), class_index: c, prob: round(s.mean[c]!) })),
    ...(result.calibrated && {
      uncalibrated_confidence: round(result.calibrated.uncalibratedConfidence),
      set: result.calibrated.set.map((k) => labels[k] ?? String(k)),
      set_indices: result.calibrated.set,
      set_size: result.calibrated.set.length,
    }),
    status: 'ok',
  };
  if (perClass) {
    record.mean = Array.from(s.mean, round);
    record.std = Array.from(s.std, round);
  }
  return record;
}
