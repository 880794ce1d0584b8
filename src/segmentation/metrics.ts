/**
 * Segmentation metrics streamed over images: pixel accuracy, IoU and Dice, NLL, ECE, and how well
 * each uncertainty tells wrong pixels from right ones. Nothing per pixel is kept across images, so
 * 10^9 pixels cost the same memory as one image. Pure maths; logs are natural (nats).
 */
import { InputError, invalidParameter } from '../errors.js';
import type { UncertaintyScore } from '../stats/uncertainty.js';
import { checkPixelMaps, checkSize, type PixelMaps } from './maps.js';

/** Levels each uncertainty is quantized to for the pixel AUROCs. */
export const AUROC_LEVELS = 65536;
/** p_true below this counts as this in the NLL: the house's floor (NLL_FLOOR of src/evaluate/metrics.ts; a test holds them equal). */
const NLL_FLOOR = 1e-12;

/** The uncertainties whose pixel AUROC is reported, named as the house's score table (stats/uncertainty.ts) names them. */
export const PIXEL_SCORES = ['one_minus_confidence', 'entropy', 'mutual_information'] as const satisfies readonly UncertaintyScore[];
/** One of PIXEL_SCORES. */
export type PixelScore = (typeof PIXEL_SCORES)[number];

/** The metrics of every pixel added so far. */
export interface SegmentationMetrics {
  images: number;
  /** Pixels counted: those whose truth is not `ignoreIndex`. */
  pixels: number;
  /** Pixels left out because their truth is `ignoreIndex`. */
  ignored: number;
  /** Share of counted pixels labelled as their truth. */
  pixelAccuracy: number;
  /** counts[truth][label], classes x classes. */
  confusion: number[][];
  /** Per class TP / (TP + FP + FN); null where the union TP + FP + FN is 0. */
  iou: (number | null)[];
  /** Mean of `iou` over the classes with a union (mmsegmentation's nanmean; torchmetrics' 'macro' would count them as 0); null when none has. */
  meanIou: number | null;
  /** Per class 2 TP / (2 TP + FP + FN); null where the union is 0. */
  dice: (number | null)[];
  /** Mean of `dice` over the classes with a union, as meanIou. */
  meanDice: number | null;
  /** Mean over pixels of -ln meanProbs[truth], each floored at 1e-12 as the house's NLL is. */
  nll: number;
  /** Expected calibration error of the pixels: the house's, over `bins` equal-width confidence bins (b/B, (b+1)/B]. */
  ece: number;
  /**
   * AUROC of each uncertainty (1 - confidence on [0, 1]; entropy and MI on [0, ln classes]) for
   * telling wrong pixels (positive) from right ones, ties counting one half, from 65536-level
   * histograms: exact for the scores quantized to floor(value / range x 65536). null when no pixel
   * is wrong or none is right.
   */
  auroc: Record<PixelScore, number | null>;
}

/** How pixels are counted. */
export interface SegmentationEvaluationOptions {
  /** Truth value of pixels to leave out (VOC's 255, say); none by default. */
  ignoreIndex?: number;
  /** Equal-width confidence bins of the ECE; default 15, as the house's. */
  bins?: number;
}

/** Wrong and right pixels per quantized level of one uncertainty. */
interface Histogram {
  wrong: Float64Array;
  right: Float64Array;
  /** Levels per unit of the score: 65536 / its range. */
  scale: number;
}

/** The house's ECE bin of a confidence (src/evaluate/metrics.ts): b holds (b/B, (b+1)/B], found by its comparisons from a first guess. */
export function calibrationBin(confidence: number, bins: number): number {
  let b = Math.min(bins - 1, Math.max(0, Math.ceil(confidence * bins) - 1));
  while (b > 0 && !(confidence > b / bins)) b--;
  while (b < bins - 1 && confidence > (b + 1) / bins) b++;
  return b;
}

/** The quantized level of a score: floor(value x scale), in [0, 65535] (0 for a value <= 0 or NaN). */
function level(value: number, scale: number): number {
  return value > 0 ? Math.min(AUROC_LEVELS - 1, Math.floor(value * scale)) : 0;
}

