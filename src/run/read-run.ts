import { existsSync } from 'node:fs';
import { readInputText } from '../io/read-file.js';
import { parse } from '../io/csv.js';
import { refuseRepeatedPaths } from '../io/targets.js';
import { param, UsageError } from '../errors.js';
import { sha256Hex, array, checkedAs, contentSha256, either, literal, number, object, optional, readJsonFile, string } from '../io/schema.js';
import { preprocessCheck, type RecordedPreprocess } from '../preprocess/record.js';
import { parseJsonLines } from '../io/lines.js';
import { imagePasses, readNpyPasses, type SavedPasses } from '../io/npy.js';
import { digestOf } from '../io/durable.js';
import { MAX_SEED } from '../engine/masks.js';
import type { ScoredRow } from '../select/rank.js';
import { summarize } from '../stats/aggregate.js';
import { passesSidecars } from '../io/sidecars.js';

/** One record of a predict output, checked: an ok row's uncertainty columns are numbers; JSONL with --per-class also has `mean`. */
export interface PredictRecord {
  path: string;
  status: string;
  label: string;
  confidence: number;
  entropy: number;
  mutual_information: number;
  variation_ratio: number;
  margin: number;
  /** T of the row (adaptive runs). */
  passes?: number;
  /** Every class's mean probability (JSONL with --per-class). */
  mean?: number[];
}

const UNCERTAINTY_COLUMNS = ['confidence', 'entropy', 'mutual_information', 'variation_ratio', 'margin'] as const;

/**
 * The one reader of a finished predict output (CSV or JSONL, told apart by content), for select
 * and evaluate: every record once (an image listed twice is refused), every ok row's numbers
 * numbers. `expected` says what the caller reads, after a refusal.
 */
export function readPredictOutput(file: string, expected: string): PredictRecord[] {
  const text = readInputText(file, { what: 'the predict output', expected });
  const records: Record<string, unknown>[] = text.trimStart().startsWith('{')
    ? parseJsonLines(text, (line) => new UsageError(`${file} line ${line} is not JSON: ${expected}`))
    : csvRecords(text, file, expected);
  const missing = ['path', 'status', ...UNCERTAINTY_COLUMNS].filter((k) => records.length > 0 && !(k in records[0]!));
  if (missing.length > 0) throw new UsageError(`${file} is not a predict output: it has no ${missing.join(', ')} column`);
  refuseRepeatedPaths(
    records.map((r) => String(r.path)),
    file,
  );
  return records.map((r) => {
    const ok = r.status === 'ok';
    const bad = ok ? UNCERTAINTY_COLUMNS.find((k) => typeof r[k] === 'boolean' || r[k] === null || r[k] === '' || !Number.isFinite(Number(r[k]))) : undefined;
    if (bad) throw new UsageError(`${file}: the row of ${String(r.path)} has ${JSON.stringify(r[bad])} for ${bad}, not a number; ${expected}`);
    if (ok && r.mean !== undefined && !(Array.isArray(r.mean) && r.mean.every((p) => typeof p === 'number' && p >= 0 && p <= 1)))
      throw new UsageError(`${file}: the row of ${String(r.path)} has a "mean" that is not a list of probabilities; ${expected}`);
    return {
      path: String(r.path),
      status: String(r.status),
      label: String(r.label),
      confidence: Number(r.confidence),
      entropy: Number(r.entropy),
      mutual_information: Number(r.mutual_information),
      variation_ratio: Number(r.variation_ratio),
      margin: Number(r.margin),
      ...(r.passes !== undefined && { passes: Number(r.passes) }),
      ...(Array.isArray(r.mean) && { mean: r.mean as number[] }),
    };
  });
}

