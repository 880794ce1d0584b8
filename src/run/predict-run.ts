/**
 * A predict run's contract: inputs, settings, seed, metadata, output and resume. The CLI turns its
 * flags into a PredictRunConfig and calls runPrediction; later readers of runs (merge, evaluate)
 * read the metadata this module writes.
 */
import { stringify } from 'csv-stringify/sync';
import { applyCalibration, calibrationWarnings, checkCalibrationFits, type Calibration } from '../calibration/calibration.js';
import { readCalibration } from '../calibration/calibration-file.js';
import { McModel } from '../engine/mc-model.js';
import type { LoadOptions } from '../engine/options.js';
import { MASK_SCHEME } from '../engine/masks.js';
import { freshSeed } from '../stats/random.js';
import { onnxruntimeVersion } from '../engine/runtime.js';
import { param, UsageError } from '../errors.js';
import { readLabels } from '../io/lines.js';
import { gatherInputs } from './inputs.js';
import { digestOf } from '../io/durable.js';
import { csvHeader, csvRecord, jsonRecord, type ImageResult } from '../io/rows.js';
import { csvName } from '../io/names.js';
import { OutputLock } from '../io/lock.js';
import { NpyPassesWriter } from '../io/npy.js';
import { earlierSeed, partialPaths } from '../io/resume.js';
import { RowSink } from '../io/sink.js';
import { checkDistinct, checkInputsAreNotOutputs, outputIdentities, outputTarget, type OutputTarget } from '../io/targets.js';
import { hostname } from 'node:os';
import path from 'node:path';
import { predictFiles } from '../pipeline.js';
import { resolvePreprocess, type PreprocessOverrides } from '../preprocess/spec.js';
import { DEFAULT_ADAPTIVE_RULE, type AdaptiveRule } from '../stats/adaptive.js';
import { derivedSeed, inputListHash, shardOutputPath, shardRange, type Shard } from './shards.js';

/** A whole predict run as the CLI makes it: inputs, model and load options, passes, output file and format, shards, resume. */
export interface PredictRunConfig {
  /** Image files and folders named directly. */
  paths: string[];
  /** A file listing more paths: one per line (`#` comments), or NUL-separated. */
  list?: { file: string; separator: 'lines' | 'nul' };
  /** Finish with no rows, rather than refuse, when there are no input images. */
  allowEmpty: boolean;
  /** Run only this block of the input list, writing its own output (`out.shard-0003-of-0016.csv`). */
  shard?: Shard;
  model: string;
  load: LoadOptions;
  /** Passes per image, or 'auto' (adaptive T under `adaptive`, default DEFAULT_ADAPTIVE_RULE). */
  passes: number | 'auto';
  adaptive?: AdaptiveRule;
  seed?: number;
  deterministic: boolean;
  batchSize: number;
  decodeConcurrency: number;
  decodePixelBudget?: number;
  preprocess: PreprocessOverrides;
  /** Class labels file (one per line); default: the model's metadata, else class indices. */
  labelsFile?: string;
  topk: number;
  perClass: boolean;
  format: 'csv' | 'jsonl';
  /** Rows file; undefined or '-' for stdout. */
  output?: string;
  /** Metadata sidecar; default `<output>.meta.json` for a file output. */
  meta?: string;
  /** Every pass's probabilities as .npy (images x T x classes) with `<file>.paths.json` beside it. */
  savePasses?: string;
  resume: boolean;
  /** CSV: text cells that a spreadsheet would run as formulas (=, +, -, @) start with an apostrophe. */
  spreadsheetSafe?: boolean;
  /** A calibration file (calibrate wrote it for this model and preprocessing): tempered probabilities and prediction sets. */
  calibration?: string;
  /** Version of the tool, recorded in the metadata. */
  version: string;
}

/** Callbacks of a run (the library never prints): warnings, the number of images to do, progress. */
export interface RunHooks {
  onWarning?: (message: string) => void;
  /** Called once the inputs are known and before the first image: how many remain to do. */
  onStart?: (todo: number) => void;
  onProgress?: (done: number, failed: number) => void;
  /** Stops the run after the image in hand; finished rows stay saved. */
  signal?: AbortSignal;
}

