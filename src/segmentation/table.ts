/** The segmentation metrics as table rows, shared by evaluate's text and the report's HTML: MC beside dropout off. */
import type { SegmentationMetrics } from './metrics.js';

/** One metric's row: its name, which way is better, and its value with dropout off and with MC. */
export interface MapMetricRow {
  metric: string;
  better: 'higher' | 'lower';
  deterministic: string;
  mc: string;
}

const four = (v: number | null): string => (v === null || Number.isNaN(v) ? '-' : v.toFixed(4));
const percent = (v: number | null): string => (v === null || Number.isNaN(v) ? '-' : `${(100 * v).toFixed(2)}%`);

/** Pixel accuracy, mean IoU and Dice, NLL, ECE, and the AUROC of each uncertainty at finding wrong pixels. */
export function mapMetricRows(deterministic: SegmentationMetrics, mc: SegmentationMetrics): MapMetricRow[] {
  const row = (metric: string, better: MapMetricRow['better'], pick: (m: SegmentationMetrics) => string): MapMetricRow => ({
    metric,
    better,
    deterministic: pick(deterministic),
    mc: pick(mc),
  });
  return [
    row('pixel accuracy', 'higher', (m) => percent(m.pixelAccuracy)),
    row('mean IoU', 'higher', (m) => percent(m.meanIou)),
    row('mean Dice', 'higher', (m) => percent(m.meanDice)),
    row('pixel NLL', 'lower', (m) => four(m.nll)),
    row('pixel ECE', 'lower', (m) => four(m.ece)),
    row('AUROC of 1 - confidence for wrong pixels', 'higher', (m) => four(m.auroc.one_minus_confidence)),
    row('AUROC of entropy for wrong pixels', 'higher', (m) => four(m.auroc.entropy)),
    // one pass has no mutual information (0 at every pixel): its AUROC of 0.5 says nothing, so it is not shown
    { ...row('AUROC of mutual information for wrong pixels', 'higher', (m) => four(m.auroc.mutual_information)), deterministic: '-' },
  ];
}

/** Per class: its IoU and Dice with dropout off and with MC ('-' for a class no pixel has in truth or prediction). */
export function classRows(labels: readonly string[], deterministic: SegmentationMetrics, mc: SegmentationMetrics): string[][] {
  return labels.map((label, c) => [
    label,
    percent(deterministic.iou[c] ?? null),
    percent(mc.iou[c] ?? null),
    percent(deterministic.dice[c] ?? null),
    percent(mc.dice[c] ?? null),
  ]);
}

/** The header of classRows' table. */
export const CLASS_HEADER = ['class', 'IoU (dropout off)', 'IoU (MC)', 'Dice (dropout off)', 'Dice (MC)'];
