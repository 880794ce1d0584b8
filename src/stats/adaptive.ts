/**
 * When an image has had enough passes (adaptive T): pure maths, no imports from the rest of the
 * project. After n passes with per-pass probabilities p_t (t = 1..n):
 * - top-1 is settled when the gap between the two largest mean probabilities, g = m_a - m_b,
 *   exceeds z standard errors of that gap, sd_t(p_t,a - p_t,b) / sqrt(n) (a gap with no spread at
 *   all, every pass agreeing, counts as settled);
 * - the estimates are within tolerance when every class's standard error sd_t(p_t,c) / sqrt(n) and
 *   the standard error of the predictive entropy H(m) (delta method: sd_t(sum_c w_c p_t,c) / sqrt(n)
 *   with w_c = -(ln m_c + 1)) are at most `tolerance`.
 * The image stops when both hold, or when it reaches maxPasses; never before minPasses.
 */

export interface AdaptiveRule {
  minPasses: number;
  maxPasses: number;
  /** Largest standard error allowed for each mean probability and for the predictive entropy (nats). */
  tolerance: number;
  /** Standard errors the top-1 gap must exceed. */
  z: number;
}

/** The adaptive rule of `passes: 'auto'` when none is given: rounds of 8 up to 128 passes, standard errors below 0.06, a gap of 3 of them. */
export const DEFAULT_ADAPTIVE_RULE: AdaptiveRule = { minPasses: 8, maxPasses: 128, tolerance: 0.06, z: 3 };

export interface AdaptiveCheck {
  done: boolean;
  topSettled: boolean;
  /** Largest standard error of a mean probability. */
  probabilityError: number;
  /** Standard error of the predictive entropy, nats. */
  entropyError: number;
}

/** Checks `probs` ([n, C] row-major, n passes so far) against the rule. */
export function checkAdaptive(probs: ArrayLike<number>, classes: number, rule: AdaptiveRule): AdaptiveCheck {
  const n = probs.length / classes;
  const mean = new Float64Array(classes);
  for (let t = 0; t < n; t++) for (let c = 0; c < classes; c++) mean[c]! += probs[t * classes + c]! / n;
  let a = 0;
  for (let c = 1; c < classes; c++) if (mean[c]! > mean[a]!) a = c;
  let b = a === 0 ? 1 : 0;
  for (let c = 0; c < classes; c++) if (c !== a && mean[c]! > mean[b]!) b = c;
  const weights = Array.from(mean, (m) => (m > 0 ? -(Math.log(m) + 1) : 0));
  const gap = mean[a]! - mean[b]!;
  const gaps: number[] = [];
  const entropyTerms: number[] = [];
  const variance = new Float64Array(classes);
  for (let t = 0; t < n; t++) {
    const row = t * classes;
    gaps.push(probs[row + a]! - probs[row + b]!);
    let term = 0;
    for (let c = 0; c < classes; c++) {
      const p = probs[row + c]!;
      variance[c]! += (p - mean[c]!) ** 2 / n;
      term += weights[c]! * p;
    }
    entropyTerms.push(term);
  }
  const sd = (values: number[]) => {
    const m = values.reduce((x, y) => x + y, 0) / values.length;
    return Math.sqrt(values.reduce((x, y) => x + (y - m) ** 2, 0) / values.length);
  };
  const gapError = sd(gaps) / Math.sqrt(n);
  const topSettled = gapError === 0 ? gap > 0 : gap > rule.z * gapError;
  const probabilityError = Math.sqrt(Math.max(...variance)) / Math.sqrt(n);
  const entropyError = sd(entropyTerms) / Math.sqrt(n);
  const settled = topSettled && probabilityError <= rule.tolerance && entropyError <= rule.tolerance;
  return { done: n >= rule.maxPasses || (n >= rule.minPasses && settled), topSettled, probabilityError, entropyError };
}
