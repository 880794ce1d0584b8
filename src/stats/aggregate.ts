/**
 * Monte Carlo aggregation: pure maths; of the rest of the project it imports only the error classes.
 * All logs are natural (nats). Inputs are per-pass class probabilities or logits.
 */
import { invalidParameter } from '../errors.js';

/** Uncertainty summary of one image over T passes. */
export interface McSummary {
  /** Mean softmax over passes, length C. */
  mean: Float64Array;
  /** Population standard deviation of each class probability across passes, length C. */
  std: Float64Array;
  /** argmax of the mean (lowest index on ties). */
  predicted: number;
  /** max of the mean probabilities. */
  confidence: number;
  /** Predictive entropy H[mean p], nats. */
  entropy: number;
  /** Expected entropy E_t H[p_t], nats (aleatoric part). */
  expectedEntropy: number;
  /** Mutual information (BALD) = entropy - expectedEntropy, nats (epistemic part); clamped at 0. */
  mutualInformation: number;
  /** 1 - (passes voting for the modal class) / T. */
  variationRatio: number;
  /** Top-1 minus top-2 mean probability. */
  margin: number;
  /** Number of passes T. */
  passes: number;
}

/** Numerically stable softmax of each row of `logits` ([rows, C] row-major), in float64. */
export function softmaxRows(logits: ArrayLike<number>, classes: number): Float64Array {
  const rows = logits.length / classes;
  const out = new Float64Array(logits.length);
  // one row per call: V8 optimizes the small function sooner (summarize says why)
  for (let r = 0; r < rows; r++) softmaxRow(logits, out, r * classes, classes);
  return out;
}

/** out[base .. base + classes) = softmax of logits[base .. base + classes). */
function softmaxRow(logits: ArrayLike<number>, out: Float64Array, base: number, classes: number): void {
  let max = -Infinity;
  for (let c = 0; c < classes; c++) max = Math.max(max, logits[base + c]!);
  let sum = 0;
  for (let c = 0; c < classes; c++) {
    const e = Math.exp(logits[base + c]! - max);
    out[base + c] = e;
    sum += e;
  }
  for (let c = 0; c < classes; c++) out[base + c]! /= sum;
}

/** Shannon entropy in nats of one probability vector; 0 log 0 = 0. */
export function entropy(p: ArrayLike<number>, offset = 0, length = p.length - offset): number {
  let h = 0;
  for (let c = 0; c < length; c++) {
    const v = p[offset + c]!;
    if (v > 0) h -= v * Math.log(v);
  }
  return h;
}

/** Index of the largest value (lowest index on ties). */
export function argmax(v: ArrayLike<number>, offset = 0, length = v.length - offset): number {
  let best = 0;
  for (let c = 1; c < length; c++) if (v[offset + c]! > v[offset + best]!) best = c;
  return best;
}

/** Summarizes T passes of one image. probs: [T, C] row-major, each row summing to 1. */
export function summarize(probs: ArrayLike<number>, classes: number): McSummary {
  const passes = probs.length / classes;
  if (!Number.isInteger(passes) || passes < 1) {
    throw invalidParameter('probs', `[T, ${classes}] probabilities`, probs.length, 'values');
  }
  const mean = new Float64Array(classes);
  const votes = new Uint32Array(classes);
  let expectedEntropy = 0;
  // each pass's loops in small functions of their own: V8 optimizes those within the first images
  // of a run, where loops inlined here ran interpreted for longer, boxing every sum (48 images of
  // 10 x 1,000: 19 MB of garbage, #38); the sums are the same, in the same order
  for (let t = 0; t < passes; t++) {
    const base = t * classes;
    addRow(mean, probs, base);
    expectedEntropy += entropy(probs, base, classes);
    votes[argmax(probs, base, classes)]! += 1;
  }
  for (let c = 0; c < classes; c++) mean[c]! /= passes;
  expectedEntropy /= passes;

  const std = new Float64Array(classes);
  for (let t = 0; t < passes; t++) addSquaredDeviations(std, probs, t * classes, mean);
  for (let c = 0; c < classes; c++) std[c] = Math.sqrt(std[c]! / passes);

  const predicted = argmax(mean);
  const order = topK(mean, Math.min(2, classes));
  const confidence = mean[predicted]!;
  const second = order.length > 1 ? mean[order[1]!]! : 0;
  const predictive = entropy(mean);
  let modalVotes = 0;
  for (let c = 0; c < classes; c++) modalVotes = Math.max(modalVotes, votes[c]!);
  return {
    mean,
    std,
    predicted,
    confidence,
    entropy: predictive,
    expectedEntropy,
    // float rounding can make H[mean] a hair below E[H] when all passes agree
    mutualInformation: Math.max(0, predictive - expectedEntropy),
    variationRatio: 1 - modalVotes / passes,
    margin: confidence - second,
    passes,
  };
}

/** sums[c] += rows[base + c] for each c of sums. */
function addRow(sums: Float64Array, rows: ArrayLike<number>, base: number): void {
  for (let c = 0; c < sums.length; c++) sums[c]! += rows[base + c]!;
}

/** sums[c] += (rows[base + c] - means[c])^2 for each c of sums. */
function addSquaredDeviations(sums: Float64Array, rows: ArrayLike<number>, base: number, means: Float64Array): void {
  for (let c = 0; c < sums.length; c++) {
    const d = rows[base + c]! - means[c]!;
    sums[c]! += d * d;
  }
}

/** Indices of the k largest values, largest first (lower index first on ties). */
export function topK(v: ArrayLike<number>, k: number): number[] {
  const want = Math.max(0, Math.min(k, v.length));
  if (want > 16) {
    const indices = Array.from({ length: v.length }, (_, i) => i);
    indices.sort((a, b) => v[b]! - v[a]! || a - b);
    return indices.slice(0, want);
  }
  // a few of many (top-3 of 1,000 classes): insertion into a short list, one pass
  const top: number[] = [];
  if (want === 0) return top;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (top.length === want) {
      if (!(x > v[top[want - 1]!]!)) continue;
      top.pop();
    }
    // after every value at least as large: ties keep the lower index first
    let j = top.length;
    while (j > 0 && x > v[top[j - 1]!]!) j--;
    top.splice(j, 0, i);
  }
  return top;
}

/** Mean over passes of the max logit and of the energy -logsumexp(z) (Liu et al. 2020). logits: [T, C]. */
export function logitScores(logits: Float64Array, classes: number): { maxLogit: number; energy: number } {
  const passes = logits.length / classes;
  let maxLogit = 0;
  let energy = 0;
  for (let t = 0; t < passes; t++) {
    const row = logits.subarray(t * classes, (t + 1) * classes);
    const max = Math.max(...row);
    let sum = 0;
    for (const z of row) sum += Math.exp(z - max);
    maxLogit += max / passes;
    energy -= (max + Math.log(sum)) / passes;
  }
  return { maxLogit, energy };
}
