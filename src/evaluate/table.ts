/**
 * The evaluation as rows of text cells, deterministic beside MC: one layout for the terminal
 * table and the HTML report. Pure.
 */
import type { EvaluationNumbers } from './evaluation.js';
import { UNCERTAINTY, UNCERTAINTY_SCORES } from '../stats/uncertainty.js';
import type { MetricSet } from './metrics.js';

/** One metric as text cells: deterministic and MC values, and which way is better. */
export interface MetricRow {
  metric: string;
  /** Which way is better. */
  better: 'higher' | 'lower';
  deterministic: string;
  mc: string;
}

/** T as shown: the number, or for an adaptive run (a mean over images) `auto (mean 19.8)`. */
export function passesLabel(passes: number): string {
  return Number.isInteger(passes) ? String(passes) : `auto (mean ${passes.toFixed(1)})`;
}

const percent = (v: number): string => `${(100 * v).toFixed(2)}%`;
const plain = (v: number): string => v.toFixed(4);
const orNa = (v: number | null): string => (v === null ? 'n/a' : plain(v));

/** The metrics of one set as [name, better, cell]; MC-only scores read n/a for one pass. */
function cells(m: MetricSet, onePass: boolean): [string, 'higher' | 'lower', string][] {
  const rows: [string, 'higher' | 'lower', string][] = [
    ['accuracy', 'higher', percent(m.accuracy)],
    ['NLL (nats)', 'lower', plain(m.nll)],
    ['Brier score', 'lower', plain(m.brier)],
    ['ECE (15 bins)', 'lower', plain(m.calibration.ece)],
    ['adaptive ECE (15 equal-mass bins)', 'lower', plain(m.calibration.adaptiveEce)],
    ['MCE', 'lower', plain(m.calibration.mce)],
    ['AURC', 'lower', plain(m.riskCoverage.aurc)],
    ['E-AURC', 'lower', plain(m.riskCoverage.eAurc)],
    ...m.riskCoverage.selective.map((s): [string, 'higher', string] => [
      `selective accuracy at ${Math.round(s.coverage * 100)}% coverage`,
      'higher',
      percent(s.accuracy),
    ]),
  ];
  for (const score of UNCERTAINTY_SCORES) {
    const { name, mcOnly } = UNCERTAINTY[score];
    rows.push([`AUROC errors vs correct, ${name}`, 'higher', onePass && mcOnly ? 'n/a' : orNa(m.auroc[score])]);
  }
  return rows;
}

/** Every metric of several metric sets side by side: [metric, one cell per set]; `onePass` sets read n/a for MC-only scores. */
export function metricTable(columns: readonly { metrics: MetricSet; onePass: boolean }[]): string[][] {
  const each = columns.map((c) => cells(c.metrics, c.onePass));
  return each[0]!.map(([metric], i) => [metric, ...each.map((set) => set[i]![2])]);
}

/** Every metric, deterministic beside MC ('-' where the evaluation has no deterministic pass). */
export function metricRows(numbers: EvaluationNumbers): MetricRow[] {
  const mc = cells(numbers.mc, numbers.passes * (numbers.rowsPerPass ?? 1) === 1);
  const det = numbers.deterministic ? cells(numbers.deterministic, true) : undefined;
  return mc.map(([metric, better, value], i) => ({ metric, better, deterministic: det ? det[i]![2] : '-', mc: value }));
}

/** The T curve as rows: passes, accuracy, NLL, Brier, ECE, AURC, AUROC of mutual information. */
export function curveRows(numbers: EvaluationNumbers): string[][] {
  return numbers.byPasses.map(({ passes, metrics: m }) => [
    String(passes),
    percent(m.accuracy),
    plain(m.nll),
    plain(m.brier),
    plain(m.calibration.ece),
    plain(m.riskCoverage.aurc),
    passes * (numbers.rowsPerPass ?? 1) === 1 ? 'n/a' : orNa(m.auroc.mutual_information),
  ]);
}

/** An ensemble's methods as rows: name, accuracy, NLL, Brier, ECE, AURC, AUROC of entropy and of mutual information (n/a for a method of one probability vector). */
export function methodRows(numbers: EvaluationNumbers): string[][] {
  return (numbers.methods ?? []).map(({ name, samples, metrics: m }) => [
    name,
    percent(m.accuracy),
    plain(m.nll),
    plain(m.brier),
    plain(m.calibration.ece),
    plain(m.riskCoverage.aurc),
    orNa(m.auroc.entropy),
    samples === 1 ? 'n/a' : orNa(m.auroc.mutual_information),
  ]);
}

/** Column names of the methods table. */
export const METHOD_HEADER = ['method', 'accuracy', 'NLL', 'Brier', 'ECE', 'AURC', 'AUROC (entropy)', 'AUROC (MI)'];

/** Column names of the T curve table. */
export const CURVE_HEADER = ['T', 'accuracy', 'NLL', 'Brier', 'ECE', 'AURC', 'AUROC (MI)'];

/** Columns padded to a fixed-width text table; the first column left-aligned, the rest right-aligned. */
export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
