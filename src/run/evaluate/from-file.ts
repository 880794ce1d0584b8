/**
 * `evaluate --from` an earlier run's file: a --save-passes .npy (every metric and the T curve), a
 * JSONL predict output with per-class means (every metric, no T curve), or an evaluation JSON
 * (read back as it is). Neither run file holds a deterministic pass.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { checkCalibrationFits } from '../../calibration/calibration.js';
import { checkCalibrationRun } from '../../calibration/fit-check.js';
import { param, UsageError } from '../../errors.js';
import { readTruth } from '../../evaluate/truth.js';
import { imagePasses } from '../../io/npy.js';
import { array, either, literal, number, object, optional, readJsonFile, string } from '../../io/schema.js';
import { metadataOf } from '../../io/sidecars.js';
import { checkInputsAreNotOutputs } from '../../io/targets.js';
import { readMetadata } from '../../model/metadata.js';
import { readOnnxFile } from '../../model/read.js';
import { summarize } from '../../stats/aggregate.js';
import type { RunHooks } from '../hooks.js';
import { labelsFor, labelsFromModel } from '../labels.js';
import { noTruth, truthSource } from '../labeled-run.js';
import { decomposeUncertainty } from '../../ensemble/decomposition.js';
import { splitPassMajorRows } from '../../ensemble/rows.js';
import { readPredictOutput, readSavedPasses, type SavedRun } from '../read-run.js';
import { readEvaluationReport, type EvaluationReport } from './file.js';
import { calibrationToCheck, EvaluationBuilder, type CheckedCalibration } from './report.js';

/** An evaluation of an earlier run's file (a passes .npy or a JSONL output with per-class means) instead of running the model. */
export interface EvaluateFromConfig {
  /** A predict output in JSONL with per-class means, or a --save-passes .npy. */
  from: string;
  /** Labels: this file, else the output's metadata sidecar, else this model's metadata, else class indices. */
  labelsFile?: string;
  model?: string;
  truthFile?: string;
  requireTruth: boolean;
  /** A calibration to check on the passes (a .npy with its .run.json only: sets need every pass). */
  calibration?: string;
  /** Identities (device:inode) of the files the caller will write, with their names: an input that is one is refused. */
  outputs?: ReadonlyMap<string, string>;
  version: string;
}

/** Reads an earlier file by its kind: an evaluation (.json), a passes file (.npy) or a predict output (JSONL). */
export async function evaluationFromFile(config: EvaluateFromConfig, hooks: RunHooks = {}): Promise<EvaluationReport> {
  // nothing the command writes may be a file it reads
  checkInputsAreNotOutputs(
    [
      { role: 'the earlier run', path: config.from },
      { role: 'the labels file', path: config.labelsFile },
      { role: 'the truth file', path: config.truthFile },
      { role: 'the model', path: config.model },
      { role: 'the calibration', path: config.calibration },
    ],
    config.outputs ?? new Map(),
  );
  if (config.from.endsWith('.json')) return readEvaluationReport(config.from);
  return evaluateEarlierRun(config, hooks);
}

/** Evaluates an earlier run's file: a --save-passes .npy, or a JSONL predict output with per-class means. */
export async function evaluateEarlierRun(config: EvaluateFromConfig, hooks: RunHooks = {}): Promise<EvaluationReport> {
  const started = new Date();
  const warn = hooks.onWarning ?? (() => {});
  const meta = readEarlierRunMeta(config.from);
  if (config.calibration !== undefined && !config.from.endsWith('.npy')) {
    throw new UsageError(
      `${param('calibration')} needs every pass of every image: evaluate ${param('from')} the .npy that predict ${param('savePasses')} wrote`,
    );
  }
  return config.from.endsWith('.npy') ? evaluatePasses(config, meta, started, warn) : evaluateRows(config, meta, started, warn);
}

/** What evaluate reads of an earlier run's metadata sidecar. */
interface EarlierRunMeta {
  passes?: number | 'auto';
  seed?: number;
  settings?: { labels?: string[] };
}

/** The metadata sidecar beside an earlier run's file (`<file>.meta.json`), read once and checked; {} when there is none. */
function readEarlierRunMeta(from: string): EarlierRunMeta {
  const sidecar = metadataOf(from);
  if (!existsSync(sidecar)) return {};
  const check = object({
    passes: optional(either(number({ min: 0 }), literal('auto'), 'a number or "auto"')),
    seed: optional(number({ integer: true, min: 0 })),
    settings: optional(object({ labels: optional(array(string())) })),
  });
  return readJsonFile(sidecar, { what: `the metadata of ${from}`, expected: 'restore it, or move it away to evaluate without it' }, check);
}

/** Labels for a file read back: the given file, the run's metadata sidecar, a passes file's .run.json, a model's metadata, or indices. */
async function labelsOfEarlierRun(
  config: EvaluateFromConfig,
  meta: EarlierRunMeta,
  classes: number,
  warn: (m: string) => void,
  run?: SavedRun,
): Promise<string[]> {
  if (config.labelsFile) return labelsFor(config.labelsFile, classes, warn);
  const labels = meta.settings?.labels;
  if (Array.isArray(labels) && labels.length === classes) return labels.map(String);
  if (run && run.labels.length === classes) return run.labels;
  if (config.model) {
    const { model } = await readOnnxFile(config.model);
    return labelsFromModel(readMetadata(model, config.model).labels, classes, config.model, warn);
  }
  return Array.from({ length: classes }, (_, i) => String(i));
}

