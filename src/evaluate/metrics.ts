/**
 * Is the uncertainty worth it: accuracy, proper scores, calibration, selective prediction and how
 * well each uncertainty score tells errors from correct predictions. Pure: imports only errors and the
 * score table (stats/uncertainty.ts). Every definition is stated where it is computed; logs are natural (nats).
 */
import { invalidParameter } from '../errors.js';
import { UNCERTAINTY_SCORES, uncertaintyOf, type UncertaintyScore } from '../stats/uncertainty.js';

/** What the metrics read of one labeled image, from its mean probabilities over T passes. */
export interface Outcome {
  /** True class index. */
  label: number;
  /** argmax of the mean probabilities (lowest index on ties). */
  predicted: number;
  /** Largest mean probability. */
  confidence: number;
  /** Mean probability of the true class. */
  trueProbability: number;
  /** Sum over classes of (p_c - [c = label])^2. */
  brier: number;
  /** Predictive entropy, nats. */
  entropy: number;
  /** Mutual information between prediction and masks, nats (0 for one pass). */
  mutualInformation: number;
  /** 1 - passes voting for the modal class / T (0 for one pass). */
  variationRatio: number;
  /** Top-1 minus top-2 mean probability. */
  margin: number;
}

/** Equal-width confidence bins of the ECE and the reliability diagram. */
const CALIBRATION_BINS = 15;
/** Coverages at which selective accuracy is reported. */
const COVERAGES = [0.8, 0.9, 0.95] as const;
/** p_true below this counts as this in the NLL, so one zero probability does not make it infinite. */
const NLL_FLOOR = 1e-12;

interface ReliabilityBin {
  /** The bin holds confidences in (lower, upper]. */
  lower: number;
  upper: number;
  count: number;
  /** Accuracy and mean confidence of the bin's images; null when it is empty. */
  accuracy: number | null;
  confidence: number | null;
}

export interface Calibration {
  /** Expected calibration error: sum over equal-width bins of |bin|/n * |accuracy - confidence|. */
  ece: number;
  /** The same over 15 equal-mass bins (images sorted by confidence, split as evenly as possible). */
  adaptiveEce: number;
  /** Maximum calibration error: the largest |accuracy - confidence| of a non-empty equal-width bin. */
  mce: number;
  bins: ReliabilityBin[];
}

interface SelectiveAccuracy {
  coverage: number;
  /** Images kept: the ceil(coverage x n) most confident. */
  kept: number;
  accuracy: number;
}

export interface RiskCoverage {
  /** Area under the risk-coverage curve: the mean, over k = 1..n, of the error rate of the k most confident images. */
  aurc: number;
  /** AURC minus the AURC of a perfect ranking with the same errors (every error after every correct image). */
  eAurc: number;
  selective: SelectiveAccuracy[];
  /** The curve at up to 101 coverages (for plots): coverage k/n and risk. */
  curve: { coverage: number; risk: number }[];
}

/** Accuracy, NLL (nats), Brier, ECE and MCE (15 bins), AURC, selective accuracy and the AUROC of each uncertainty score. */
export interface MetricSet {
  images: number;
  accuracy: number;
  /** Mean negative log-likelihood of the true class, nats, with p floored at NLL_FLOOR. */
  nll: number;
  /** Mean multi-class Brier score (summed over classes, in [0, 2]). */
  brier: number;
  calibration: Calibration;
  riskCoverage: RiskCoverage;
  /** AUROC of each uncertainty score for telling errors (positive) from correct predictions; null when either is absent. */
  auroc: Record<UncertaintyScore, number | null>;
}

/** Every metric of a set of labeled images. Throws on an empty set. */
export function metricsOf(outcomes: readonly Outcome[]): MetricSet {
  if (outcomes.length === 0) throw invalidParameter('outcomes', 'at least one labeled image', 0, 'images');
  const n = outcomes.length;
  let correct = 0;
  let nll = 0;
  let brier = 0;
  for (const o of outcomes) {
    if (o.predicted === o.label) correct++;
    nll -= Math.log(Math.max(o.trueProbability, NLL_FLOOR));
    brier += o.brier;
  }
  const errors = outcomes.map((o) => o.predicted !== o.label);
  const auroc = Object.fromEntries(
    UNCERTAINTY_SCORES.map((s) => [
      s,
      aurocOf(
        outcomes.map((o) => uncertaintyOf(o, s)),
        errors,
      ),
    ]),
  ) as Record<UncertaintyScore, number | null>;
  return {
    images: n,
    accuracy: correct / n,
    nll: nll / n,
    brier: brier / n,
    calibration: calibrationOf(outcomes),
    riskCoverage: riskCoverageOf(outcomes),
    auroc,
  };
}

