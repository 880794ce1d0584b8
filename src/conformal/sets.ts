/**
 * Split conformal prediction sets (pure maths): from a labeled calibration set, a threshold on a
 * nonconformity score such that the set of labels scoring under it holds the true class with
 * probability at least 1 - alpha (exchangeable data, finite sample).
 *
 * Scores, for probabilities p of one image (labels ranked by p, highest first, lower index first
 * on ties; r(y) the 1-based rank of y; u uniform in [0, 1), one per image):
 * - LAC (least ambiguous set-valued classifier, Sadinle et al. 2019): 1 - p_y;
 * - APS (Romano, Sesia and Candes 2020): the mass ranked above y plus u * p_y;
 * - RAPS (Angelopoulos et al. 2021): APS plus lambda * max(0, r(y) - kReg), which penalizes long sets.
 * With `randomized: false`, u is 1 (APS and RAPS then count y's whole mass: no set is randomized, but
 * an image whose top class alone has more mass than the threshold gets an empty set).
 * A set holds every label whose score, with the image's u, is at most the threshold: for APS and
 * RAPS the score grows with the rank, so the set is a prefix of the ranking (it can be empty when
 * randomized, as the papers allow).
 */
import { invalidParameter } from '../errors.js';
import { philox4x32 } from '../stats/random.js';

/** The conformity scores: LAC (1 - p of the label), APS and RAPS (cumulative mass to the label). */
export const CONFORMAL_SCORES = ['lac', 'aps', 'raps'] as const;
/** A conformity score by name: 'lac', 'aps' or 'raps'. */
export type ConformalScore = (typeof CONFORMAL_SCORES)[number];

/** How a score is computed: randomized (one seeded uniform per image) or not, and RAPS's lambda and k_reg. */
export interface ScoreOptions {
  score: ConformalScore;
  /** RAPS: the penalty per rank beyond kReg (default 0.01, as Angelopoulos et al.'s ImageNet setting). */
  lambda?: number;
  /** RAPS: ranks without penalty (default 5). */
  kReg?: number;
  /** APS and RAPS: draw u per image (default true); false counts the label's whole mass (u = 1). */
  randomized?: boolean;
}

/** RAPS's regularization by default: lambda 0.01 per rank after k_reg 5 (Angelopoulos et al. 2021). */
export const RAPS_DEFAULTS = { lambda: 0.01, kReg: 5 } as const;