/** The records of a CSV predict output; one that is not CSV is a UsageError naming the file (csv-parse's reason kept). */
function csvRecords(text: string, file: string, expected: string): Record<string, unknown>[] {
  try {
    return parse<Record<string, unknown>>(text, { columns: true });
  } catch (error) {
    throw new UsageError(
      `${file} is not a predict output (${error instanceof Error ? error.message.split('\n')[0]!.slice(0, 120) : String(error)}); ${expected}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * The rows of a finished predict output or of a --save-passes .npy (its label column then holds
 * class indices), for select.
 */
export interface RunRows {
  /** ok rows, in output order. */
  rows: ScoredRow[];
  /** Rows with status error (left out). */
  errors: number;
}

export function readRunRows(file: string): RunRows {
  if (file.endsWith('.npy')) return rowsOfPasses(file);
  const records = readPredictOutput(file, 'give the CSV or JSONL file a predict run wrote');
  const ok = records.filter((r) => r.status === 'ok');
  return {
    rows: ok.map((r) => ({
      path: r.path,
      label: r.label,
      confidence: r.confidence,
      entropy: r.entropy,
      mutualInformation: r.mutual_information,
      variationRatio: r.variation_ratio,
      margin: r.margin,
    })),
    errors: records.length - ok.length,
  };
}

/** Each image's uncertainty from its saved passes (an adaptive run's NaN passes left out); an all-NaN image is an error row. */
function rowsOfPasses(file: string): RunRows {
  const { saved } = readSavedPasses(file);
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
  const { saved } = readSavedPasses(file);
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

/** What made a passes file, as its `<file>.run.json` records it (io/npy.ts PassesRun), read back typed. */
export interface SavedRun {
  model_sha256: string;
  classes: number;
  labels: string[];
  /** Read from today's snake_case record or an earlier release's camelCase one. */
  preprocess: RecordedPreprocess;
  passes: number | 'auto';
  seed: number;
  /** Absent in records written before the rates were kept. */
  dropout_rates?: number[];
  /** SHA-256 of the .npy and of its .paths.json (absent in records written before they were kept). */
  npy_sha256?: string;
  paths_sha256?: string;
  /** An ensemble's or TTA's passes: the members (in the rows' order) and the views; each image's rows are pass-major, T x members x views. */
  members?: { path: string; sha256: string; passes: number }[];
  views?: string[];
}

/** Rows per image a record says its .npy holds: T, or an ensemble's T x members x views. */
function rowsPerImage(run: SavedRun): number | 'auto' {
  if (run.passes === 'auto') return 'auto';
  return run.passes * (run.members?.length ?? 1) * (run.views?.length ?? 1);
}

const passesRunCheck = object({
  model_sha256: sha256Hex,
  classes: number({ integer: true, min: 1 }),
  labels: array(string()),
  preprocess: preprocessCheck,
  passes: either(number({ integer: true, min: 1, max: 100_000 }), literal('auto'), 'an integer in [1, 100000] or "auto"'),
  seed: number({ integer: true, min: 0, max: MAX_SEED }),
  dropout_rates: optional(array(number({ min: 0, below: 1 }))),
  npy_sha256: optional(sha256Hex),
  paths_sha256: optional(sha256Hex),
  members: optional(array(object({ path: string(), sha256: sha256Hex, passes: number({ integer: true, min: 1, max: 100_000 }) }), { minLength: 1 })),
  views: optional(array(string(), { minLength: 1 })),
  sha256: optional(sha256Hex),
});

/** An ensemble's rows as its record lays them out: digested (every release that writes them does), pass-major, the identity view first, each view once, each member T passes or one. */
function checkLayout(run: SavedRun & { row_order?: unknown }, sha256: string | undefined, runFile: string, role: { what: string; expected: string }): void {
  const bad = (why: string): never => {
    throw new UsageError(`Cannot use ${role.what} ${runFile}: ${why}; ${role.expected}`);
  };
  if (sha256 === undefined) bad('it records members or views but no "sha256", which the release that writes them always records: it was edited');
  if (run.row_order !== 'pass, member, view') bad(`its "row_order" is ${JSON.stringify(run.row_order)}, not "pass, member, view"`);
  const views = run.views ?? ['identity'];
  if (views[0] !== 'identity' || new Set(views).size !== views.length)
    bad(`its "views" must start with "identity" and name each view once, not ${JSON.stringify(views)}`);
  for (const m of run.members ?? [])
    if (m.passes !== run.passes && m.passes !== 1) bad(`the member ${m.path} has ${m.passes} passes in a run of T=${run.passes}`);
}

/** The `<file>.run.json` of a passes file (what made the passes), checked, or undefined when there is none (files from before it was written). */
export function readPassesRun(file: string): SavedRun | undefined {
  const runFile = passesSidecars(file).run;
  if (!existsSync(runFile)) return undefined;
  const role = { what: 'the record of the passes', expected: `rerun predict with ${param('savePasses')}` };
  const recorded: Record<string, unknown> = readJsonFile(runFile, role, object({}));
  const { sha256, ...run } = checkedAs(recorded, runFile, role, passesRunCheck);
  if (run.labels.length !== run.classes)
    throw new UsageError(`Cannot read ${role.what} ${runFile}: it lists ${run.labels.length} labels for ${run.classes} classes; ${role.expected}`);
  // records written before the digest was kept have none
  if (sha256 !== undefined && contentSha256(recorded) !== sha256)
    throw new UsageError(`Cannot use ${role.what} ${runFile}: its content no longer matches its "sha256": it was changed after the run; ${role.expected}`);
  if (run.members || run.views) checkLayout(run, sha256, runFile, role);
  return run;
}

/**
 * A passes file and its record, read together: the record's digests of the passes and their paths
 * checked, and its T and classes against the array's shape, so passes from another run (or edited
 * ones) are never read as this record's. `run` is undefined for files saved before records were kept.
 */
export function readSavedPasses(file: string): { saved: SavedPasses; run: SavedRun | undefined } {
  const saved = readNpyPasses(file);
  const run = readPassesRun(file);
  if (run) {
    const files = passesSidecars(file);
    const bad = (why: string): never => {
      throw new UsageError(`${file} does not match its record ${files.run}: ${why}; rerun predict with ${param('savePasses')}`);
    };
    const [, passes, classes] = saved.shape;
    if (classes !== run.classes) bad(`it holds ${classes} classes, the record says ${run.classes}`);
    const rows = rowsPerImage(run);
    if (rows !== 'auto' && passes !== rows)
      bad(
        `it holds ${passes} passes per image, the record says ${rows === run.passes ? `T=${run.passes}` : `${rows} (T=${run.passes} x ${run.members?.length ?? 1} members x ${run.views?.length ?? 1} views)`}`,
      );
    if (run.npy_sha256 !== undefined && saved.sha256 !== run.npy_sha256) bad('the passes were changed after the run');
    if (run.paths_sha256 !== undefined && digestOf(files.paths).sha256 !== run.paths_sha256) bad(`${files.paths} was changed after the run`);
  }
  return { saved, run };
}
