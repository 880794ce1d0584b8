/**
 * The uncertainty of an ensemble of members, each run on several views (test-time augmentation),
 * each view with T passes (MC dropout), split into its parts. With p(m, v, t) the softmax of member
 * m, view v, pass t, and equal weights at each level (a member's views average its passes, the
 * ensemble averages its members' views):
 *
 *   P_mv = mean_t p(m, v, t)     P_m = mean_v P_mv     P = mean_m P_m
 *
 *   total entropy   H(P) = expected entropy (aleatoric, mean H(p)) + mutual information (epistemic)
 *   mutual information = between members   H(P) - mean_m H(P_m)
 *                      + between views     mean_m H(P_m) - mean_m,v H(P_mv)
 *                      + within (MC)       mean_m,v H(P_mv) - mean_m,v,t H(p(m, v, t))
 *
 * The parts telescope, so they add up to the mutual information exactly (to float rounding), and
 * each is at least 0 (the entropy is concave). The order is members, then views, then passes: the
 * part between members is what the members disagree on once each has averaged its own views and
 * passes. A member with one pass (no dropout) has no part within; one member has none between.
 */
import { invalidParameter } from '../errors.js';
import { entropy } from '../stats/aggregate.js';

/** An ensemble's uncertainty and its parts, in nats; `mean` [C] is the ensemble's predictive mean. */
export interface UncertaintyParts {
  mean: Float64Array;
  totalEntropy: number;
  expectedEntropy: number;
  mutualInformation: number;
  betweenMembers: number;
  betweenViews: number;
  withinPasses: number;
  /** Share of members whose top class (of their own mean) differs from the ensemble's. */
  memberDisagreement: number;
}

/**
 * Splits the uncertainty of one image. `passes[m][v]` holds member m's passes on view v as
 * probabilities [T_mv, C] row-major (T may differ between members: 1 for a member without dropout).
 */
export function decomposeUncertainty(passes: readonly (readonly ArrayLike<number>[])[], classes: number): UncertaintyParts {
  if (!(Number.isInteger(classes) && classes >= 1)) throw invalidParameter('classes', 'an integer >= 1', classes);
  if (passes.length === 0 || passes.some((views) => views.length === 0))
    throw invalidParameter('passes', 'at least one member with at least one view', passes.length);
  const mean = new Float64Array(classes);
  const memberMeans: Float64Array[] = [];
  let entropyOfMembers = 0;
  let entropyOfViews = 0;
  let expectedEntropy = 0;
  for (const views of passes) {
    const memberMean = new Float64Array(classes);
    let viewsEntropy = 0;
    let passesEntropy = 0;
    for (const probs of views) {
      const count = probs.length / classes;
      if (!(Number.isInteger(count) && count >= 1)) throw invalidParameter('passes', `whole passes of ${classes} classes`, probs.length, 'values');
      const viewMean = new Float64Array(classes);
      let passEntropy = 0;
      for (let t = 0; t < count; t++) {
        passEntropy += entropy(probs, t * classes, classes);
        for (let c = 0; c < classes; c++) viewMean[c]! += probs[t * classes + c]! / count;
      }
      viewsEntropy += entropy(viewMean) / views.length;
      passesEntropy += passEntropy / count / views.length;
      for (let c = 0; c < classes; c++) memberMean[c]! += viewMean[c]! / views.length;
    }
    memberMeans.push(memberMean);
    entropyOfMembers += entropy(memberMean) / passes.length;
    entropyOfViews += viewsEntropy / passes.length;
    expectedEntropy += passesEntropy / passes.length;
    for (let c = 0; c < classes; c++) mean[c]! += memberMean[c]! / passes.length;
  }
  const totalEntropy = entropy(mean);
  const top = argmax(mean);
  return {
    mean,
    totalEntropy,
    expectedEntropy,
    mutualInformation: totalEntropy - expectedEntropy,
    betweenMembers: totalEntropy - entropyOfMembers,
    betweenViews: entropyOfMembers - entropyOfViews,
    withinPasses: entropyOfViews - expectedEntropy,
    memberDisagreement: memberMeans.filter((m) => argmax(m) !== top).length / passes.length,
  };
}

/** The index of the largest value, the lowest on ties. */
function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