/** What a predict run did: images ok, failed and skipped, the seed, T and the passes the images used, and the time it took (s). */
export interface RunOutcome {
  ok: number;
  failed: number;
  skipped: number;
  todo: number;
  seconds: number;
  seed: number;
  /** T, or 'auto' for adaptive T. */
  passes: number | 'auto';
  /** Passes the images of this run used: mean, median, max (adaptive T makes them differ). */
  passStats: { mean: number; median: number; max: number };
  provider: string;
  trunkReuse: boolean;
  /** The run stopped early (the signal fired); rows so far are saved. */
  stopped: boolean;
  /** The output can be resumed (a regular file). */
  resumable: boolean;
}

/** Runs predict: validates every output before reading any image, then writes one row per image. */
export async function runPrediction(config: PredictRunConfig, hooks: RunHooks = {}): Promise<RunOutcome> {
  const started = new Date();
  const warn = hooks.onWarning ?? (() => {});
  const { shard } = config;
  if (config.savePasses !== undefined && config.resume)
    throw new UsageError(`Saving the passes cannot resume yet: run without ${param('resume')} (or without ${param('savePasses')})`);
  if (shard && (config.output === undefined || config.output === '-'))
    throw new UsageError('A shard writes its own file: give an output file (shard I of N of out.csv writes out.shard-000I-of-000N.csv)');
  const output = outputTarget(shard ? shardOutputPath(config.output!, shard) : config.output, 'the output');
  const meta = config.meta !== undefined ? outputTarget(shard ? shardOutputPath(config.meta, shard) : config.meta, 'the metadata file') : undefined;
  const passesTarget =
    config.savePasses !== undefined ? outputTarget(shard ? shardOutputPath(config.savePasses, shard) : config.savePasses, 'the passes file') : undefined;
  if (passesTarget && passesTarget.kind !== 'file')
    throw new UsageError(`The passes file ${config.savePasses} must be a regular file (it is renamed into place when complete)`);
  checkDistinct([output, ...(meta ? [meta] : []), ...(passesTarget ? [passesTarget] : [])]);
  // every file this run may write, against every file it reads, before any work
  const defaultMeta = output.kind === 'file' && !meta ? outputTarget(partialPaths(output.file).meta, 'the metadata file') : undefined;
  const passesPaths = passesTarget?.kind === 'file' ? outputTarget(`${passesTarget.file}.paths.json`, "the passes' paths file") : undefined;
  const forbidden = outputIdentities([output, meta ?? defaultMeta, passesTarget, passesPaths]);
  checkInputsAreNotOutputs(
    [
      { role: 'the model', path: config.model },
      { role: 'the labels file', path: config.labelsFile },
      { role: 'the list of inputs', path: config.list?.file },
      { role: 'the calibration', path: config.calibration },
    ],
    forbidden,
  );
  // a calibration that cannot be used is refused before any image is read
  const calibration = config.calibration !== undefined ? readCalibration(config.calibration) : undefined;

  const { walked } = await gatherInputs(config.paths, config.list, forbidden, { allowEmpty: config.allowEmpty, warn });
  const { errors, skipped } = walked;

  // every shard walks the same inputs in the same order, hashes the list and takes its block
  const listHash = shard ? inputListHash(walked.files) : '';
  const range = shard ? shardRange(walked.files.length, shard) : { start: 0, end: walked.files.length };
  const files = walked.files.slice(range.start, range.end);
  const sizes = walked.sizes.slice(range.start, range.end);

  // a second run on the same output refuses now, before any work
  const lock = output.kind === 'file' ? OutputLock.acquire(output.file, output.name) : undefined;
  let model: McModel;
  try {
    model = await McModel.load(config.model, { ...config.load, onWarning: warn });
  } catch (error) {
    lock?.release();
    throw error;
  }
  try {
    const { info } = model;
    checkInputsAreNotOutputs(
      info.externalFiles.map((file) => ({ role: "the model's external weights", path: path.resolve(path.dirname(config.model), file) })),
      forbidden,
    );
    const labels = config.labelsFile
      ? labelsFor(config.labelsFile, info.classes, warn)
      : labelsFromModel(info.metadata.labels, info.classes, config.model, warn);
    const preprocess = resolvePreprocess(info, config.preprocess);
    if (calibration) {
      checkCalibrationFits(calibration, config.calibration!, { path: config.model, sha256: info.sha256, classes: info.classes }, preprocess);
      for (const warning of calibrationWarnings(calibration)) warn(`${config.calibration}: ${warning}`);
    }
    if (config.topk > info.classes) warn(`top-k ${config.topk} is more than the model's ${info.classes} classes: rows list all ${info.classes}`);
    const topk = Math.min(config.topk, info.classes);
    const rule = config.passes === 'auto' && !config.deterministic ? (config.adaptive ?? DEFAULT_ADAPTIVE_RULE) : undefined;
    const passes = config.deterministic ? 1 : rule ? 'auto' : (config.passes as number);
    // the seed: given, else the earlier run's when resuming, else a fresh one (recorded in the metadata)
    const metaFile = meta?.kind === 'file' ? meta.file : undefined;
    const seed =
      config.seed ??
      (config.resume && output.kind === 'file' ? earlierSeed(output.file, metaFile) : undefined) ??
      (shard ? derivedSeed(listHash, info.sha256) : freshSeed());
    const shardSettings = shard
      ? { shard: { index: shard.index, count: shard.count }, input_list_sha256: listHash, input_list_length: walked.files.length }
      : {};
    const settings = {
      ...shardSettings,
      model_sha256: info.sha256,
      passes,
      seed,
      mask_scheme: MASK_SCHEME,
      deterministic: config.deterministic,
      dropout: config.load.dropout ?? 'auto',
      dropout_rates: info.drawnSites.filter((s) => s.draw.kind === 'mask').map((s) => s.rate),
      preprocess,
      format: config.format,
      topk,
      per_class: config.perClass,
      labels,
      ...(rule && { adaptive: rule }),
      ...(config.spreadsheetSafe && config.format === 'csv' && { spreadsheet_safe: true }),
      ...(calibration && { calibration_sha256: digestOf(config.calibration!).sha256 }),
    };
    const sink = RowSink.open({
      output,
      format: config.format,
      resume: config.resume,
      ...(lock && { lock }),
      ...(metaFile && { metaFile }),
      header: config.format === 'csv' ? stringify([csvHeader(topk, Boolean(rule), Boolean(calibration))]).trimEnd() : undefined,
      settings,
    });
    // resume matches rows by path as written (a CSV writes a name that is not UTF-8 escaped)
    const written = (f: string) => sink.done.has(config.format === 'csv' ? csvName(f) : f);
    const todo = files.filter((f) => !written(f));
    const passesFile =
      config.savePasses === undefined
        ? undefined
        : NpyPassesWriter.open(
            shard ? shardOutputPath(config.savePasses, shard) : config.savePasses,
            todo.length,
            rule ? rule.maxPasses : (passes as number),
            info.classes,
          );
    const todoSizes = sizes.filter((_, i) => !written(files[i]!));
    hooks.onStart?.(todo.length);
    let ok = 0;
    let failed = 0;
    let stopped = false;
    const passesUsed: number[] = [];
    try {
      for await (const result of predictFiles(model, todo, {
        passes: typeof passes === 'number' ? passes : 0,
        ...(rule && { adaptive: rule }),
        seed,
        deterministic: config.deterministic,
        batchSize: config.batchSize,
        decodeConcurrency: config.decodeConcurrency,
        ...(config.decodePixelBudget !== undefined && { decodePixelBudget: config.decodePixelBudget }),
        preprocess,
        knownErrors: errors,
        fileSizes: todoSizes,
        keepPasses: passesFile !== undefined || calibration !== undefined,
      })) {
        if (result.status === 'ok') {
          ok++;
          passesUsed.push(result.summary.passes);
        } else failed++;
        passesFile?.write(result.file, result.status === 'ok' ? result.passProbs : undefined);
        const row = calibration && result.status === 'ok' ? calibrated(result, calibration) : result;
        sink.write(
          config.format === 'csv'
            ? stringify([csvRecord(row, labels, topk, Boolean(rule), config.spreadsheetSafe, Boolean(calibration))]).trimEnd()
            : JSON.stringify(jsonRecord(row, labels, topk, config.perClass, Boolean(rule))),
        );
        hooks.onProgress?.(ok + failed, failed);
        if (hooks.signal?.aborted) {
          stopped = true;
          break;
        }
      }
    } catch (error) {
      sink.close();
      passesFile?.finish();
      throw error;
    }
    passesFile?.finish({ model_sha256: info.sha256, classes: info.classes, labels, preprocess: { ...preprocess }, passes, seed });
    const finished = new Date();
    const seconds = (finished.getTime() - started.getTime()) / 1000;
    const outcome: RunOutcome = {
      ok,
      failed,
      skipped: skipped.length,
      todo: todo.length,
      seconds,
      seed,
      passes,
      passStats: passStatistics(passesUsed),
      provider: info.provider,
      trunkReuse: model.plan.trunkReuse,
      stopped,
      resumable: output.kind === 'file',
    };
    if (stopped) {
      sink.close();
      return outcome;
    }
    const counts = { inputs: files.length, already_done: files.length - todo.length, ok, failed, skipped_non_images: skipped.length };
    sink.finish(
      {
        tool: 'mc-dropout',
        version: config.version,
        command: 'predict',
        model: {
          path: config.model,
          sha256: info.sha256,
          external_files: info.externalFiles,
          classes: info.classes,
          sites: info.drawnSites.map((s) => ({ node: s.site.nodeName, op: s.site.op, draw: s.draw, shape: s.rowShape })),
        },
        trunk_reuse: { applied: model.plan.trunkReuse, reason: model.plan.reason, cut: model.plan.cutTensors, rows_alone: model.plan.rowsAlone },
        passes,
        ...(rule && { passes_used: passStatistics(passesUsed) }),
        seed,
        provider: info.provider,
        device_id: info.deviceId,
        onnxruntime: onnxruntimeVersion,
        started: started.toISOString(),
        finished: finished.toISOString(),
        seconds,
        counts,
        settings,
        ...(shard && { shard: { index: shard.index, count: shard.count, first: range.start, end: range.end, images: files.length, host: hostname() } }),
      },
      meta,
    );
    return outcome;
  } finally {
    lock?.release();
    await model.dispose();
  }
}