/** Equal-width and equal-mass calibration errors, and the reliability bins. */
export function calibrationOf(outcomes: readonly Outcome[], binCount = CALIBRATION_BINS): Calibration {
  const n = outcomes.length;
  const sums = Array.from({ length: binCount }, () => ({ count: 0, correct: 0, confidence: 0 }));
  for (const o of outcomes) {
    // bin b holds (b/B, (b+1)/B]: the first edge above the confidence, compared as numbers
    let b = 0;
    while (b < binCount - 1 && o.confidence > (b + 1) / binCount) b++;
    const s = sums[b]!;
    s.count++;
    s.confidence += o.confidence;
    if (o.predicted === o.label) s.correct++;
  }
  let ece = 0;
  let mce = 0;
  const bins = sums.map((s, b): ReliabilityBin => {
    if (s.count === 0) return { lower: b / binCount, upper: (b + 1) / binCount, count: 0, accuracy: null, confidence: null };
    const gap = Math.abs(s.correct / s.count - s.confidence / s.count);
    ece += (s.count / n) * gap;
    mce = Math.max(mce, gap);
    return { lower: b / binCount, upper: (b + 1) / binCount, count: s.count, accuracy: s.correct / s.count, confidence: s.confidence / s.count };
  });
  // equal mass: sorted by confidence (ties in input order), the first n mod B groups one image larger
  const order = outcomes.map((_, i) => i).sort((a, b) => outcomes[a]!.confidence - outcomes[b]!.confidence || a - b);
  let adaptiveEce = 0;
  let start = 0;
  for (let g = 0; g < binCount; g++) {
    const size = Math.floor(n / binCount) + (g < n % binCount ? 1 : 0);
    if (size === 0) continue;
    let correct = 0;
    let confidence = 0;
    for (const i of order.slice(start, start + size)) {
      confidence += outcomes[i]!.confidence;
      if (outcomes[i]!.predicted === outcomes[i]!.label) correct++;
    }
    adaptiveEce += (size / n) * Math.abs(correct / size - confidence / size);
    start += size;
  }
  return { ece, adaptiveEce, mce, bins };
}

/**
 * Selective prediction by confidence: images ranked most confident first (ties in input order),
 * risk(k) = errors among the first k / k.
 */
export function riskCoverageOf(outcomes: readonly Outcome[], coverages: readonly number[] = COVERAGES): RiskCoverage {
  const n = outcomes.length;
  const order = outcomes.map((_, i) => i).sort((a, b) => outcomes[b]!.confidence - outcomes[a]!.confidence || a - b);
  const errorsUpTo = new Float64Array(n + 1);
  order.forEach((i, k) => {
    errorsUpTo[k + 1] = errorsUpTo[k]! + (outcomes[i]!.predicted !== outcomes[i]!.label ? 1 : 0);
  });
  const errors = errorsUpTo[n]!;
  let aurc = 0;
  let optimal = 0;
  for (let k = 1; k <= n; k++) {
    aurc += errorsUpTo[k]! / k;
    optimal += Math.max(0, k - (n - errors)) / k;
  }
  aurc /= n;
  optimal /= n;
  const selective = coverages.map((coverage): SelectiveAccuracy => {
    // a hair below the product, so 0.9 x 50 keeps 45 however the float rounds
    const kept = Math.min(n, Math.max(1, Math.ceil(coverage * n - 1e-9)));
    return { coverage, kept, accuracy: 1 - errorsUpTo[kept]! / kept };
  });
  const points = Math.min(n, 100);
  const curve = Array.from({ length: points + 1 }, (_, j) => Math.max(1, Math.round((j / points) * n)))
    .filter((k, j, all) => j === 0 || k !== all[j - 1])
    .map((k) => ({ coverage: k / n, risk: errorsUpTo[k]! / k }));
  return { aurc, eAurc: aurc - optimal, selective, curve };
}

/**
 * Area under the ROC curve of `scores` for telling positives from negatives: the probability that
 * a random positive scores above a random negative, ties counting one half (Mann-Whitney U / n+ n-).
 * null when there is no positive or no negative.
 */
export function aurocOf(scores: readonly number[], positive: readonly boolean[]): number | null {
  const positives = positive.filter(Boolean).length;
  const negatives = positive.length - positives;
  if (positives === 0 || negatives === 0) return null;
  const order = scores.map((_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  // average ranks (1-based) over ties, then U of the positives
  let rankSum = 0;
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && scores[order[end + 1]!] === scores[order[start]!]) end++;
    const rank = (start + end + 2) / 2;
    for (let j = start; j <= end; j++) if (positive[order[j]!]) rankSum += rank;
    start = end + 1;
  }
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** counts[true][predicted], classes x classes. */
export function confusionOf(outcomes: readonly Outcome[], classes: number): number[][] {
  const counts = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (const o of outcomes) counts[o.label]![o.predicted]! += 1;
  return counts;
}