/** The calibration checked on a passes file: refused without its .run.json or for another model; warned of at other passes. */
function calibrationForPasses(config: EvaluateFromConfig, run: SavedRun | undefined, warn: (message: string) => void): CheckedCalibration {
  const checked = calibrationToCheck(config.calibration!, warn);
  const { calibration } = checked;
  if (!run)
    throw new UsageError(
      `${config.from} has no ${config.from}.run.json, so the model its passes came from is unknown: rerun predict with ${param('savePasses')}`,
    );
  checkCalibrationFits(calibration, config.calibration!, { path: config.from, sha256: run.model_sha256, classes: run.classes }, run.preprocess);
  checkCalibrationRun(
    calibration,
    config.calibration!,
    { passes: run.passes, deterministic: false, ...(run.dropout_rates && { dropoutRates: run.dropout_rates }) },
    warn,
  );
  return checked;
}

/** A --save-passes .npy: every metric and, when every image has all T passes, the T curve. */
async function evaluatePasses(config: EvaluateFromConfig, meta: EarlierRunMeta, started: Date, warn: (message: string) => void): Promise<EvaluationReport> {
  const { saved, run } = readSavedPasses(config.from);
  const [count, passes, classes] = saved.shape;
  const labels = await labelsOfEarlierRun(config, meta, classes, warn, run);
  const calibration = config.calibration !== undefined ? calibrationForPasses(config, run, warn) : undefined;
  const truth = readTruth(truthSource(config.truthFile, []), saved.paths, labels);
  // an adaptive run leaves NaN after each image's last pass: the curve needs T passes for every image
  const perImage = imagePasses(saved);
  const full = perImage.every((probs) => probs.length === passes * classes || probs.length === 0);
  // an ensemble's (or TTA's) rows: T passes of every member on every view, pass-major
  const layout = run?.members && run.passes !== 'auto' ? { T: run.passes, M: run.members.length, V: run.views?.length ?? 1 } : undefined;
  const builder = layout
    ? new EvaluationBuilder(classes, layout.T, full, calibration, { rowsPerPass: layout.M * layout.V })
    : new EvaluationBuilder(classes, passes, full, calibration);
  perImage.forEach((mine, i) => {
    if (mine.length === 0) {
      builder.failed++;
      return;
    }
    const summary = summarize(mine, classes);
    builder.addPasses(saved.paths[i]!, truth.get(path.resolve(saved.paths[i]!)), mine, summary, { meanOnly: !full });
    if (layout) builder.addParts(summary, decomposeUncertainty(splitPassMajorRows(mine, layout.T, layout.M, layout.V, classes), classes));
  });
  if (!full) warn(`${config.from} comes from an adaptive run (images have different numbers of passes): metrics use each image's own passes, with no T curve`);
  if (builder.labeled === 0 && config.requireTruth) throw noTruth(truthSource(config.truthFile, []), builder.recorded);
  const header = {
    started: started.toISOString(),
    source: { kind: 'passes-file' as const, file: config.from },
    passes: layout ? layout.T : passes,
    labels,
    seconds: (Date.now() - started.getTime()) / 1000,
  };
  return builder.report(config.version, header, { images: count, skipped: 0 });
}

/** A JSONL predict output with per-class means: every metric, no T curve. */
async function evaluateRows(config: EvaluateFromConfig, meta: EarlierRunMeta, started: Date, warn: (message: string) => void): Promise<EvaluationReport> {
  const records = readPredictOutput(
    config.from,
    `evaluate ${param('from')} reads a predict output written with ${param({ format: 'jsonl', perClass: true })} (the CSV has no per-class means), or a ${param('savePasses')} .npy`,
  );
  const ok = records.filter((r) => r.status === 'ok');
  const classes = ok[0]?.mean?.length ?? 0;
  if (ok.some((r) => r.mean?.length !== classes) || (ok.length > 0 && classes === 0)) {
    throw new UsageError(
      `${config.from} has no per-class means: rerun predict with ${param({ format: 'jsonl', perClass: true })} (NLL, Brier and calibration need every class's probability), or with ${param('savePasses')} FILE.npy for the T curve too`,
    );
  }
  const labels = await labelsOfEarlierRun(config, meta, classes, warn);
  const truth = readTruth(
    truthSource(config.truthFile, []),
    ok.map((r) => r.path),
    labels,
  );
  // T from the run's metadata; an adaptive run's rows carry their own (its mean is reported)
  const rowPasses = ok.map((r) => r.passes).filter((p): p is number => p !== undefined && Number.isFinite(p));
  const passes = typeof meta.passes === 'number' ? meta.passes : rowPasses.length > 0 ? rowPasses.reduce((a, b) => a + b, 0) / rowPasses.length : 0;
  const builder = new EvaluationBuilder(classes, passes, false);
  builder.failed = records.length - ok.length;
  for (const r of ok) {
    const mean = r.mean!;
    builder.addMean(r.path, truth.get(path.resolve(r.path)), mean, summarize(mean, classes), {
      mutualInformation: r.mutual_information,
      variationRatio: r.variation_ratio,
    });
  }
  if (builder.labeled === 0 && config.requireTruth) throw noTruth(truthSource(config.truthFile, []), ok.length);
  const header = {
    started: started.toISOString(),
    source: { kind: 'predict-output' as const, file: config.from },
    passes,
    ...(typeof meta.seed === 'number' && { seed: meta.seed }),
    labels,
    seconds: (Date.now() - started.getTime()) / 1000,
  };
  return builder.report(config.version, header, { images: records.length, skipped: 0 });
}
