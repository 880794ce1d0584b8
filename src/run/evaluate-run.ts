/**
 * An evaluation's contract: a run over labelled images (MC passes and one deterministic pass per
 * image), or a read of an earlier predict output or passes file, into one report that evaluate
 * prints and writes and report renders.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { MASK_SCHEME } from '../engine/masks.js';
import { onnxruntimeVersion } from '../engine/runtime.js';
import { maskRates } from '../engine/mc-model.js';
import { invalidParameter, param, unreadableReason, UsageError } from '../errors.js';
import { applyCalibration, calibrationWarnings, checkCalibrationFits, coverageAgainstAlpha, type Calibration } from '../calibration/calibration.js';
import { readCalibration } from '../calibration/calibration-file.js';
import { setCoverage } from '../conformal/coverage.js';
import { EvaluationAccumulator, outcomeOf } from '../evaluate/evaluation.js';
import { metricsOf, type Outcome } from '../evaluate/metrics.js';
import { checkCalibrationRun } from '../calibration/fit-check.js';
import { digestOf } from '../io/durable.js';
import { oodCurves, oodTable, type LogitScores } from '../ood/evaluation.js';
import { readTruth } from '../evaluate/truth.js';
import { parseJsonLines } from '../io/lines.js';
import { readInputText } from '../io/read-file.js';
import { array, either, literal, number, object, optional, readJsonFile, SchemaMismatch, string } from '../io/schema.js';
import { fsPath } from '../io/names.js';
import { IMAGE_EXTENSIONS, isImageFile, type WalkResult } from '../io/walk.js';
import { gatherInputs } from './inputs.js';
import { labelledPassOptions, noTruth, openLabelledRun, truthSource, type LabelledRunConfig } from './labelled-run.js';
import { imagePasses, readNpyPasses } from '../io/npy.js';
import { readPassesRun, refuseRepeatedPaths } from './read-run.js';
import { readMetadata } from '../model/metadata.js';
import { readOnnxFile } from '../model/read.js';
import { predictFiles } from '../pipeline.js';
import { summarize, type McSummary } from '../stats/aggregate.js';
import type { RunHooks } from './hooks.js';
import { labelsFor, labelsFromModel } from './labels.js';
import { readEvaluationReport, type EvaluationReport, type ImageRecord } from './evaluation-file.js';
import { metadataOf } from '../io/sidecars.js';

export type { EvaluationReport, ImageRecord };

/** An evaluate run over labelled images (the T curve runs up to `passes`). */
export interface EvaluateRunConfig extends LabelledRunConfig {
  /** Refuse when no image has a true class (evaluate); report goes on without metrics. */
  requireTruth: boolean;
  /** A calibration file (calibrate wrote it for this model and preprocessing): calibrated metrics and set coverage beside the rest. */
  calibration?: string;
  /** Images from outside the model's classes (files or folders): how well each uncertainty score flags them. */
  ood?: string[];
  version: string;
}

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
  version: string;
}

/** What a calibration did to each labelled image: its outcome, its set, and its calibrated mean. */
interface Calibrated {
  outcomes: Outcome[];
  sets: { label: number; set: number[] }[];
  means: { name: string; mean: ArrayLike<number>; label: number }[];
}

/** The report's calibration section: the calibrated metrics and how the sets did on the labelled images. */
function calibrationSection(file: string, calibration: Calibration, calibrated: Calibrated, classes: number): NonNullable<EvaluationReport['calibration']> {
  return {
    file,
    sha256: digestOf(file).sha256,
    temperature: calibration.temperature,
    alpha: calibration.conformal.alpha,
    score: calibration.conformal.score,
    classConditional: calibration.conformal.classConditional,
    metrics: metricsOf(calibrated.outcomes),
    sets: setCoverage(calibrated.sets, classes),
    byAlpha: coverageAgainstAlpha(calibration, calibrated.means),
  };
}

