/**
 * A segmentation run's row per image: where its maps are and its image-level scores (pixel means,
 * a high quantile, the uncertain share, what it labelled), as CSV or JSONL. confidence, entropy and
 * mutual_information are the pixels' means, so select ranks images by them as it ranks a
 * classifier's rows (mean MI per image, as MONAILabel and Baal score a segmentation).
 */
import { stringify } from '../../io/csv.js';
import { csvName } from '../../io/names.js';
import type { PixelMaps } from '../../segmentation/maps.js';
import { imageScores } from '../../segmentation/scores.js';

/** Columns of a segmentation run's CSV (JSONL has the same keys). */
export const MAP_COLUMNS = [
  'path',
  'maps',
  'label',
  'confidence',
  'entropy',
  'mutual_information',
  'variation_ratio',
  'margin',
  'entropy_q95',
  'mutual_information_q95',
  'uncertain_share',
  'class_pixels',
  'class_confidence',
  'status',
  'error',
] as const;

/** The quantile of the rows' *_q95 columns. */
const ROW_QUANTILE = 0.95;

/** How rows are written: format, labels (class names), the uncertain-pixel threshold on H / ln C. */
export interface MapRowOptions {
  format: 'csv' | 'jsonl';
  labels: readonly string[];
  threshold: number;
}

/**
 * One image's row: the maps' stem and its scores, or its error. `voted`: the maps whose passes'
 * votes were counted (the model's size, before a resize), for variation_ratio.
 */
export function mapRowLine(options: MapRowOptions, file: string, result: { stem: string; maps: PixelMaps; voted: PixelMaps } | { error: string }): string {
  const record = 'error' in result ? errorRecord(file, result.error) : okRecord(options, file, result);
  if (options.format === 'jsonl') return JSON.stringify(record, (_key, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Number(round(v)) : v));
  const cell = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'number' ? round(v) : typeof v === 'string' ? v : JSON.stringify(v));
  return stringify([MAP_COLUMNS.map((k) => (k === 'path' ? csvName(file) : cell(record[k])))]).trimEnd();
}

function okRecord(options: MapRowOptions, file: string, { stem, maps, voted }: { stem: string; maps: PixelMaps; voted: PixelMaps }): Record<string, unknown> {
  const scores = imageScores(maps, { quantile: ROW_QUANTILE, threshold: options.threshold });
  const confidence = meanOf(maps.confidence);
  const majority = scores.class_pixels.indexOf(Math.max(...scores.class_pixels));
  // per class: only the classes some pixel has, by name
  const pixels: Record<string, number> = {};
  const confidences: Record<string, number> = {};
  scores.class_pixels.forEach((count, c) => {
    if (count === 0) return;
    pixels[options.labels[c]!] = count;
    confidences[options.labels[c]!] = Number(round(scores.class_confidence[c]!));
  });
  return {
    path: file,
    maps: stem,
    label: options.labels[majority],
    confidence,
    entropy: scores.mean_entropy,
    mutual_information: scores.mean_mi,
    variation_ratio: voted.variationRatio ? meanOf(voted.variationRatio) : null,
    margin: meanMargin(maps),
    entropy_q95: scores.q_entropy,
    mutual_information_q95: scores.q_mi,
    uncertain_share: scores.uncertain_share,
    class_pixels: pixels,
    class_confidence: confidences,
    status: 'ok',
    error: '',
  };
}

function errorRecord(file: string, error: string): Record<string, unknown> {
  return { path: file, maps: '', status: 'error', error };
}

function meanOf(values: Float32Array): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Mean over pixels of the two largest mean probabilities' difference. */
function meanMargin(maps: PixelMaps): number {
  const pixels = maps.width * maps.height;
  let sum = 0;
  for (let p = 0; p < pixels; p++) {
    let [first, second] = [-Infinity, -Infinity];
    for (let c = 0; c < maps.classes; c++) {
      const m = maps.meanProbs[c * pixels + p]!;
      if (m > first) [first, second] = [m, first];
      else if (m > second) second = m;
    }
    sum += first - second;
  }
  return sum / pixels;
}

/** 6 decimals, as the classifier's rows. */
function round(value: number): string {
  return value.toFixed(6);
}
