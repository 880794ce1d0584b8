/**
 * Image-level uncertainty scores of one segmented image: its pixels' entropy and mutual information
 * summed up as means, a high quantile and the share of uncertain pixels, and what it labelled.
 * Pure maths; logs are natural (nats).
 */
import { invalidParameter } from '../errors.js';
import { checkPixelMaps, type PixelMaps } from './maps.js';

/** One image's scores over its pixels; snake_case, as rows name them. */
export interface ImageScores {
  /** Mean over pixels of the predictive entropy, nats. */
  mean_entropy: number;
  /** The `quantile` of the pixels' entropies (numpy's default 'linear' method), nats. */
  q_entropy: number;
  /** Mean over pixels of the mutual information, nats. */
  mean_mi: number;
  /** The `quantile` of the pixels' mutual information, nats. */
  q_mi: number;
  /** Share of pixels whose normalized entropy H / ln(classes) exceeds `threshold`, in [0, 1]. */
  uncertain_share: number;
  /** Pixels labelled c, length classes. */
  class_pixels: number[];
  /** Mean confidence of the pixels labelled c, length classes; null for a class no pixel has. */
  class_confidence: (number | null)[];
}

/** How imageScores sums up the pixels. */
export interface ImageScoreOptions {
  /** The quantile q_entropy and q_mi report, in [0, 1]; default 0.95. */
  quantile?: number;
  /** A pixel is uncertain when H / ln(classes) > threshold, in [0, 1]; default 0.5 (half the entropy of a uniform guess). */
  threshold?: number;
}

/**
 * numpy.quantile(values, q) with its default method 'linear' (type 7): the sorted values at
 * virtual index (n - 1) q, interpolated between its two neighbours as numpy's _lerp does (from
 * the upper one when the fraction is >= 0.5). Sorts a copy: O(n log n). values: at least one.
 */
export function quantileOf(values: Float32Array | Float64Array, q: number): number {
  if (!(q >= 0 && q <= 1)) throw invalidParameter('quantile', 'a number in [0, 1]', q);
  if (values.length === 0) throw invalidParameter('values', 'at least one value', 0, 'values');
  const sorted = values.slice().sort();
  const virtual = (sorted.length - 1) * q;
  const below = Math.floor(virtual);
  const a = sorted[below]!;
  const b = sorted[Math.min(below + 1, sorted.length - 1)]!;
  const gamma = virtual - below;
  const difference = b - a;
  return gamma >= 0.5 ? b - difference * (1 - gamma) : a + difference * gamma;
}

/** Mean of a map's values, summed in float64. */
function meanOf(values: Float32Array): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Image-level scores of one image's maps: entropy and MI means and quantiles, the uncertain share, and each class's pixels and mean confidence. */
export function imageScores(maps: PixelMaps, options: ImageScoreOptions = {}): ImageScores {
  checkPixelMaps(maps);
  const { quantile = 0.95, threshold = 0.5 } = options;
  if (!(threshold >= 0 && threshold <= 1)) throw invalidParameter('threshold', 'a number in [0, 1]', threshold);
  const pixels = maps.width * maps.height;
  // H / ln C > threshold, multiplied out so one class (ln 1 = 0, H = 0) counts no pixel
  const limit = threshold * Math.log(maps.classes);
  let uncertain = 0;
  const counts = new Array<number>(maps.classes).fill(0);
  const confidence = new Array<number>(maps.classes).fill(0);
  for (let p = 0; p < pixels; p++) {
    const label = maps.label[p]!;
    if (label >= maps.classes) throw invalidParameter('maps.label', `classes below ${maps.classes}`, label);
    if (maps.entropy[p]! > limit) uncertain++;
    counts[label]! += 1;
    confidence[label]! += maps.confidence[p]!;
  }
  return {
    mean_entropy: meanOf(maps.entropy),
    q_entropy: quantileOf(maps.entropy, quantile),
    mean_mi: meanOf(maps.mutualInformation),
    q_mi: quantileOf(maps.mutualInformation, quantile),
    uncertain_share: uncertain / pixels,
    class_pixels: counts,
    class_confidence: counts.map((n, c) => (n === 0 ? null : confidence[c]! / n)),
  };
}
