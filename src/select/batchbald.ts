/**
 * BatchBALD (Kirsch, van Amersfoort and Gal, 2019): a batch of images to label whose predictions
 * are jointly most informative about the model, so near-duplicates and images that tell the same
 * thing are not all picked. Greedy: each step adds the image that most increases
 *   a(A) = H(y_A) - sum over i in A of E_t H(p_it),
 * the mutual information between the joint prediction of the batch A and the dropout masks, with
 * the joint p(y_A) = 1/T sum_t prod_i p_it(y_i) over the T passes. H(y_A) is summed exactly over
 * every joint class assignment while there are at most MAX_CONFIGURATIONS of them, then estimated
 * from SAMPLES sampled assignments (importance-weighted, as in the paper). Pure maths: it imports
 * only stats/aggregate.
 */
import { invalidParameter } from '../errors.js';
import { entropy, summarize } from '../stats/aggregate.js';
import { mulberry32 } from '../stats/random.js';

/** Joint class assignments summed exactly, at most (then sampled). */
export const MAX_CONFIGURATIONS = 8192;
/** Sampled joint assignments once the exact sum is too large. */
export const SAMPLES = 2000;

export interface BatchBaldPick {
  /** Index of the image in the input. */
  index: number;
  /** How much the image raised a(A) when it was added, nats. */
  gain: number;
}

/**
 * Picks `count` images greedily. passes: per image its probabilities [T, C] row-major (the same T
 * for all). Ties go to the earlier image. `seed` drives the sampled assignments.
 */
export function batchBald(passes: readonly Float64Array[], classes: number, count: number, seed = 0): BatchBaldPick[] {
  const n = passes.length;
  if (n === 0 || count <= 0) return [];
  const T = passes[0]!.length / classes;
  const bad = Number.isInteger(T) && T >= 1 ? passes.findIndex((p) => p.length !== T * classes) : 0;
  if (bad >= 0)
    throw invalidParameter(
      'passes',
      `[T, ${classes}] values for every image with one T (T = ${T} from the first)`,
      passes[bad]!.length,
      `values for image ${bad}`,
    );
  const expected = passes.map((p) => summarize(p, classes).expectedEntropy);
  const random = mulberry32(seed);
  // state: per pass t, per joint assignment k of the batch so far, prod_i p_it(y_i): weights[t * K + k]
  let configurations = 1;
  let weights = new Float64Array(T).fill(1);
  /** Sampled mode: the pass each sample was drawn from (the mixture's latent). */
  let sampledPass: Int32Array | undefined;
  const picked: BatchBaldPick[] = [];
  const chosen = new Set<number>();
  let expectedSum = 0;
  let current = 0; // a(A)
  const joint = new Float64Array(MAX_CONFIGURATIONS * Math.max(classes, 1));

  /** H(y_A, y_x) for candidate x. */
  const jointEntropy = (x: Float64Array): number => {
    const K = configurations;
    if (!sampledPass) {
      joint.fill(0, 0, K * classes);
      for (let t = 0; t < T; t++) {
        const w = t * K;
        const p = t * classes;
        for (let k = 0; k < K; k++) {
          const base = weights[w + k]! / T;
          if (base === 0) continue;
          for (let c = 0; c < classes; c++) joint[k * classes + c]! += base * x[p + c]!;
        }
      }
      return entropy(joint, 0, K * classes);
    }
    // samples s drawn from p(y_A): H ~ -1/S sum_s sum_c p(y_s, c) / p(y_s) log p(y_s, c)
    let h = 0;
    for (let s = 0; s < K; s++) {
      let ps = 0;
      joint.fill(0, 0, classes);
      for (let t = 0; t < T; t++) {
        const w = weights[t * K + s]! / T;
        ps += w;
        for (let c = 0; c < classes; c++) joint[c]! += w * x[t * classes + c]!;
      }
      if (ps === 0) continue;
      for (let c = 0; c < classes; c++) {
        const q = joint[c]!;
        if (q > 0) h -= (q / ps) * Math.log(q);
      }
    }
    return h / K;
  };

  /** Adds image x (just picked) to the state. */
  const extend = (x: Float64Array): void => {
    const K = configurations;
    if (!sampledPass && K * classes <= MAX_CONFIGURATIONS) {
      const next = new Float64Array(T * K * classes);
      for (let t = 0; t < T; t++) {
        for (let k = 0; k < K; k++) {
          const w = weights[t * K + k]!;
          for (let c = 0; c < classes; c++) next[t * K * classes + k * classes + c] = w * x[t * classes + c]!;
        }
      }
      weights = next;
      configurations = K * classes;
      return;
    }
    if (!sampledPass) {
      // switch to samples of the batch so far (x is already in it): a pass, then each image's class in that pass
      sampledPass = new Int32Array(SAMPLES);
      const next = new Float64Array(T * SAMPLES).fill(1);
      const members = picked.map((p) => passes[p.index]!);
      for (let s = 0; s < SAMPLES; s++) {
        const pass = Math.min(T - 1, Math.floor(random() * T));
        sampledPass[s] = pass;
        for (const member of members) {
          const y = drawClass(member, pass);
          for (let t = 0; t < T; t++) next[t * SAMPLES + s]! *= member[t * classes + y]!;
        }
      }
      weights = next;
      configurations = SAMPLES;
      return;
    }
    for (let s = 0; s < SAMPLES; s++) {
      const y = drawClass(x, sampledPass[s]!);
      for (let t = 0; t < T; t++) weights[t * SAMPLES + s]! *= x[t * classes + y]!;
    }
  };

  const drawClass = (x: Float64Array, pass: number): number => {
    let u = random();
    for (let c = 0; c < classes - 1; c++) {
      u -= x[pass * classes + c]!;
      if (u < 0) return c;
    }
    return classes - 1;
  };

  while (picked.length < Math.min(count, n)) {
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i < n; i++) {
      if (chosen.has(i)) continue;
      const score = jointEntropy(passes[i]!) - expectedSum - expected[i]!;
      if (score > bestScore + 1e-12) {
        bestScore = score;
        best = i;
      }
    }
    picked.push({ index: best, gain: bestScore - current });
    chosen.add(best);
    expectedSum += expected[best]!;
    current = bestScore;
    extend(passes[best]!);
  }
  return picked;
}

/** Candidates BatchBALD considers: the images with the highest BALD score, at most this many. */
export const CANDIDATES = 2000;

/**
 * BatchBALD over the `candidates` images with the highest mutual information (each greedy step
 * costs images x T x assignments x classes): the picks as indices into `passes`.
 */
export function batchBaldAmongTop(
  passes: readonly Float64Array[],
  classes: number,
  count: number,
  options: { seed?: number; candidates?: number } = {},
): BatchBaldPick[] {
  const mi = passes.map((p) => summarize(p, classes).mutualInformation);
  const top = mi
    .map((_, i) => i)
    .sort((a, b) => mi[b]! - mi[a]! || a - b)
    .slice(0, options.candidates ?? CANDIDATES)
    .sort((a, b) => a - b);
  return batchBald(
    top.map((i) => passes[i]!),
    classes,
    count,
    options.seed ?? 0,
  ).map((p) => ({ index: top[p.index]!, gain: p.gain }));
}
