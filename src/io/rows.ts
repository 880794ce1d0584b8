import { InternalError } from '../errors.js';
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
      /** An ensemble's or test-time augmentation's run: the mutual information split by source, and the members' disagreement (ensemble/decomposition.ts). */
      parts?: UncertaintyParts;
      /** Kept when asked (evaluate's methods): each member's passes per view [T, C] and its deterministic probabilities per view [C]. */
      members?: { passes: Float64Array[]; deterministic?: Float64Array[] }[];
    }
  | { file: string; index: number; status: 'error'; error: string };

/** The parts of the mutual information by source, in nats, and the share of members whose top class differs from the ensemble's. */
export interface UncertaintyParts {
  betweenMembers: number;
  betweenViews: number;
  withinPasses: number;
  memberDisagreement: number;
}

/** What a run's rows hold besides the base columns: top-k, T per image (adaptive), a calibration's columns, the uncertainty's parts (ensembles and TTA). */
export interface RowShape {
  topk: number;
  withPasses?: boolean;
  calibrated?: boolean;
  withParts?: boolean;
}

/** Decimal places of probabilities and uncertainties in CSV/JSONL (float32 passes: 6 is all they carry). */
const DECIMALS = 6;

const BASE_COLUMNS = ['path', 'label', 'class_index', 'confidence', 'entropy', 'mutual_information', 'expected_entropy', 'variation_ratio', 'margin'] as const;

/** Columns of a calibrated run, before `status`: the confidence before calibration, the prediction set (a JSON array of labels) and its size. */
const CALIBRATED_COLUMNS = ['uncalibrated_confidence', 'set', 'set_size'] as const;

/** Columns of an ensemble's or TTA's run, after `margin`: the mutual information between members, between views and within (MC dropout), and member disagreement. */
const PART_COLUMNS = ['mutual_information_members', 'mutual_information_views', 'mutual_information_passes', 'member_disagreement'] as const;

/**
 * Header of the CSV: the base columns; PART_COLUMNS after `margin` for an ensemble or TTA; `passes`
 * (T used per image) with adaptive T; top-k; CALIBRATED_COLUMNS before `status` under a calibration.
 */
export function csvHeader({ topk, withPasses = false, calibrated = false, withParts = false }: RowShape): string[] {
  const columns: string[] = [...BASE_COLUMNS];
  if (withParts) columns.push(...PART_COLUMNS);
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
export function csvRecord(result: ImageResult, labels: readonly string[], shape: RowShape, safe = false): string[] {
  const { topk, withPasses = false, calibrated = false, withParts = false } = shape;
  const text = safe ? spreadsheetSafe : (cell: string) => cell;
  if (result.status === 'error') {
    const empty =
      BASE_COLUMNS.length - 1 + (withParts ? PART_COLUMNS.length : 0) + (withPasses ? 1 : 0) + 2 * topk + (calibrated ? CALIBRATED_COLUMNS.length : 0);
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
  if (withParts) record.push(...partsOf(result).map(fixed));
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

/** An ok result's parts in PART_COLUMNS' order (a plain run's row has none: every part but `within` is 0 there, and the columns are not written). */
function partsOf(result: Extract<ImageResult, { status: 'ok' }>): number[] {
  const p = result.parts;
  if (!p) throw new InternalError(`Expected the uncertainty's parts of ${result.file} for an ensemble's row`);
  return [p.betweenMembers, p.betweenViews, p.withinPasses, p.memberDisagreement];
}

const round = (v: number): number => Number(v.toFixed(DECIMALS));

/** One JSONL object; with perClass, the full mean and std vectors. */
export function jsonRecord(result: ImageResult, labels: readonly string[], shape: RowShape, perClass: boolean): Record<string, unknown> {
  const { topk, withPasses = false, withParts = false } = shape;
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
    ...(withParts && Object.fromEntries(PART_COLUMNS.map((column, i) => [column, round(partsOf(result)[i]!)]))),
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
