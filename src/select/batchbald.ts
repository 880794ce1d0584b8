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
const SAMPLES = 2000;

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
  const T = checkedPassCount(passes, classes);
  const expected = passes.map((p) => summarize(p, classes).expectedEntropy);
  const random = mulberry32(seed);
  const state = emptyBatch(T, classes);
  const picked: BatchBaldPick[] = [];
  const chosen = new Set<number>();
  let expectedSum = 0;
  let current = 0; // a(A)
  while (picked.length < Math.min(count, n)) {
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i < n; i++) {
      if (chosen.has(i)) continue;
      const score = jointEntropy(state, passes[i]!) - expectedSum - expected[i]!;
      if (score > bestScore + 1e-12) {
        bestScore = score;
        best = i;
      }
    }
    picked.push({ index: best, gain: bestScore - current });
    chosen.add(best);
    expectedSum += expected[best]!;
    current = bestScore;
    extend(state, passes[best]!, passes, picked, random);
  }
  return picked;
}

/** T, the passes of the first image, when every image has [T, classes] values; else an invalid-parameter error naming the first that does not. */
function checkedPassCount(passes: readonly Float64Array[], classes: number): number {
  const T = passes[0]!.length / classes;
  const bad = Number.isInteger(T) && T >= 1 ? passes.findIndex((p) => p.length !== T * classes) : 0;
  if (bad >= 0)
    throw invalidParameter(
      'passes',
      `[T, ${classes}] values for every image with one T (T = ${T} from the first)`,
      passes[bad]!.length,
      `values for image ${bad}`,
    );
  return T;
}

/** The batch picked so far, as the greedy steps need it. */
interface BatchState {
  readonly T: number;
  readonly classes: number;
  /** K: joint assignments held (every one while exact, else SAMPLES sampled ones). */
  configurations: number;
  /** Per pass t, per joint assignment k of the batch so far, prod_i p_it(y_i): weights[t * K + k]. */
  weights: Float64Array;
  /** Sampled mode: the pass each sample was drawn from (the mixture's latent). */
  sampledPass: Int32Array | undefined;
  /** Scratch for the joint of the batch and one candidate, [K, classes] at most. */
  readonly joint: Float64Array;
}

function emptyBatch(T: number, classes: number): BatchState {
  return {
    T,
    classes,
    configurations: 1,
    weights: new Float64Array(T).fill(1),
    sampledPass: undefined,
    joint: new Float64Array(MAX_CONFIGURATIONS * Math.max(classes, 1)),
  };
}

/** H(y_A, y_x) for candidate x. */
function jointEntropy(state: BatchState, x: Float64Array): number {
  const { T, classes, weights, joint } = state;
  const K = state.configurations;
  if (!state.sampledPass) {
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
}

/**
 * Adds image x (just picked, already last in `picked`) to the state: every joint assignment while
 * they fit MAX_CONFIGURATIONS, then samples of them.
 */
function extend(state: BatchState, x: Float64Array, passes: readonly Float64Array[], picked: readonly BatchBaldPick[], random: () => number): void {
  if (!state.sampledPass && state.configurations * state.classes <= MAX_CONFIGURATIONS) extendExact(state, x);
  else if (!state.sampledPass)
    switchToSamples(
      state,
      picked.map((p) => passes[p.index]!),
      random,
    );
  else extendSamples(state, state.sampledPass, x, random);
}

/** Every joint assignment of the batch so far times each class of x. */
function extendExact(state: BatchState, x: Float64Array): void {
  const { T, classes, weights } = state;
  const K = state.configurations;
  const next = new Float64Array(T * K * classes);
  for (let t = 0; t < T; t++) {
    for (let k = 0; k < K; k++) {
      const w = weights[t * K + k]!;
      for (let c = 0; c < classes; c++) next[t * K * classes + k * classes + c] = w * x[t * classes + c]!;
    }
  }
  state.weights = next;
  state.configurations = K * classes;
}

/** Switches to samples of the batch so far (`members`, x already among them): a pass, then each image's class in that pass. */
function switchToSamples(state: BatchState, members: readonly Float64Array[], random: () => number): void {
  const { T, classes } = state;
  const sampledPass = new Int32Array(SAMPLES);
  state.sampledPass = sampledPass;
  const next = new Float64Array(T * SAMPLES).fill(1);
  for (let s = 0; s < SAMPLES; s++) {
    const pass = Math.min(T - 1, Math.floor(random() * T));
    sampledPass[s] = pass;
    for (const member of members) {
      const y = drawClass(member, pass, classes, random);
      for (let t = 0; t < T; t++) next[t * SAMPLES + s]! *= member[t * classes + y]!;
    }
  }
  state.weights = next;
  state.configurations = SAMPLES;
}

/** Extends each sample with a class of x drawn in the sample's pass. */
function extendSamples(state: BatchState, sampledPass: Int32Array, x: Float64Array, random: () => number): void {
  const { T, classes, weights } = state;
  for (let s = 0; s < SAMPLES; s++) {
    const y = drawClass(x, sampledPass[s]!, classes, random);
    for (let t = 0; t < T; t++) weights[t * SAMPLES + s]! *= x[t * classes + y]!;
  }
}

/** A class drawn from x's probabilities in pass `pass`. */
function drawClass(x: Float64Array, pass: number, classes: number, random: () => number): number {
  let u = random();
  for (let c = 0; c < classes - 1; c++) {
    u -= x[pass * classes + c]!;
    if (u < 0) return c;
  }
  return classes - 1;
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