/** Labels by probability, highest first, the lower index first on ties. */
export function rankLabels(p: ArrayLike<number>): number[] {
  return Array.from({ length: p.length }, (_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b);
}

/** The score of every label at its rank: scores[j] belongs to ranking[j]. */
function scoresByRank(p: ArrayLike<number>, ranking: readonly number[], u: number, options: ScoreOptions): Float64Array {
  const out = new Float64Array(ranking.length);
  const weight = options.randomized === false ? 1 : u;
  const lambda = options.lambda ?? RAPS_DEFAULTS.lambda;
  const kReg = options.kReg ?? RAPS_DEFAULTS.kReg;
  let above = 0;
  ranking.forEach((label, j) => {
    const py = p[label]!;
    if (options.score === 'lac') out[j] = 1 - py;
    else out[j] = above + weight * py + (options.score === 'raps' ? lambda * Math.max(0, j + 1 - kReg) : 0);
    above += py;
  });
  return out;
}

/** The nonconformity score of label `label` for probabilities `p`, with the image's uniform `u`. */
export function conformityScore(p: ArrayLike<number>, label: number, u: number, options: ScoreOptions): number {
  if (!(Number.isInteger(label) && label >= 0 && label < p.length)) throw invalidParameter('label', `a class index in [0, ${p.length})`, label);
  const ranking = rankLabels(p);
  return scoresByRank(p, ranking, u, options)[ranking.indexOf(label)]!;
}

/**
 * The finite-sample conformal quantile: the ceil((n + 1)(1 - alpha))-th smallest of n calibration
 * scores; Infinity (every label) when that rank exceeds n, i.e. for n < 1/alpha - 1.
 */
export function conformalQuantile(scores: readonly number[], alpha: number): number {
  if (!(alpha > 0 && alpha < 1)) throw invalidParameter('alpha', 'a miscoverage in (0, 1)', alpha);
  const rank = Math.ceil((scores.length + 1) * (1 - alpha));
  if (rank > scores.length) return Infinity;
  return [...scores].sort((a, b) => a - b)[rank - 1]!;
}

/** The labels whose score is at most `threshold`, in rank order. */
export function predictionSet(p: ArrayLike<number>, threshold: number, u: number, options: ScoreOptions): number[] {
  const ranking = rankLabels(p);
  const scores = scoresByRank(p, ranking, u, options);
  return ranking.filter((_, j) => scores[j]! <= threshold);
}

/** A labeled calibration image: its (MC mean) probabilities, true class and uniform. */
export interface CalibrationImage {
  probs: ArrayLike<number>;
  label: number;
  u: number;
}

/** Calibrated thresholds for one alpha and score: the marginal threshold and one per class (Mondrian), with the calibration images per class. */
export interface ConformalThresholds {
  alpha: number;
  options: ScoreOptions;
  /** The threshold for every image (marginal coverage). */
  threshold: number;
  /** Class-conditional (Mondrian) thresholds, one per class from its own calibration images; Infinity for a class with too few. */
  perClass: number[];
  /** Calibration images per class. */
  counts: number[];
}

/** Thresholds at miscoverage `alpha` from the calibration images, marginal and per class. */
export function calibrateSets(images: readonly CalibrationImage[], classes: number, alpha: number, options: ScoreOptions): ConformalThresholds {
  if (images.length === 0) throw invalidParameter('images', 'at least one labeled calibration image', 0, 'images');
  const scores = images.map((image) => conformityScore(image.probs, image.label, image.u, options));
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  images.forEach((image, i) => byClass[image.label]!.push(scores[i]!));
  return {
    alpha,
    options,
    threshold: conformalQuantile(scores, alpha),
    perClass: byClass.map((s) => conformalQuantile(s, alpha)),
    counts: byClass.map((s) => s.length),
  };
}

/** The set of one image under the thresholds: marginal, or with `classConditional` each label against its own class's threshold. */
export function setOf(p: ArrayLike<number>, u: number, thresholds: ConformalThresholds, classConditional = false): number[] {
  if (!classConditional) return predictionSet(p, thresholds.threshold, u, thresholds.options);
  const ranking = rankLabels(p);
  const scores = scoresByRank(p, ranking, u, thresholds.options);
  return ranking.filter((label, j) => scores[j]! <= thresholds.perClass[label]!);
}

/**
 * The uniforms of APS and RAPS, one per image, reproducible from a seed: Philox4x32-10 at counter
 * (index, 0, 0, 0) and key (seed mod 2^32, floor(seed / 2^32)), the first word / 2^32.
 */
export function conformalUniforms(seed: number, count: number): Float64Array {
  const words = new Uint32Array(4);
  return Float64Array.from({ length: count }, (_, i) => {
    philox4x32(i, 0, 0, 0, seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0, words);
    return words[0]! / 2 ** 32;
  });
}

/**
 * The uniform of APS and RAPS for one image named `name` (its path): Philox4x32-10 at counter
 * (h0, h1, 1, 0), h the 64-bit FNV-1a hash of the name's UTF-16 code units, and key (seed mod 2^32,
 * floor(seed / 2^32)); the first word / 2^32. It depends on the seed and the name alone, so an
 * image's set is the same whatever the order, the batch or the shard it runs in.
 */
export function conformalUniformOf(seed: number, name: string): number {
  let lo = 0x84222325;
  let hi = 0xcbf29ce4;
  for (let i = 0; i < name.length; i++) {
    lo = (lo ^ name.charCodeAt(i)) >>> 0;
    // multiply the 64-bit (hi, lo) by the FNV prime 2^40 + 0x1b3, in 32-bit halves
    const a = lo * 0x1b3;
    const carry = Math.floor(a / 2 ** 32);
    hi = (Math.imul(hi, 0x1b3) + Math.imul(lo, 0x100) + carry) >>> 0;
    lo = a >>> 0;
  }
  const words = new Uint32Array(4);
  philox4x32(lo, hi, 1, 0, seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0, words);
  return words[0]! / 2 ** 32;
}
