/** Out-of-distribution evaluation (pure): each uncertainty score's power to tell OOD images from the model's own, MC beside deterministic. */
import { UNCERTAINTY_SCORES, type UncertaintyScore } from '../evaluate/metrics.js';
import type { McSummary } from '../stats/aggregate.js';
import { oodMetrics, type OodMetrics } from './metrics.js';

/** What one score does: OOD metrics from the MC passes and from the deterministic pass (null: not measured, or MC-only score). */
export interface OodScoreRow {
  /** An uncertainty score, or from the logits: max_logit (scored as -max logit) and energy (-logsumexp z). */
  score: UncertaintyScore | 'max_logit' | 'energy';
  mc: OodMetrics;
  deterministic: OodMetrics | null;
}

/** An image's uncertainty as an OOD score, higher = more likely OOD (as evaluate's AUROC reads them). */
export function oodScoreOf(s: Pick<McSummary, 'confidence' | 'entropy' | 'mutualInformation' | 'variationRatio' | 'margin'>, score: UncertaintyScore): number {
  switch (score) {
    case 'one_minus_confidence':
      return 1 - s.confidence;
    case 'entropy':
      return s.entropy;
    case 'mutual_information':
      return s.mutualInformation;
    case 'variation_ratio':
      return s.variationRatio;
    case 'margin':
      return 1 - s.margin;
  }
}

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
    const mcOnly = score === 'mutual_information' || score === 'variation_ratio';
    const of = (list: readonly McSummary[]) => list.map((s) => oodScoreOf(s, score));
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
