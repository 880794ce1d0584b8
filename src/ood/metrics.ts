/**
 * Out-of-distribution detection metrics (pure maths): how well a per-image score tells images from
 * outside the model's classes (OOD) from images of its classes (in-distribution, ID). Every score
 * here is oriented so that higher means "more likely OOD" (for max probability, pass 1 - p).
 */
import { invalidParameter } from '../errors.js';
import { aurocOf } from '../evaluate/metrics.js';

/** Out-of-distribution detection by a score (higher = more likely OOD): AUROC, AUPR-In, AUPR-Out and FPR at 95% TPR. */
export interface OodMetrics {
  /** P(an OOD image scores above an ID image), ties counting one half. */
  auroc: number;
  /** Average precision with ID as the positive class (scored by -score). */
  auprIn: number;
  /** Average precision with OOD as the positive class. */
  auprOut: number;
  /** The fraction of OOD images kept when the threshold keeps 95% of ID images (the lowest such threshold). */
  fpr95: number;
}

/**
 * Average precision of `scores` for `positive`, as scikit-learn's average_precision_score: the sum
 * over distinct thresholds, highest first, of (recall gained) x (precision there).
 */
export function averagePrecision(scores: readonly number[], positive: readonly boolean[]): number {
  const total = positive.filter(Boolean).length;
  if (total === 0) throw invalidParameter('positive', 'at least one positive image', 0, 'images');
  const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let ap = 0;
  let tp = 0;
  let seen = 0;
  let lastRecall = 0;
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && scores[order[end + 1]!] === scores[order[start]!]) end++;
    for (let j = start; j <= end; j++) if (positive[order[j]!]) tp++;
    seen = end + 1;
    const recall = tp / total;
    ap += (recall - lastRecall) * (tp / seen);
    lastRecall = recall;
    start = end + 1;
  }
  return ap;
}

/**
 * FPR at 95% TPR with ID as the positive class: over the thresholds on -score (an image is kept as
 * ID when -score is at least the threshold), the smallest fraction of OOD images kept among the
 * thresholds that keep at least 95% of ID images (scikit-learn's roc_curve points, no interpolation).
 */
export function fprAt95(idScores: readonly number[], oodScores: readonly number[]): number {
  const keep = [...new Set([...idScores, ...oodScores])].sort((a, b) => a - b); // thresholds on score, ascending = keeping more
  let best = 1;
  for (const t of keep) {
    const tpr = idScores.filter((s) => s <= t).length / idScores.length;
    if (tpr >= 0.95) {
      best = Math.min(best, oodScores.filter((s) => s <= t).length / oodScores.length);
      break; // the first threshold reaching 95% keeps the fewest OOD images
    }
  }
  return best;
}

/** AUROC, AUPR-In, AUPR-Out and FPR at 95% TPR of a score (higher: more likely OOD) on ID and OOD images. */
export function oodMetrics(idScores: readonly number[], oodScores: readonly number[]): OodMetrics {
  if (idScores.length === 0 || oodScores.length === 0) throw invalidParameter('scores', 'ID and OOD images', { id: idScores.length, ood: oodScores.length });
  const scores = [...idScores, ...oodScores];
  const isOod = [...idScores.map(() => false), ...oodScores.map(() => true)];
  return {
    auroc: aurocOf(scores, isOod)!,
    auprIn: averagePrecision(
      scores.map((s) => -s),
      isOod.map((o) => !o),
    ),
    auprOut: averagePrecision(scores, isOod),
    fpr95: fprAt95(idScores, oodScores),
  };
}

/** The energy of logits (Liu et al. 2020), -logsumexp(z): low for ID images, so higher means more likely OOD. */
export function energyScore(logits: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return -(max + Math.log(sum));
}