/** The calibration evaluate checks, with what the user must know of it (too few images; a per-class curve it cannot draw). */
function calibrationToCheck(file: string, warn: (message: string) => void): Calibration {
  const calibration = readCalibration(file);
  for (const warning of calibrationWarnings(calibration)) warn(`${file}: ${warning}`);
  if (calibration.conformal.classConditional && !calibration.conformal.scoreClasses)
    warn(
      `${file} was written by an earlier release (format 1), which kept no class per score: no coverage-against-alpha curve for its per-class sets; rerun calibrate to get one`,
    );
  return calibration;
}

/**
 * The OOD images of `paths`: each path must be a folder or an image file, and together they must
 * hold at least one image; a UsageError names the path that is not (a missing OOD folder must not
 * pass as an evaluation without its OOD section).
 */
export async function gatherOodImages(paths: readonly string[], outputs: ReadonlyMap<string, string> | undefined): Promise<WalkResult> {
  const expected = `${param('ood')} takes folders of out-of-distribution images or image files (${IMAGE_EXTENSIONS.join(' ')})`;
  for (const given of paths) {
    let info;
    try {
      info = statSync(fsPath(given));
    } catch (error) {
      throw new UsageError(`Cannot read the out-of-distribution images ${given}: ${unreadableReason(error)}; ${expected}`);
    }
    if (info.isDirectory()) {
      // each folder on its own: an empty one beside a full one is still a mistake worth naming
      const { walked } = await gatherInputs([given], undefined, outputs, { allowEmpty: true });
      if (walked.files.length === 0) {
        const skipped = walked.skipped.length;
        throw new UsageError(`No out-of-distribution images in ${given}${skipped ? ` (${skipped} files without an image extension)` : ''}; ${expected}`);
      }
    } else if (!info.isFile()) throw new UsageError(`The out-of-distribution path ${given} is not a folder or a regular file; ${expected}`);
    else if (!isImageFile(given)) throw new UsageError(`The out-of-distribution path ${given} is not an image file or a folder; ${expected}`);
  }
  return (await gatherInputs(paths, undefined, outputs)).walked;
}

/**
 * Runs the model over the inputs: T passes and one deterministic pass per image. When
 * `hooks.signal` aborts, stops after the image in hand and throws its reason (no report).
 */
