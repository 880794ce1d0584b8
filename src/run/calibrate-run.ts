/** `calibrate` as a library call: T passes over labelled images, then the temperature and conformal thresholds fitted on them. */
import path from 'node:path';
import { fitCalibration, type Calibration, type ConformalSettings } from '../calibration/calibration.js';
import { McModel } from '../engine/mc-model.js';
import { freshSeed } from '../engine/masks.js';
import type { LoadOptions } from '../engine/options.js';
import { invalidParameter, UsageError } from '../errors.js';
import { readTruth } from '../evaluate/truth.js';
import { predictFiles } from '../pipeline.js';
import { resolvePreprocess, type PreprocessOverrides } from '../preprocess/spec.js';
import { noTruth, truthSource } from './evaluate-run.js';
import { gatherInputs } from './inputs.js';
import { labelsFor, labelsFromModel, type RunHooks } from './predict-run.js';

/** A calibrate run: labelled images (class folders or a truth CSV), the model and its settings, and how the sets are built. */
export interface CalibrateRunConfig {
  paths: string[];
  list?: { file: string; separator: 'lines' | 'nul' };
  /** Identities (device:inode) of the files the caller will write, with their names: an input image that is one is refused. */
  outputs?: ReadonlyMap<string, string>;
  model: string;
  load: LoadOptions;
  /** MC passes per image: use the T predict will run with. */
  passes: number;
  /** Seed of the masks (default: fresh, recorded). */
  seed?: number;
  batchSize: number;
  decodeConcurrency: number;
  decodePixelBudget?: number;
  preprocess: PreprocessOverrides;
  labelsFile?: string;
  truthFile?: string;
  /** The sets; `seed` of the uniforms defaults to the masks' seed. */
  conformal: Omit<ConformalSettings, 'seed'> & { seed?: number };
}

/** What a calibrate run made, and the images it could not use. */
export interface CalibrateOutcome {
  calibration: Calibration;
  /** Images without a true class, and images that failed to decode or run (both left out). */
  unlabelled: number;
  failed: number;
}

/** Runs T passes over the labelled images and fits the calibration. Throws UsageError / ModelError. */
export async function runCalibration(config: CalibrateRunConfig, hooks: RunHooks = {}): Promise<CalibrateOutcome> {
  const warn = hooks.onWarning ?? (() => {});
  if (!(Number.isInteger(config.passes) && config.passes >= 1)) throw invalidParameter('passes', 'an integer >= 1', config.passes);
  const alpha = config.conformal.alpha;
  if (!(alpha > 0 && alpha < 1)) throw invalidParameter('alpha', 'a miscoverage in (0, 1)', alpha);
  const { inputs, walked } = await gatherInputs(config.paths, config.list, config.outputs);
  const model = await McModel.load(config.model, { ...config.load, onWarning: warn });
  try {
    const { info } = model;
    const labels = config.labelsFile
      ? labelsFor(config.labelsFile, info.classes, warn)
      : labelsFromModel(info.metadata.labels, info.classes, config.model, warn);
    const source = truthSource(config.truthFile, inputs);
    const truth = readTruth(source, walked.files, labels);
    if (truth.size === 0) throw noTruth(source, walked.files.length);
    const seed = config.seed ?? freshSeed();
    const preprocess = resolvePreprocess(info, config.preprocess);
    const examples: { name: string; passProbs: Float64Array; label: number }[] = [];
    let failed = 0;
    let unlabelled = 0;
    hooks.onStart?.(walked.files.length);
    for await (const result of predictFiles(model, walked.files, {
      passes: config.passes,
      seed,
      batchSize: config.batchSize,
      decodeConcurrency: config.decodeConcurrency,
      ...(config.decodePixelBudget !== undefined && { decodePixelBudget: config.decodePixelBudget }),
      preprocess,
      knownErrors: walked.errors,
      fileSizes: walked.sizes,
      keepPasses: true,
    })) {
      if (result.status === 'error') {
        failed++;
        warn(`${result.file}: ${result.error} (left out)`);
      } else {
        const label = truth.get(path.resolve(result.file));
        if (label === undefined) unlabelled++;
        else examples.push({ name: result.file, passProbs: result.passProbs!, label });
      }
      hooks.onProgress?.(examples.length + unlabelled + failed, failed);
    }
    if (examples.length === 0) throw new UsageError(`No labelled image could be used: ${failed} of ${walked.files.length} failed`);
    const calibration = fitCalibration(
      examples,
      { model: { sha256: info.sha256, classes: info.classes, labels }, preprocess, passes: config.passes, seed },
      { ...config.conformal, seed: config.conformal.seed ?? seed },
    );
    return { calibration, unlabelled, failed };
  } finally {
    await model.dispose();
  }
}
