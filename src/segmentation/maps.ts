/**
 * The per-pixel statistics of one segmented image over its T passes, the shape every segmentation
 * module reads. Pure maths: imports only the house's statistics and error classes. Logs are natural (nats).
 */
import { invalidParameter } from '../errors.js';
import { argmax, entropy } from '../stats/aggregate.js';

/** One image's per-pixel statistics over its passes, at map size height x width; pixel p = y * width + x. */
export interface PixelMaps {
  width: number;
  height: number;
  classes: number;
  passes: number;
  /** Mean probability of each class: [classes, height, width], class-major planes. */
  meanProbs: Float32Array;
  /** Argmax of meanProbs per pixel (lowest class on ties). */
  label: Uint16Array;
  /** max_c meanProbs per pixel. */
  confidence: Float32Array;
  /** Predictive entropy H(mean p) per pixel, nats. */
  entropy: Float32Array;
  /** Mutual information H(mean p) - mean_t H(p_t) per pixel, nats, clamped at >= 0. */
  mutualInformation: Float32Array;
  /** 1 - (passes whose argmax is the most voted class) / passes per pixel, where the passes' votes were counted (not after a resize). */
  variationRatio?: Float32Array;
}

/** The statistics of each pixel that its mean probabilities alone decide. */
export interface MeanStatistics {
  /** Argmax per pixel (lowest class on ties), [height, width]. */
  label: Uint16Array;
  /** Largest mean probability per pixel, [height, width]. */
  confidence: Float32Array;
  /** H(mean p) per pixel, nats, [height, width]. */
  entropy: Float32Array;
}

/** Throws a UsageError naming `name` when a size is not a positive integer. */
export function checkSize(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw invalidParameter(name, 'a positive integer', value);
}

/** Throws a UsageError when the maps' sizes and array lengths disagree (`name`: how the caller calls them). */
export function checkPixelMaps(maps: PixelMaps, name = 'maps'): void {
  checkSize(`${name}.width`, maps.width);
  checkSize(`${name}.height`, maps.height);
  checkSize(`${name}.classes`, maps.classes);
  if (maps.classes > 65536) throw invalidParameter(`${name}.classes`, 'at most 65536 classes (labels are 16-bit)', maps.classes);
  const pixels = maps.width * maps.height;
  if (maps.meanProbs.length !== maps.classes * pixels) {
    throw invalidParameter(`${name}.meanProbs`, `classes x height x width = ${maps.classes * pixels} values`, maps.meanProbs.length, 'values');
  }
  for (const key of ['label', 'confidence', 'entropy', 'mutualInformation'] as const) {
    if (maps[key].length !== pixels) throw invalidParameter(`${name}.${key}`, `height x width = ${pixels} values`, maps[key].length, 'values');
  }
}

/** Label, confidence and entropy of each pixel from mean probabilities [classes, pixels] (class-major planes). */
export function meanStatisticsOf(meanProbs: Float32Array, classes: number, pixels: number): MeanStatistics {
  const label = new Uint16Array(pixels);
  const confidence = new Float32Array(pixels);
  const entropies = new Float32Array(pixels);
  // one pixel's vector gathered from the planes, so the house's argmax and entropy read it as they read an image's
  const vector = new Float64Array(classes);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < classes; c++) vector[c] = meanProbs[c * pixels + p]!;
    const best = argmax(vector);
    label[p] = best;
    confidence[p] = vector[best]!;
    entropies[p] = entropy(vector);
  }
  return { label, confidence, entropy: entropies };
}