export async function runEvaluation(config: EvaluateRunConfig, hooks: RunHooks = {}): Promise<EvaluationReport> {
  const started = new Date();
  const warn = hooks.onWarning ?? (() => {});
  if (!(Number.isInteger(config.passes) && config.passes >= 1)) throw invalidParameter('passes', 'an integer >= 1', config.passes);
  // before the model loads: a bad OOD path is a usage error now, not an evaluation without its section
  const oodFiles = config.ood ? await gatherOodImages(config.ood, config.outputs) : undefined;
  const { model, walked, labels, truth, seed, preprocess } = await openLabelledRun(config, warn, config.requireTruth);
  try {
    const { info } = model;
    const calibration = config.calibration !== undefined ? calibrationToCheck(config.calibration, warn) : undefined;
    if (calibration) {
      checkCalibrationFits(calibration, config.calibration!, { path: config.model, sha256: info.sha256, classes: info.classes }, preprocess);
      checkCalibrationRun(
        calibration,
        config.calibration!,
        { passes: config.passes, deterministic: false, dropoutRates: maskRates(info), dropoutRate: config.load.dropoutRate },
        warn,
      );
    }
    const accumulator = new EvaluationAccumulator(info.classes, config.passes, true);
    const images: ImageRecord[] = [];
    const calibrated: Calibrated = { outcomes: [], sets: [], means: [] };
    const summaries = { id: [] as McSummary[], idDeterministic: [] as McSummary[], ood: [] as McSummary[], oodDeterministic: [] as McSummary[] };
    const logitScores = { id: [] as LogitScores[], ood: [] as LogitScores[] };
    let failed = 0;
    let oodFailed = 0;
    const run = (files: string[], known: { errors: ReadonlyMap<string, string>; sizes: readonly number[] }) =>
      predictFiles(model, files, { ...labelledPassOptions(config, seed, preprocess, known), withDeterministic: true, logitScores: oodFiles !== undefined });
    hooks.onStart?.(walked.files.length + (oodFiles?.files.length ?? 0));
    for await (const result of run(walked.files, walked)) {
      if (result.status === 'error') {
        failed++;
        warn(`${result.file}: ${result.error} (left out)`);
      } else {
        const label = truth.get(path.resolve(result.file));
        const det = summarize(result.deterministicProbs!, info.classes);
        summaries.id.push(result.summary);
        summaries.idDeterministic.push(det);
        if (result.logitScores) logitScores.id.push(result.logitScores);
        if (label !== undefined) {
          accumulator.add(result.passProbs!, label, result.deterministicProbs);
          if (calibration) {
            const applied = applyCalibration(calibration, result.file, result.passProbs!);
            calibrated.outcomes.push(outcomeOf(applied.passes, info.classes, label));
            calibrated.sets.push({ label, set: applied.set });
            calibrated.means.push({ name: result.file, mean: applied.summary.mean, label });
          }
        }
        images.push({ ...recordOf(result.file, label, result.summary), deterministic: { predicted: det.predicted, confidence: det.confidence } });
      }
      hooks.onProgress?.(images.length + failed, failed);
      hooks.signal?.throwIfAborted();
    }
    if (oodFiles) {
      for await (const result of run(oodFiles.files, oodFiles)) {
        if (result.status === 'error') {
          oodFailed++;
          warn(`${result.file}: ${result.error} (left out)`);
        } else {
          summaries.ood.push(result.summary);
          summaries.oodDeterministic.push(summarize(result.deterministicProbs!, info.classes));
          if (result.logitScores) logitScores.ood.push(result.logitScores);
        }
        hooks.onProgress?.(images.length + failed + summaries.ood.length + oodFailed, failed + oodFailed);
        hooks.signal?.throwIfAborted();
      }
    }
    // a model whose output is probabilities has no logits: no max-logit or energy rows
    const withLogits =
      logitScores.id.length > 0 && logitScores.id.length === summaries.id.length && logitScores.ood.length === summaries.ood.length ? logitScores : undefined;
    return {
      tool: 'mc-dropout',
      version: config.version,
      command: 'evaluate',
      source: { kind: 'run' },
      model: { path: config.model, sha256: info.sha256, classes: info.classes },
      passes: config.passes,
      seed,
      mask_scheme: MASK_SCHEME,
      provider: info.provider,
      onnxruntime: onnxruntimeVersion,
      started: started.toISOString(),
      seconds: (Date.now() - started.getTime()) / 1000,
      labels,
      counts: {
        images: walked.files.length,
        labelled: accumulator.images,
        unlabelled: images.length - accumulator.images,
        failed,
        skipped_non_images: walked.skipped.length,
      },
      ...(accumulator.images > 0 && { numbers: accumulator.finish() }),
      ...(calibration && calibrated.outcomes.length > 0 && { calibration: calibrationSection(config.calibration!, calibration, calibrated, info.classes) }),
      ...(oodFiles && {
        ood:
          summaries.ood.length > 0 && summaries.id.length > 0
            ? {
                images: summaries.ood.length,
                failed: oodFailed,
                scores: oodTable(summaries.id, summaries.ood, { id: summaries.idDeterministic, ood: summaries.oodDeterministic }, withLogits),
                curves: oodCurves(summaries.id, summaries.ood, withLogits),
              }
            : { images: summaries.ood.length, failed: oodFailed, scores: [], curves: [] },
      }),
      images,
    };
  } finally {
    await model.dispose();
  }
}

function recordOf(
  file: string,
  label: number | undefined,
  s: { predicted: number; confidence: number; entropy: number; mutualInformation: number; variationRatio: number; margin: number },
): ImageRecord {
  return {
    path: file,
    truth: label ?? null,
    predicted: s.predicted,
    confidence: s.confidence,
    entropy: s.entropy,
    mutual_information: s.mutualInformation,
    variation_ratio: s.variationRatio,
    margin: s.margin,
  };
}

