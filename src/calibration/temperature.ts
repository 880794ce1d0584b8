/**
 * Temperature scaling for MC dropout (Guo et al. 2017), pure maths.
 *
 * Where the temperature acts: on each pass's logits, before that pass's softmax, and the passes are
 * then averaged, p(tau) = mean_t softmax(z_t / tau). Scaling each pass keeps the MC decomposition
 * whole: the predictive entropy, the expected entropy and the mutual information are all computed
 * from the calibrated passes, so the uncertainty columns stay consistent with the calibrated
 * confidence. (Scaling the log of the mean instead would calibrate the mean alone and leave the
 * passes, and so the mutual information, as they were.) Log-probabilities work as logits: the
 * softmax does not see a shift, so softmax(log p_t / tau) is p_t^(1/tau) normalized, and a model
 * whose output is already a softmax, or a saved passes file, calibrates the same way.
 */
import { invalidParameter, param } from '../errors.js';

/** Probability floor for the log of a pass and for the NLL (as evaluate's NLL). */
const PROBABILITY_FLOOR = 1e-12;
/** The temperatures searched: [1/20, 20], on a log scale. */
export const TEMPERATURE_RANGE = [0.05, 20] as const;

/** One labeled image: its passes as logits or log-probabilities, [T, C] row-major, and its true class. */
export interface LabeledPasses {
  logits: ArrayLike<number>;
  label: number;
}

/**
 * The British spelling of LabeledPasses, kept for one release.
 * @deprecated Use LabeledPasses.
 */
export type LabelledPasses = LabeledPasses;

/** Log-probabilities of passes given as probabilities ([T, C] row-major), floored at PROBABILITY_FLOOR. */
export function logProbabilities(probs: ArrayLike<number>): Float64Array {
  return Float64Array.from(probs, (p) => Math.log(Math.max(p, PROBABILITY_FLOOR)));
}

/** softmax(z_t / temperature) of each pass z_t ([T, C] row-major logits or log-probabilities): the calibrated passes, [T, C]. */
export function temperedPasses(logits: ArrayLike<number>, classes: number, temperature: number): Float64Array {
  const passes = logits.length / classes;
  if (!Number.isInteger(passes) || passes < 1) throw invalidParameter('logits', `passes as [T, ${classes}] logits`, logits.length, 'values');
  if (!(temperature > 0 && Number.isFinite(temperature))) throw invalidParameter('temperature', 'a positive number', temperature);
  const out = new Float64Array(logits.length);
  for (let t = 0; t < passes; t++) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[t * classes + c]! / temperature);
    let sum = 0;
    for (let c = 0; c < classes; c++) {
      out[t * classes + c] = Math.exp(logits[t * classes + c]! / temperature - max);
      sum += out[t * classes + c]!;
    }
    for (let c = 0; c < classes; c++) out[t * classes + c]! /= sum;
  }
  return out;
}

/** mean_t softmax(z_t / temperature) of passes z ([T, C] row-major): the calibrated predictive mean, length C. */
export function temperedMean(logits: ArrayLike<number>, classes: number, temperature: number): Float64Array {
  const passes = logits.length / classes;
  if (!Number.isInteger(passes) || passes < 1) throw invalidParameter('logits', `passes as [T, ${classes}] logits`, logits.length, 'values');
  if (!(temperature > 0 && Number.isFinite(temperature))) throw invalidParameter('temperature', 'a positive number', temperature);
  const mean = new Float64Array(classes);
  const row = new Float64Array(classes);
  for (let t = 0; t < passes; t++) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[t * classes + c]! / temperature);
    let sum = 0;
    for (let c = 0; c < classes; c++) {
      row[c] = Math.exp(logits[t * classes + c]! / temperature - max);
      sum += row[c]!;
    }
    for (let c = 0; c < classes; c++) mean[c]! += row[c]! / sum / passes;
  }
  return mean;
}

