/** `calibrate` as a library call: T passes over labeled images, then the temperature and conformal thresholds fitted on them. */
import path from 'node:path';
import { fitCalibration, type Calibration, type ConformalSettings } from '../calibration/calibration.js';
import { temperatureAtBound, temperatureBoundWarning } from '../calibration/temperature.js';
import { maskRates } from '../engine/mc-model.js';
import { invalidParameter, param, UsageError } from '../errors.js';
import { imagePasses } from '../io/npy.js';
import { readSavedPasses } from './read-run.js';
import { checkInputsAreNotOutputs } from '../io/targets.js';
import { readTruth } from '../evaluate/truth.js';
import { labeledPasses, labeledPassOptions, noTruth, openLabeledRun, truthSource, type LabeledRunConfig } from './labeled-run.js';
import type { RunHooks } from './hooks.js';
import { isMapModel } from './segment/model-kind.js';

/** A calibrate run: labeled images (class folders or a truth CSV), the model and its settings, and how the sets are built. */
export interface CalibrateRunConfig extends LabeledRunConfig {
  /** The sets; `seed` of the uniforms defaults to the masks' seed. */
  conformal: Omit<ConformalSettings, 'seed'> & { seed?: number };
}

/** What a calibrate run made, and the images it could not use. */
export interface CalibrateOutcome {
  calibration: Calibration;
  /** Images without a true class, and images that failed to decode or run (both left out). */
  unlabeled: number;
  failed: number;
  /** The temperature fit stopped at an end of its range (a warning says why and what to do); absent when it did not. */
  temperatureAtBound?: 'lower' | 'upper';
}

/** The outcome of a fit, with a fit that stopped at an end of the temperature range reported through `warn` and the result. */
function outcomeOf(calibration: Calibration, unlabeled: number, failed: number, warn: (message: string) => void): CalibrateOutcome {
  const bound = temperatureAtBound(calibration.temperature);
  if (bound === undefined) return { calibration, unlabeled, failed };
  warn(temperatureBoundWarning(calibration.temperature, calibration.images, calibration.after.nll)!);
  return { calibration, unlabeled, failed, temperatureAtBound: bound };
}

/**
 * Runs T passes over the labeled images and fits the calibration. Throws UsageError / ModelError;
 * when `hooks.signal` aborts, stops after the image in hand and throws its reason (nothing is fitted).
 */
export async function runCalibration(config: CalibrateRunConfig, hooks: RunHooks = {}): Promise<CalibrateOutcome> {
  if (await isMapModel(config.members?.[0] ?? config.model, config.load.output))
    throw new UsageError(
      `${config.model} is a segmentation model: calibrate fits classifiers; per-pixel calibration is not built yet (evaluate reports the pixel ECE)`,
    );
  const warn = hooks.onWarning ?? (() => {});
  if (!(Number.isInteger(config.passes) && config.passes >= 1)) throw invalidParameter('passes', 'an integer >= 1', config.passes);
  const alpha = config.conformal.alpha;
  if (!(alpha > 0 && alpha < 1)) throw invalidParameter('alpha', 'a miscoverage in (0, 1)', alpha);
  const run = await openLabeledRun(config, warn, true);
  const { members, model, identity, walked, labels, truth, seed, preprocess } = run;
  try {
    const { info } = model;
    const examples: { name: string; passProbs: Float64Array; label: number }[] = [];
    let failed = 0;
    let unlabeled = 0;
    hooks.onStart?.(walked.files.length);
    for await (const result of labeledPasses(run, walked.files, labeledPassOptions(config, seed, preprocess, walked))) {
      if (result.status === 'error') {
        failed++;
        warn(`${result.file}: ${result.error} (left out)`);
      } else {
        const label = truth.get(path.resolve(result.file));
        if (label === undefined) unlabeled++;
        else examples.push({ name: result.file, passProbs: result.passProbs!, label });
      }
      hooks.onProgress?.(examples.length + unlabeled + failed, failed);
      hooks.signal?.throwIfAborted();
    }
    if (examples.length === 0) throw new UsageError(`No labeled image could be used: ${failed} of ${walked.files.length} failed`);
    const calibration = fitCalibration(
      examples,
      { model: { sha256: identity.sha256, classes: members.classes, labels }, preprocess, passes: config.passes, seed, dropoutRates: maskRates(info) },
      { ...config.conformal, seed: config.conformal.seed ?? seed },
    );
    return outcomeOf(calibration, unlabeled, failed, warn);
  } finally {
    await members.dispose();
  }
}

/** A calibration from an earlier run's passes (predict --save-passes wrote them, with `<file>.run.json` beside). */
export interface CalibrateFromConfig {
  /** The .npy of a fixed-T predict run. */
  from: string;
  /** A CSV of path,label; default: each image's folder names its class (ImageFolder). */
  truthFile?: string;
  conformal: Omit<ConformalSettings, 'seed'> & { seed?: number };
  /** Identities (device:inode) of the files the caller will write, with their names: an input that is one is refused. */
  outputs?: ReadonlyMap<string, string>;
}

/** Fits the calibration on an earlier run's passes: no model runs. Throws UsageError for a file it cannot use. */
export function calibrateEarlierRun(config: CalibrateFromConfig, hooks: Pick<RunHooks, 'onWarning'> = {}): CalibrateOutcome {
  // nothing the command writes may be a file it reads
  checkInputsAreNotOutputs(
    [
      { role: 'the earlier run', path: config.from },
      { role: 'the truth file', path: config.truthFile },
    ],
    config.outputs ?? new Map(),
  );
  const alpha = config.conformal.alpha;
  if (!(alpha > 0 && alpha < 1)) throw invalidParameter('alpha', 'a miscoverage in (0, 1)', alpha);
  if (!config.from.endsWith('.npy'))
    throw new UsageError(`calibrate ${param('from')} reads the .npy that predict ${param('savePasses')} wrote, not ${config.from}`);
  const { saved, run } = readSavedPasses(config.from);
  if (!run) {
    throw new UsageError(
      `${config.from} has no ${config.from}.run.json, so the model and preprocessing its passes came from are unknown: rerun predict with ${param('savePasses')} (it records them)`,
    );
  }
  if (run.passes === 'auto') throw new UsageError(`${config.from} comes from an adaptive run (images have different T): calibrate from a run with a fixed T`);
  const labels = run.labels;
  const truth = readTruth(truthSource(config.truthFile, []), saved.paths, labels);
  const examples: { name: string; passProbs: Float64Array; label: number }[] = [];
  let failed = 0;
  let unlabeled = 0;
  imagePasses(saved).forEach((passes, i) => {
    if (passes.length === 0) {
      failed++;
      return;
    }
    const label = truth.get(path.resolve(saved.paths[i]!));
    if (label === undefined) unlabeled++;
    else examples.push({ name: saved.paths[i]!, passProbs: passes, label });
  });
  if (examples.length === 0) throw noTruth(truthSource(config.truthFile, []), saved.paths.length);
  const calibration = fitCalibration(
    examples,
    {
      model: { sha256: run.model_sha256, classes: run.classes, labels },
      preprocess: run.preprocess,
      passes: run.passes,
      seed: run.seed,
      ...(run.dropout_rates && { dropoutRates: run.dropout_rates }),
    },
    { ...config.conformal, seed: config.conformal.seed ?? run.seed },
  );
  return outcomeOf(calibration, unlabeled, failed, hooks.onWarning ?? (() => {}));
}