/** Labels for a file read back: the given file, the run's metadata sidecar, a passes file's .run.json, a model's metadata, or indices. */
async function labelsOfEarlierRun(config: EvaluateFromConfig, meta: EarlierRunMeta, classes: number, warn: (m: string) => void): Promise<string[]> {
  if (config.labelsFile) return labelsFor(config.labelsFile, classes, warn);
  const labels = meta.settings?.labels;
  if (Array.isArray(labels) && labels.length === classes) return labels.map(String);
  const run = config.from.endsWith('.npy') ? readPassesRun(config.from) : undefined;
  if (run && run.labels.length === classes) return run.labels;
  if (config.model) {
    const { model } = await readOnnxFile(config.model);
    return labelsFromModel(readMetadata(model, config.model).labels, classes, config.model, warn);
  }
  return Array.from({ length: classes }, (_, i) => String(i));
}

/** What evaluate reads of an earlier run's metadata sidecar. */
interface EarlierRunMeta {
  passes?: unknown;
  seed?: unknown;
  settings?: { labels?: unknown };
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

/**
 * Evaluates an earlier run's file: a --save-passes .npy (every metric and the T curve), or a JSONL
 * predict output with per-class means (`-f jsonl --per-class`: every metric, no T curve). Neither
 * holds a deterministic pass.
 */
export async function evaluateEarlierRun(config: EvaluateFromConfig, hooks: RunHooks = {}): Promise<EvaluationReport> {
  const started = new Date();
  const warn = hooks.onWarning ?? (() => {});
  const base = { tool: 'mc-dropout' as const, version: config.version, command: 'evaluate' as const, started: started.toISOString() };
  const images: ImageRecord[] = [];
  const meta = readEarlierRunMeta(config.from);
  let failed = 0;
  if (config.calibration !== undefined && !config.from.endsWith('.npy')) {
    throw new UsageError(
      `${param('calibration')} needs every pass of every image: evaluate ${param('from')} the .npy that predict ${param('savePasses')} wrote`,
    );
  }
  if (config.from.endsWith('.npy')) {
    const saved = readNpyPasses(config.from);
    const [count, passes, classes] = saved.shape;
    const labels = await labelsOfEarlierRun(config, meta, classes, warn);
    const calibration = config.calibration !== undefined ? calibrationToCheck(config.calibration, warn) : undefined;
    if (calibration) {
      const run = readPassesRun(config.from);
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
    }
    const calibrated: Calibrated = { outcomes: [], sets: [], means: [] };
    const truth = readTruth(truthSource(config.truthFile, []), saved.paths, labels);
    // an adaptive run leaves NaN after each image's last pass: the curve needs T passes for every image
    const perImage = imagePasses(saved);
    const full = perImage.every((probs) => probs.length === passes * classes || probs.length === 0);
    const accumulator = new EvaluationAccumulator(classes, passes, full);
    perImage.forEach((mine, i) => {
      if (mine.length === 0) {
        failed++;
        return;
      }
      const s = summarize(mine, classes);
      const label = truth.get(path.resolve(saved.paths[i]!));
      if (label !== undefined) {
        if (full) accumulator.add(mine, label);
        else accumulator.addMean(s.mean, label, { mutualInformation: s.mutualInformation, variationRatio: s.variationRatio });
        if (calibration) {
          const applied = applyCalibration(calibration, saved.paths[i]!, mine);
          calibrated.outcomes.push(outcomeOf(applied.passes, classes, label));
          calibrated.sets.push({ label, set: applied.set });
          calibrated.means.push({ name: saved.paths[i]!, mean: applied.summary.mean, label });
        }
      }
      images.push(recordOf(saved.paths[i]!, label, s));
    });
    if (!full)
      warn(`${config.from} comes from an adaptive run (images have different numbers of passes): metrics use each image's own passes, with no T curve`);
    if (accumulator.images === 0 && config.requireTruth) throw noTruth(truthSource(config.truthFile, []), images.length);
    return {
      ...base,
      source: { kind: 'passes-file', file: config.from },
      passes,
      labels,
      seconds: (Date.now() - started.getTime()) / 1000,
      counts: { images: count, labelled: accumulator.images, unlabelled: images.length - accumulator.images, failed, skipped_non_images: 0 },
      ...(accumulator.images > 0 && { numbers: accumulator.finish() }),
      ...(calibration && calibrated.outcomes.length > 0 && { calibration: calibrationSection(config.calibration!, calibration, calibrated, classes) }),
      images,
    };
  }
  const text = readInputText(config.from, {
    what: 'the earlier run',
    expected: `give a predict output written with ${param({ format: 'jsonl', perClass: true })}, or a ${param('savePasses')} .npy`,
  });
  const records = parseJsonLines(
    text,
    (line) =>
      new UsageError(
        `${config.from} line ${line} is not JSON: evaluate ${param('from')} reads a predict output written with ${param({ format: 'jsonl', perClass: true })} (the CSV has no per-class means), or a ${param('savePasses')} .npy`,
      ),
  );
  refuseRepeatedPaths(
    records.map((r) => String(r.path)),
    config.from,
  );
  const ok = records.filter((r) => r.status === 'ok');
  failed = records.length - ok.length;
  if (ok.length > 0 && !Array.isArray(ok[0]!.mean)) {
    throw new UsageError(
      `${config.from} has no per-class means: rerun predict with ${param({ format: 'jsonl', perClass: true })} (NLL, Brier and calibration need every class's probability), or with ${param('savePasses')} FILE.npy for the T curve too`,
    );
  }
  const classes = ok.length > 0 ? (ok[0]!.mean as number[]).length : 0;
  const rowCheck = object({
    path: string(),
    mean: array(number({ min: 0, max: 1 }), { length: classes }),
    mutual_information: number(),
    variation_ratio: number({ min: 0, max: 1 }),
  });
  ok.forEach((r, i) => {
    try {
      rowCheck(r, '');
    } catch (error) {
      if (error instanceof SchemaMismatch)
        throw new UsageError(`Cannot read ${config.from}: in its ok row ${i + 1}, ${error.message}; give the JSONL a predict run wrote`);
      throw error;
    }
  });
  const labels = await labelsOfEarlierRun(config, meta, classes, warn);
  const paths = ok.map((r) => String(r.path));
  const truth = readTruth(truthSource(config.truthFile, []), paths, labels);
  // T from the run's metadata; an adaptive run's rows carry their own (its mean is reported)
  const rowPasses = ok.map((r) => Number(r.passes)).filter(Number.isFinite);
  const passes = typeof meta.passes === 'number' ? meta.passes : rowPasses.length > 0 ? rowPasses.reduce((a, b) => a + b, 0) / rowPasses.length : 0;
  const accumulator = new EvaluationAccumulator(classes, passes, false);
  for (const r of ok) {
    const mean = r.mean as number[];
    const label = truth.get(path.resolve(String(r.path)));
    const s = summarize(mean, classes);
    const fromPasses = { mutualInformation: Number(r.mutual_information), variationRatio: Number(r.variation_ratio) };
    if (label !== undefined) accumulator.addMean(mean, label, fromPasses);
    images.push({ ...recordOf(String(r.path), label, s), mutual_information: fromPasses.mutualInformation, variation_ratio: fromPasses.variationRatio });
  }
  if (accumulator.images === 0 && config.requireTruth) throw noTruth(truthSource(config.truthFile, []), ok.length);
  return {
    ...base,
    source: { kind: 'predict-output', file: config.from },
    passes,
    ...(typeof meta.seed === 'number' && { seed: meta.seed }),
    labels,
    seconds: (Date.now() - started.getTime()) / 1000,
    counts: { images: records.length, labelled: accumulator.images, unlabelled: ok.length - accumulator.images, failed, skipped_non_images: 0 },
    ...(accumulator.images > 0 && { numbers: accumulator.finish() }),
    images,
  };
}

/** Reads an earlier file by its kind: an evaluation (.json), a passes file (.npy) or a predict output (JSONL). */
export async function evaluationFromFile(config: EvaluateFromConfig, hooks: RunHooks = {}): Promise<EvaluationReport> {
  if (config.from.endsWith('.json')) return readEvaluationReport(config.from);
  return evaluateEarlierRun(config, hooks);
}
