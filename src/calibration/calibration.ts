/**
 * A calibration: the temperature and the conformal thresholds fitted on labeled images, with what
 * they were fitted for (the model's digest, its classes, the preprocessing, T and the seeds), so it
 * is applied only where it holds. Written by `calibrate` as JSON; applied by `predict`.
 */
import { invalidParameter, param, UsageError } from '../errors.js';
import {
  calibrateSets,
  conformalUniformOf,
  conformalQuantile,
  conformityScore,
  setOf,
  RAPS_DEFAULTS,
  type ConformalScore,
  type ConformalThresholds,
} from '../conformal/sets.js';
import { outcomeOf } from '../evaluate/evaluation.js';
import { metricsOf } from '../evaluate/metrics.js';
import type { PreprocessSpec } from '../preprocess/spec.js';
import { summarize, type McSummary } from '../stats/aggregate.js';
import { fitTemperature, logProbabilities, temperedPasses } from './temperature.js';

/** The `format` of a calibration file; a later release that changes its meaning changes it. */
export const CALIBRATION_FORMAT = 'mc-dropout calibration 2';

/** The preprocessing a calibration holds for: every setting that changes the tensor (all but the pixel limit). */
export type CalibratedPreprocess = Omit<PreprocessSpec, 'pixelLimit'>;

/** A calibration file's contents. Probabilities are the MC means of the tempered passes. */
export interface Calibration {
  /** The format it was read from (format 1 files, written before this release, carry no digest of their content). */
  format: typeof CALIBRATION_FORMAT | 'mc-dropout calibration 1';
  /** The model it was fitted on: SHA-256 of its files, classes and labels. */
  model: { sha256: string; classes: number; labels: string[] };
  preprocess: CalibratedPreprocess;
  /** T of the calibration run, and the seed of its masks. */
  passes: number;
  seed: number;
  /** The drop rate of each random-mask site in the passes it was fitted on (absent in format 1, and for passes files recorded without them). */
  dropoutRates?: number[];
  /** Labeled images it was fitted on. */
  images: number;
  /** Divides each pass's logits (log-probabilities) before its softmax; the passes are then averaged. */
  temperature: number;
  /** Mean NLL (nats) and ECE (15 bins) on the calibration images, at temperature 1 and at the fitted one. */
  before: { nll: number; ece: number };
  after: { nll: number; ece: number };
  conformal: {
    alpha: number;
    score: ConformalScore;
    /** RAPS's penalty per rank beyond kReg. */
    lambda: number;
    kReg: number;
    /** APS and RAPS: one uniform per image from (seed, its path); false: u = 1. */
    randomized: boolean;
    /** Seed of the uniforms. */
    seed: number;
    /** Sets use each class's own threshold (Mondrian) instead of the marginal one. */
    classConditional: boolean;
    /** Infinity where there are too few images for alpha (every set then holds every label). */
    threshold: number;
    /** The calibration images' scores of their true class, ascending: the threshold at any other alpha (evaluate draws coverage against alpha). */
    scores: number[];
    /** The true class of each score (absent in files of format 1): the per-class thresholds at any other alpha. */
    scoreClasses?: number[];
    /** Per class; Infinity where the class had too few images (every label then passes). */
    perClass: number[];
    counts: number[];
  };
}

/** How `fitCalibration` builds the sets. */
export interface ConformalSettings {
  /** Miscoverage: sets hold the true class with probability at least 1 - alpha. */
  alpha: number;
  score: ConformalScore;
  lambda?: number;
  kReg?: number;
  randomized?: boolean;
  /** Seed of the APS/RAPS uniforms. */
  seed: number;
  classConditional?: boolean;
}

/** One labeled calibration image: its name (path, which keys its uniform), its passes [T, C] as probabilities, and its true class. */
export interface CalibrationExample {
  name: string;
  passProbs: ArrayLike<number>;
  label: number;
}

/** What a run knows of the model and its passes, to stamp on a calibration. */
export interface CalibrationContext {
  model: { sha256: string; classes: number; labels: string[] };
  /** The resolved preprocessing (its pixel limit, which changes no tensor, is left out of the calibration). */
  preprocess: CalibratedPreprocess & { pixelLimit?: number };
  passes: number;
  seed: number;
  /** The drop rate of each random-mask site of the passes, when known. */
  dropoutRates?: number[];
}