/** Counts one pixel's score in its level, among the wrong or the right pixels. */
function tally(histogram: Histogram, value: number, right: boolean): void {
  (right ? histogram.right : histogram.wrong)[level(value, histogram.scale)]! += 1;
}

/**
 * AUROC from histograms (Mann-Whitney U / n+ n-): each wrong pixel against the right pixels below its
 * level, and half those at it. Counts are exact in float64 to 2^53; U passes 2^53 beyond about 10^8
 * pixels, and then carries float64 rounding (1e-16 relative).
 */
function histogramAuroc(wrong: Float64Array, right: Float64Array): number | null {
  let u = 0;
  let rightBelow = 0;
  let wrongs = 0;
  for (let b = 0; b < wrong.length; b++) {
    u += wrong[b]! * (rightBelow + right[b]! / 2);
    rightBelow += right[b]!;
    wrongs += wrong[b]!;
  }
  if (wrongs === 0 || rightBelow === 0) return null;
  return u / (wrongs * rightBelow);
}

/** Mean of the non-null values; null when there are none. */
function meanOfPresent(values: readonly (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null);
  return present.length === 0 ? null : present.reduce((a, b) => a + b, 0) / present.length;
}

/** Per-class IoU and Dice from a confusion matrix [truth, label]; null where the union is 0. */
function overlapsOf(confusion: Float64Array, classes: number): { iou: (number | null)[]; dice: (number | null)[] } {
  const iou: (number | null)[] = [];
  const dice: (number | null)[] = [];
  for (let c = 0; c < classes; c++) {
    let truth = 0;
    let labelled = 0;
    for (let k = 0; k < classes; k++) {
      truth += confusion[c * classes + k]!;
      labelled += confusion[k * classes + c]!;
    }
    const tp = confusion[c * classes + c]!;
    const union = truth + labelled - tp;
    iou.push(union === 0 ? null : tp / union);
    dice.push(union === 0 ? null : (2 * tp) / (truth + labelled));
  }
  return { iou, dice };
}

/**
 * Streaming segmentation metrics: add() each image's maps and truth, result() at any point. Keeps a
 * classes x classes confusion matrix, the ECE bins and three 65536-level histograms, whatever the
 * number of pixels.
 */
export class SegmentationEvaluation {
  readonly classes: number;
  private readonly ignoreIndex: number | undefined;
  private readonly bins: number;
  private readonly confusion: Float64Array;
  private readonly calibration: { count: Float64Array; correct: Float64Array; confidence: Float64Array };
  private readonly histograms: Histogram[];
  private images = 0;
  private pixels = 0;
  private ignored = 0;
  private nll = 0;

  /** classes: the model's; options: the truth value to leave out and the ECE's bins. */
  constructor(classes: number, options: SegmentationEvaluationOptions = {}) {
    checkSize('classes', classes);
    if (classes > 65536) throw invalidParameter('classes', 'at most 65536 classes (labels are 16-bit)', classes);
    const { ignoreIndex, bins = 15 } = options;
    if (ignoreIndex !== undefined && !(Number.isInteger(ignoreIndex) && ignoreIndex >= 0 && ignoreIndex <= 65535)) {
      throw invalidParameter('ignoreIndex', 'an integer in [0, 65535]', ignoreIndex);
    }
    checkSize('bins', bins);
    this.classes = classes;
    this.ignoreIndex = ignoreIndex;
    this.bins = bins;
    this.confusion = new Float64Array(classes * classes);
    this.calibration = { count: new Float64Array(bins), correct: new Float64Array(bins), confidence: new Float64Array(bins) };
    const logClasses = Math.log(classes);
    this.histograms = [1, logClasses, logClasses].map((range) => ({
      wrong: new Float64Array(AUROC_LEVELS),
      right: new Float64Array(AUROC_LEVELS),
      scale: range > 0 ? AUROC_LEVELS / range : 0,
    }));
  }