function passStatistics(passes: number[]): { mean: number; median: number; max: number } {
  if (passes.length === 0) return { mean: 0, median: 0, max: 0 };
  const sorted = [...passes].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return {
    mean: passes.reduce((a, b) => a + b, 0) / passes.length,
    median: sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2,
    max: sorted.at(-1)!,
  };
}

/** A row under a calibration: the summary of the tempered passes, the confidence before, and the prediction set. */
function calibrated(result: Extract<ImageResult, { status: 'ok' }>, calibration: Calibration): ImageResult {
  const applied = applyCalibration(calibration, result.file, result.passProbs!);
  return { ...result, summary: applied.summary, calibrated: { uncalibratedConfidence: result.summary.confidence, set: applied.set } };
}

export function labelsFor(file: string, classes: number, warn: (m: string) => void): string[] {
  const labels = readLabels(file);
  if (labels.length !== classes) throw new UsageError(`The labels file ${file} has ${labels.length} labels but the model has ${classes} classes`);
  warnDuplicateLabels(labels, file, warn);
  return labels;
}

export function labelsFromModel(labels: string[] | undefined, classes: number, model: string, warn: (m: string) => void): string[] {
  if (labels && labels.length === classes) {
    warnDuplicateLabels(labels, model, warn);
    return labels;
  }
  if (labels) warn(`${model} lists ${labels.length} labels for ${classes} classes; printing class indices (give a labels file)`);
  return Array.from({ length: classes }, (_, i) => String(i));
}

/**
 * Duplicate label names are legitimate (ImageNet has two "crane"s) but a row's label no longer
 * names one class: said once, with the classes; class_index stays exact.
 */
function warnDuplicateLabels(labels: readonly string[], source: string, warn: (m: string) => void): void {
  const classes = new Map<string, number[]>();
  labels.forEach((label, i) => classes.set(label, [...(classes.get(label) ?? []), i]));
  const repeated = [...classes].filter(([, indices]) => indices.length > 1);
  if (repeated.length === 0) return;
  const shown = repeated
    .slice(0, 5)
    .map(([label, indices]) => `${JSON.stringify(label)} (classes ${indices.join(', ')})`)
    .join(', ');
  warn(
    `${source} gives ${repeated.length} label name${repeated.length > 1 ? 's' : ''} to more than one class: ${shown}${repeated.length > 5 ? ', ...' : ''}; the label column cannot tell them apart, class_index does`,
  );
}

export type { OutputTarget };