/** Mean negative log-likelihood of the true classes under the tempered MC means (p floored at PROBABILITY_FLOOR). */
export function temperedNll(images: readonly LabeledPasses[], classes: number, temperature: number): number {
  if (images.length === 0) throw invalidParameter('images', 'at least one labeled image', 0, 'images');
  let total = 0;
  for (const { logits, label } of images) {
    if (!(Number.isInteger(label) && label >= 0 && label < classes)) throw invalidParameter('label', `a class index in [0, ${classes})`, label);
    total -= Math.log(Math.max(temperedMean(logits, classes, temperature)[label]!, PROBABILITY_FLOOR));
  }
  return total / images.length;
}

/** A fitted temperature and the mean NLL (nats) before and after. */
export interface TemperatureFit {
  temperature: number;
  /** Mean NLL at temperature 1 and at the fitted temperature. */
  nllBefore: number;
  nllAfter: number;
}

/** Golden-section steps: the bracket [ln 0.05, ln 20] shrinks by 0.618 a step, to 1e-12 in log temperature. */
const STEPS = 64;

/**
 * The temperature that minimizes the mean NLL of the labeled images, by golden-section search on
 * the log temperature over TEMPERATURE_RANGE (the NLL of a temperature-scaled softmax is unimodal
 * in the temperature; a fit at either end of the range means the data wants more than it allows).
 */
export function fitTemperature(images: readonly LabeledPasses[], classes: number): TemperatureFit {
  const nll = (logT: number) => temperedNll(images, classes, Math.exp(logT));
  const ratio = (Math.sqrt(5) - 1) / 2;
  let [a, b] = [Math.log(TEMPERATURE_RANGE[0]), Math.log(TEMPERATURE_RANGE[1])];
  let c = b - ratio * (b - a);
  let d = a + ratio * (b - a);
  let fc = nll(c);
  let fd = nll(d);
  for (let step = 0; step < STEPS; step++) {
    if (fc <= fd) {
      [b, d, fd] = [d, c, fc];
      c = b - ratio * (b - a);
      fc = nll(c);
    } else {
      [a, c, fc] = [c, d, fd];
      d = a + ratio * (b - a);
      fd = nll(d);
    }
  }
  const logT = (a + b) / 2;
  return { temperature: Math.exp(logT), nllBefore: nll(0), nllAfter: nll(logT) };
}

/**
 * Which end of TEMPERATURE_RANGE a fitted temperature sits at (within 1e-6 in log temperature), if
 * either: the golden-section search then stopped at the range, not at a minimum of the NLL.
 */
export function temperatureAtBound(temperature: number): 'lower' | 'upper' | undefined {
  const logT = Math.log(temperature);
  if (Math.abs(logT - Math.log(TEMPERATURE_RANGE[0])) < 1e-6) return 'lower';
  if (Math.abs(logT - Math.log(TEMPERATURE_RANGE[1])) < 1e-6) return 'upper';
  return undefined;
}

/**
 * The warning for a fit that stopped at the end of TEMPERATURE_RANGE, saying why that happens and
 * what to do; undefined for a fit inside the range. `images`: the calibration images; `nll`: the
 * mean NLL at the fitted temperature.
 */
export function temperatureBoundWarning(temperature: number, images: number, nll: number): string | undefined {
  const bound = temperatureAtBound(temperature);
  if (bound === undefined) return undefined;
  const [low, high] = TEMPERATURE_RANGE;
  const more = 'calibrate on more labeled images, held out from training (hundreds, from every class)';
  return bound === 'lower'
    ? `The fitted temperature hit the lower bound ${low} of the range searched [${low}, ${high}]: on these ${images} calibration images a sharper softmax always lowers the NLL (${nll.toFixed(6)} at the bound), as it does when the images are too few or perfectly separated (every true class far ahead). Its probabilities are overconfident (near 1) on other images; ${more}`
    : `The fitted temperature hit the upper bound ${high} of the range searched [${low}, ${high}]: on these ${images} calibration images a flatter softmax always lowers the NLL (${nll.toFixed(6)} at the bound), as it does when most of them are predicted wrong or they are too few. Its probabilities are near uniform; check the true classes (${param('truthFile')}), the labels and the preprocessing, and ${more}`;
}