/**
 * Fits the temperature by the mean NLL of the tempered MC means, then the conformal thresholds on
 * the calibrated means. Throws UsageError for no images or a bad alpha.
 */
export function fitCalibration(examples: readonly CalibrationExample[], context: CalibrationContext, settings: ConformalSettings): Calibration {
  if (examples.length === 0) throw invalidParameter('examples', 'at least one labeled calibration image', 0, 'images');
  const classes = context.model.classes;
  const logits = examples.map((e) => logProbabilities(e.passProbs));
  const fit = fitTemperature(
    logits.map((l, i) => ({ logits: l, label: examples[i]!.label })),
    classes,
  );
  const ece = (temperature: number) =>
    metricsOf(logits.map((l, i) => outcomeOf(temperedPasses(l, classes, temperature), classes, examples[i]!.label))).calibration.ece;
  const randomized = settings.randomized ?? true;
  const options = { score: settings.score, lambda: settings.lambda ?? RAPS_DEFAULTS.lambda, kReg: settings.kReg ?? RAPS_DEFAULTS.kReg, randomized };
  const images = logits.map((l, i) => ({
    probs: summarize(temperedPasses(l, classes, fit.temperature), classes).mean,
    label: examples[i]!.label,
    u: conformalUniformOf(settings.seed, examples[i]!.name),
  }));
  const thresholds = calibrateSets(images, classes, settings.alpha, options);
  // ascending, each with its class (ties in image order: the sort is stable)
  const scored = images
    .map((image) => ({ score: conformityScore(image.probs, image.label, image.u, options), label: image.label }))
    .sort((a, b) => a.score - b.score);
  const { pixelLimit: _, ...preprocess } = context.preprocess;
  return {
    format: CALIBRATION_FORMAT,
    model: context.model,
    preprocess,
    passes: context.passes,
    seed: context.seed,
    ...(context.dropoutRates && { dropoutRates: context.dropoutRates }),
    images: examples.length,
    temperature: fit.temperature,
    before: { nll: fit.nllBefore, ece: ece(1) },
    after: { nll: fit.nllAfter, ece: ece(fit.temperature) },
    conformal: {
      alpha: settings.alpha,
      ...options,
      seed: settings.seed,
      classConditional: settings.classConditional ?? false,
      threshold: thresholds.threshold,
      scores: scored.map((s) => s.score),
      scoreClasses: scored.map((s) => s.label),
      perClass: thresholds.perClass,
      counts: thresholds.counts,
    },
  };
}

/** One image under a calibration: its summary from the tempered passes, and its prediction set (class indices, in rank order). */
export interface CalibratedResult {
  /** The tempered passes, [T, C] probabilities. */
  passes: Float64Array;
  summary: McSummary;
  set: number[];
}

/** Applies a calibration to one image's passes ([T, C] probabilities); `name` (its path) keys its uniform. */
export function applyCalibration(calibration: Calibration, name: string, passProbs: ArrayLike<number>): CalibratedResult {
  const classes = calibration.model.classes;
  const passes = temperedPasses(logProbabilities(passProbs), classes, calibration.temperature);
  const summary = summarize(passes, classes);
  const c = calibration.conformal;
  const thresholds: ConformalThresholds = {
    alpha: c.alpha,
    options: { score: c.score, lambda: c.lambda, kReg: c.kReg, randomized: c.randomized },
    threshold: c.threshold,
    perClass: c.perClass,
    counts: c.counts,
  };
  return { passes, summary, set: setOf(summary.mean, conformalUniformOf(c.seed, name), thresholds, c.classConditional) };
}

/**
 * Refuses a calibration made for another model, other classes or another preprocessing: a
 * UsageError saying which differs. `file` names the calibration in the message.
 */
export function checkCalibrationFits(
  calibration: Calibration,
  file: string,
  model: { path: string; sha256: string; classes: number },
  preprocess: CalibratedPreprocess & { pixelLimit?: number },
): void {
  const fix = `calibrate this model with these settings, or give ${param('calibration')} a file made for them`;
  if (calibration.model.sha256 !== model.sha256) {
    throw new UsageError(
      `The calibration ${file} was made for another model (SHA-256 ${calibration.model.sha256.slice(0, 12)}...), not ${model.path} (${model.sha256.slice(0, 12)}...): ${fix}`,
    );
  }
  if (calibration.model.classes !== model.classes)
    throw new UsageError(`The calibration ${file} has ${calibration.model.classes} classes, ${model.path} ${model.classes}: ${fix}`);
  const { pixelLimit: _, ...now } = preprocess;
  const differing = (Object.keys(now) as (keyof CalibratedPreprocess)[]).filter((k) => JSON.stringify(calibration.preprocess[k]) !== JSON.stringify(now[k]));
  if (differing.length > 0) {
    const detail = differing.map((k) => `${k}: calibrated ${JSON.stringify(calibration.preprocess[k])}, now ${JSON.stringify(now[k])}`).join('; ');
    throw new UsageError(`The calibration ${file} was made with other preprocessing (${detail}): ${fix}`);
  }
}