  /**
   * Counts one image: maps and truth (Uint16Array [height, width], a class per pixel) at the same
   * size. Pixels whose truth is `ignoreIndex` are left out. Throws an InputError naming `file` (the
   * truth's file, for the caller's error row) when the truth's size differs or a truth value is not
   * a class and not `ignoreIndex`; the image then counts nothing.
   */
  add(maps: PixelMaps, truth: Uint16Array, file = 'truth'): void {
    this.check(maps, truth, file);
    const pixels = maps.width * maps.height;
    for (let p = 0; p < pixels; p++) {
      const t = truth[p]!;
      if (t === this.ignoreIndex) this.ignored++;
      else this.countPixel(maps, p, t, pixels);
    }
    this.images++;
  }

  private check(maps: PixelMaps, truth: Uint16Array, file: string): void {
    checkPixelMaps(maps);
    if (maps.classes !== this.classes) throw invalidParameter('maps.classes', `${this.classes} (the evaluation's classes)`, maps.classes);
    const pixels = maps.width * maps.height;
    if (truth.length !== pixels) throw new InputError(file, `truth has ${truth.length} pixels, the maps ${maps.width} x ${maps.height} = ${pixels}`);
    for (let p = 0; p < pixels; p++) {
      const t = truth[p]!;
      if (t >= this.classes && t !== this.ignoreIndex) {
        const where = `pixel (x ${p % maps.width}, y ${Math.floor(p / maps.width)})`;
        throw new InputError(
          file,
          `truth value ${t} at ${where} is not a class (0 to ${this.classes - 1}); if it marks pixels to leave out, pass it as \`ignoreIndex\``,
        );
      }
      if (maps.label[p]! >= this.classes) throw invalidParameter('maps.label', `classes below ${this.classes}`, maps.label[p]);
    }
  }

  private countPixel(maps: PixelMaps, p: number, truth: number, pixels: number): void {
    const label = maps.label[p]!;
    const confidence = maps.confidence[p]!;
    const right = label === truth;
    this.pixels++;
    this.confusion[truth * this.classes + label]! += 1;
    this.nll -= Math.log(Math.max(maps.meanProbs[truth * pixels + p]!, NLL_FLOOR));
    const bin = calibrationBin(confidence, this.bins);
    this.calibration.count[bin]! += 1;
    this.calibration.confidence[bin]! += confidence;
    if (right) this.calibration.correct[bin]! += 1;
    // in PIXEL_SCORES' order; three calls, not a loop over a fresh array, at a billion pixels
    const [oneMinusConfidence, entropy, mutualInformation] = this.histograms as [Histogram, Histogram, Histogram];
    tally(oneMinusConfidence, 1 - confidence, right);
    tally(entropy, maps.entropy[p]!, right);
    tally(mutualInformation, maps.mutualInformation[p]!, right);
  }

  /** The metrics of every pixel added so far; throws when no pixel has been counted. */
  result(): SegmentationMetrics {
    if (this.pixels === 0) throw invalidParameter('truth', 'at least one pixel that is not `ignoreIndex`', 0, 'pixels');
    const { classes, pixels } = this;
    const confusion = Array.from({ length: classes }, (_, t) => Array.from(this.confusion.subarray(t * classes, (t + 1) * classes)));
    let correct = 0;
    for (let c = 0; c < classes; c++) correct += this.confusion[c * classes + c]!;
    const { iou, dice } = overlapsOf(this.confusion, classes);
    const auroc = Object.fromEntries(PIXEL_SCORES.map((s, i) => [s, histogramAuroc(this.histograms[i]!.wrong, this.histograms[i]!.right)]));
    return {
      images: this.images,
      pixels,
      ignored: this.ignored,
      pixelAccuracy: correct / pixels,
      confusion,
      iou,
      meanIou: meanOfPresent(iou),
      dice,
      meanDice: meanOfPresent(dice),
      nll: this.nll / pixels,
      ece: this.ece(),
      auroc: auroc as Record<PixelScore, number | null>,
    };
  }

  /** Sum over non-empty bins of |bin| / n x |accuracy - mean confidence|, as the house's ECE. */
  private ece(): number {
    const { count, correct, confidence } = this.calibration;
    let ece = 0;
    for (let b = 0; b < this.bins; b++) {
      if (count[b] === 0) continue;
      ece += (count[b]! / this.pixels) * Math.abs(correct[b]! / count[b]! - confidence[b]! / count[b]!);
    }
    return ece;
  }
}
