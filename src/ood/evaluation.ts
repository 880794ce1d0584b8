/** Out-of-distribution evaluation (pure): each uncertainty score's power to tell OOD images from the model's own, MC beside deterministic. */
import type { McSummary } from '../stats/aggregate.js';
import { UNCERTAINTY, UNCERTAINTY_SCORES, uncertaintyOf, type UncertaintyInputs, type UncertaintyScore } from '../stats/uncertainty.js';
import { oodMetrics, type OodMetrics } from './metrics.js';

/** What one score does: OOD metrics from the MC passes and from the deterministic pass (null: not measured, or MC-only score). */
export interface OodScoreRow {
  /** An uncertainty score (higher = more likely OOD, as evaluate's AUROC reads them), or from the logits: max_logit (scored as -max logit) and energy (-logsumexp z). */
  score: UncertaintyScore | 'max_logit' | 'energy';
  mc: OodMetrics;
  deterministic: OodMetrics | null;
}

/** An image's uncertainty as an OOD score, higher = more likely OOD. @deprecated The one score table's `uncertaintyOf` (same numbers). */
export const oodScoreOf: (s: UncertaintyInputs, score: UncertaintyScore) => number = uncertaintyOf;

/**
 * Every score's OOD metrics. `id` and `ood`: the MC summaries of in-distribution and OOD images;
 * `deterministic`: their one-pass summaries, when run (mutual information and variation ratio are
 * 0 for one pass, so they get null there); `logits`: their max logit and energy, for a model whose
 * output is logits (higher energy and lower max logit = more likely OOD, Liu et al. 2020).
 */
export function oodTable(
  id: readonly McSummary[],
  ood: readonly McSummary[],
  deterministic?: { id: readonly McSummary[]; ood: readonly McSummary[] },
  logits?: { id: readonly LogitScores[]; ood: readonly LogitScores[] },
): OodScoreRow[] {
  const fromLogits: OodScoreRow[] = [];
  if (logits) {
    for (const score of ['max_logit', 'energy'] as const) {
      const of = (s: { maxLogit: number; energy: number }) => (score === 'max_logit' ? -s.maxLogit : s.energy);
      const det = logits.id.every((s) => s.deterministic) && logits.ood.every((s) => s.deterministic);
      fromLogits.push({
        score,
        mc: oodMetrics(logits.id.map(of), logits.ood.map(of)),
        deterministic: det
          ? oodMetrics(
              logits.id.map((s) => of(s.deterministic!)),
              logits.ood.map((s) => of(s.deterministic!)),
            )
          : null,
      });
    }
  }
  const rows = UNCERTAINTY_SCORES.map((score): OodScoreRow => {
    const { mcOnly } = UNCERTAINTY[score];
    const of = (list: readonly McSummary[]) => list.map((s) => uncertaintyOf(s, score));
    return {
      score,
      mc: oodMetrics(of(id), of(ood)),
      deterministic: deterministic && !mcOnly ? oodMetrics(of(deterministic.id), of(deterministic.ood)) : null,
    };
  });
  return [...rows, ...fromLogits];
}

/** An image's logit scores: the mean over passes of the max logit and of the energy, and of its deterministic pass. */
export interface LogitScores {
  maxLogit: number;
  energy: number;
  deterministic?: { maxLogit: number; energy: number };
}

/** What the report draws of one OOD score: its ROC curve (OOD positive) and both histograms. */
export interface OodCurves {
  score: OodScoreRow['score'];
  /** (false positive rate, true positive rate) from the highest threshold down, at most 201 points. */
  roc: [number, number][];
  /** Equal-width bins over both sets' range: their edges (bins + 1) and the share of each set per bin. */
  histogram: { edges: number[]; id: number[]; ood: number[] };
}

/** The ROC curve of `scores` telling OOD (positive) from ID, thinned to at most `points` + 1 points. */
export function rocPoints(idScores: readonly number[], oodScores: readonly number[], points = 200): [number, number][] {
  const all = [...idScores.map((s) => [s, 0] as const), ...oodScores.map((s) => [s, 1] as const)].sort((a, b) => b[0] - a[0]);
  const curve: [number, number][] = [[0, 0]];
  let [fp, tp] = [0, 0];
  for (let i = 0; i < all.length; i++) {
    if (all[i]![1] === 1) tp++;
    else fp++;
    // one point per distinct threshold
    if (i + 1 === all.length || all[i + 1]![0] !== all[i]![0]) curve.push([fp / idScores.length, tp / oodScores.length]);
  }
  if (curve.length <= points + 1) return curve;
  return Array.from({ length: points + 1 }, (_, k) => curve[Math.round((k * (curve.length - 1)) / points)]!);
}

/** Shares of ID and OOD scores in `bins` equal-width bins over their joint range. */
export function scoreHistogram(idScores: readonly number[], oodScores: readonly number[], bins = 30): OodCurves['histogram'] {
  const all = [...idScores, ...oodScores];
  const [low, high] = [Math.min(...all), Math.max(...all)];
  const width = high > low ? (high - low) / bins : 1;
  const edges = Array.from({ length: bins + 1 }, (_, k) => low + k * width);
  const shares = (values: readonly number[]) => {
    const counts = new Array<number>(bins).fill(0);
    for (const v of values) counts[Math.min(bins - 1, Math.floor((v - low) / width))]!++;
    return counts.map((c) => c / values.length);
  };
  return { edges, id: shares(idScores), ood: shares(oodScores) };
}

/** ROC curves and histograms of the MC entropy, mutual information and (from the logits) energy, for the report. */
export function oodCurves(
  id: readonly McSummary[],
  ood: readonly McSummary[],
  logits?: { id: readonly LogitScores[]; ood: readonly LogitScores[] },
): OodCurves[] {
  const curves = (['entropy', 'mutual_information'] as const).map((score): OodCurves => {
    const [a, b] = [id.map((s) => uncertaintyOf(s, score)), ood.map((s) => uncertaintyOf(s, score))];
    return { score, roc: rocPoints(a, b), histogram: scoreHistogram(a, b) };
  });
  if (logits) {
    const [a, b] = [logits.id.map((s) => s.energy), logits.ood.map((s) => s.energy)];
    curves.push({ score: 'energy', roc: rocPoints(a, b), histogram: scoreHistogram(a, b) });
  }
  return curves;
}