/** The fewest calibration images that give a finite conformal threshold at miscoverage alpha: ceil((n + 1)(1 - alpha)) <= n. */
export function fewestImagesFor(alpha: number): number {
  let n = Math.max(1, Math.floor(1 / alpha) - 2);
  while (Math.ceil((n + 1) * (1 - alpha)) > n) n++;
  return n;
}

/**
 * What a user must know of a calibration before using it: too few images for a finite threshold
 * (every set then holds every class), overall or for some classes when the sets are per class.
 */
export function calibrationWarnings(calibration: Calibration): string[] {
  const c = calibration.conformal;
  const need = fewestImagesFor(c.alpha);
  const warnings: string[] = [];
  if (calibration.format !== CALIBRATION_FORMAT)
    warnings.push(
      `it was written by an earlier release (${calibration.format}) without a digest of its content, so an edit to it cannot be told apart; calibrate again to get a file that can`,
    );
  if (!c.classConditional && !Number.isFinite(c.threshold))
    warnings.push(
      `${calibration.images} calibration images are too few for alpha ${c.alpha} (it needs at least ${need}): the threshold is infinite, so every prediction set holds every class; calibrate on more images or raise ${param('alpha')}`,
    );
  const thin = c.perClass.flatMap((t, k) => (Number.isFinite(t) ? [] : [k]));
  if (c.classConditional && thin.length > 0)
    warnings.push(
      `${thin.length} of ${calibration.model.classes} classes have fewer than ${need} calibration images (${thin
        .slice(0, 8)
        .map((k) => calibration.model.labels[k] ?? String(k))
        .join(', ')}${thin.length > 8 ? ', ...' : ''}): their labels are in every prediction set; calibrate on more images of them or raise ${param('alpha')}`,
    );
  return warnings;
}

/** Alphas of the coverage-against-alpha curve: 0.01 to 0.30. */
const CURVE_ALPHAS = Array.from({ length: 30 }, (_, k) => (k + 1) / 100);

/**
 * Coverage and mean set size on labeled images at each alpha of CURVE_ALPHAS, from the
 * calibration's own scores: what the sets would do at other levels, built as the calibration builds
 * them (marginal, or per class from each class's scores). Empty for a per-class calibration of
 * format 1, which kept no class per score. images: each one's name (its uniform), calibrated MC
 * mean [C] and true class.
 */
export function coverageAgainstAlpha(
  calibration: Calibration,
  images: readonly { name: string; mean: ArrayLike<number>; label: number }[],
): { alpha: number; coverage: number; meanSize: number }[] {
  const c = calibration.conformal;
  if (c.scores.length === 0 || images.length === 0 || (c.classConditional && !c.scoreClasses)) return [];
  const options = { score: c.score, lambda: c.lambda, kReg: c.kReg, randomized: c.randomized };
  const byClass: number[][] = Array.from({ length: calibration.model.classes }, () => []);
  c.scoreClasses?.forEach((k, i) => byClass[k]!.push(c.scores[i]!));
  const uniforms = images.map((image) => conformalUniformOf(c.seed, image.name));
  return CURVE_ALPHAS.map((alpha) => {
    const thresholds: ConformalThresholds = {
      alpha,
      options,
      threshold: conformalQuantile(c.scores, alpha),
      perClass: byClass.map((scores) => conformalQuantile(scores, alpha)),
      counts: byClass.map((scores) => scores.length),
    };
    let covered = 0;
    let size = 0;
    images.forEach((image, i) => {
      const set = setOf(image.mean, uniforms[i]!, thresholds, c.classConditional);
      if (set.includes(image.label)) covered++;
      size += set.length;
    });
    return { alpha, coverage: covered / images.length, meanSize: size / images.length };
  });
}
