/**
 * A segmentation run's row per image: where its maps are and its image-level scores (pixel means,
 * a high quantile, the uncertain share, what it labelled), as CSV or JSONL. confidence, entropy and
 * mutual_information are the pixels' means, so select ranks images by them as it ranks a
 * classifier's rows (mean MI per image, as MONAILabel and Baal score a segmentation).
 */
import { stringify } from 'csv-stringify/sync';
import { csvName } from '../../io/names.js';
import type { PixelMaps } from '../../segmentation/maps.js';
import { imageScores } from '../../segmentation/scores.js';

/** Columns of a segmentation run's CSV (JSONL has the same keys). */
export const MAP_COLUMNS = [
  'path',
  'maps',
  'confidence',
  'entropy',
  'mutual_information',
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

/** One image's row: the maps' stem and its scores, or its error. */
export function mapRowLine(options: MapRowOptions, file: string, result: { stem: string; maps: PixelMaps } | { error: string }): string {
  const record = 'error' in result ? errorRecord(file, result.error) : okRecord(options, file, result.stem, result.maps);
  if (options.format === 'jsonl') return JSON.stringify(record);
  const cell = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'number' ? round(v) : typeof v === 'string' ? v : JSON.stringify(v));
  return stringify([MAP_COLUMNS.map((k) => (k === 'path' ? csvName(file) : cell(record[k])))]).trimEnd();
}

function okRecord(options: MapRowOptions, file: string, stem: string, maps: PixelMaps): Record<string, unknown> {
  const scores = imageScores(maps, { quantile: ROW_QUANTILE, threshold: options.threshold });
  let confidence = 0;
  for (const c of maps.confidence) confidence += c;
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
    confidence: confidence / maps.confidence.length,
    entropy: scores.mean_entropy,
    mutual_information: scores.mean_mi,
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

/** 6 decimals, as the classifier's rows. */
function round(value: number): string {
  return value.toFixed(6);
}
