/**
 * A map's passes reduced one by one as they arrive: per pixel the sum of the class probabilities
 * and the sum of each pass's entropy, never passes x classes x pixels (issue #37's memory bound).
 * Pure: the raw rows in, PixelMaps out.
 */
import { InternalError } from '../errors.js';
import type { PixelMaps } from './maps.js';

/** How a pass's raw row reads: its layout, and logits or probabilities; binary: one channel, p(class 1). */
export interface RowKind {
  layout: 'NCHW' | 'NHWC';
  /** The row holds probabilities already (a Softmax's or, binary, a Sigmoid's output), not logits. */
  probabilities: boolean;
  binary: boolean;
}

/** One image's passes of a class-score map, reduced as they come. */
export class PassReducer {
  private readonly pixels: number;
  /** Sum over passes of each class's probability: [classes, pixels]. */
  private readonly probSums: Float64Array;
  /** Sum over passes of each pixel's entropy, nats: [pixels]. */
  private readonly entropySums: Float64Array;
  /** Passes whose argmax (lowest class on ties) is each class: [classes, pixels]. */
  private readonly votes: Uint32Array;
  private added = 0;
  /** The first pass (0-based) whose row was not finite, if any. */
  nonFinitePass: number | undefined;

  constructor(
    readonly classes: number,
    readonly height: number,
    readonly width: number,
    private readonly kind: RowKind,
  ) {
    this.pixels = height * width;
    this.probSums = new Float64Array(classes * this.pixels);
    this.entropySums = new Float64Array(this.pixels);
    this.votes = new Uint32Array(classes * this.pixels);
  }

  /** Adds one pass: row [C, H, W] (NCHW) or [H, W, C] (NHWC), or [H, W] for a binary map. */
  add(row: Float32Array): void {
    const expected = (this.kind.binary ? 1 : this.classes) * this.pixels;
    if (row.length !== expected) throw new InternalError(`a pass of ${row.length} values, expected ${expected}`);
    if (this.nonFinitePass === undefined && !allFinite(row)) this.nonFinitePass = this.added;
    if (this.kind.binary) this.addBinary(row);
    else if (this.kind.probabilities) this.addProbabilities(row);
    else this.addLogits(row);
    this.added++;
  }

  /**
   * Adds one pass as onnxruntime's statistics of it (engine forEachMapPass): probabilities [C, H, W]
   * or [H, W, C] in the row's layout, entropy [H, W] in nats, argmax [H, W] (class indices as floats).
   */
  addStatistics(probabilities: Float32Array, entropy: Float32Array, argmax: Float32Array): void {
    const { classes, pixels, probSums, entropySums, votes } = this;
    if (probabilities.length !== classes * pixels || entropy.length !== pixels || argmax.length !== pixels)
      throw new InternalError(
        `statistics of ${probabilities.length}, ${entropy.length} and ${argmax.length} values, expected ${classes * pixels}, ${pixels} and ${pixels}`,
      );
    if (this.nonFinitePass === undefined && !(allFinite(probabilities) && allFinite(entropy))) this.nonFinitePass = this.added;
    if (this.kind.layout === 'NCHW') for (let i = 0; i < probSums.length; i++) probSums[i] = probSums[i]! + probabilities[i]!;
    else
      for (let p = 0, j = 0; p < pixels; p++) for (let c = 0; c < classes; c++, j++) probSums[c * pixels + p] = probSums[c * pixels + p]! + probabilities[j]!;
    for (let p = 0; p < pixels; p++) {
      entropySums[p] = entropySums[p]! + entropy[p]!;
      const i = argmax[p]! * pixels + p;
      votes[i] = votes[i]! + 1;
    }
    this.added++;
  }

  /** Softmax per pixel, with entropy as log(sum e) - sum q (z - max): one exp per value, one log per pixel. */
  private addLogits(row: Float32Array): void {
    const { classes, pixels, probSums, entropySums } = this;
    const [cs, ps] = this.strides();
    const { max, best, exps, sum, weighted } = scratch(classes, pixels);
    for (let c = 0; c < classes; c++)
      for (let p = 0; p < pixels; p++) {
        const z = row[c * cs + p * ps]!;
        if (z > max[p]!) [max[p], best[p]] = [z, c];
      }
    this.vote(best);
    for (let c = 0, i = 0; c < classes; c++) {
      for (let p = 0; p < pixels; p++, i++) {
        const shifted = row[c * cs + p * ps]! - max[p]!;
        const e = Math.exp(shifted);
        exps[i] = e;
        sum[p] = sum[p]! + e;
        weighted[p] = weighted[p]! + e * shifted;
      }
    }
    for (let c = 0, i = 0; c < classes; c++) for (let p = 0; p < pixels; p++, i++) probSums[i] = probSums[i]! + exps[i]! / sum[p]!;
    for (let p = 0; p < pixels; p++) entropySums[p] = entropySums[p]! + Math.log(sum[p]!) - weighted[p]! / sum[p]!;
  }

  private addProbabilities(row: Float32Array): void {
    const { classes, pixels, probSums, entropySums } = this;
    const [cs, ps] = this.strides();
    const { max, best } = scratch(classes, pixels);
    for (let c = 0; c < classes; c++)
      for (let p = 0; p < pixels; p++) {
        const q = row[c * cs + p * ps]!;
        if (q > max[p]!) [max[p], best[p]] = [q, c];
      }
    this.vote(best);
    for (let c = 0, i = 0; c < classes; c++) {
      for (let p = 0; p < pixels; p++, i++) {
        const q = row[c * cs + p * ps]!;
        probSums[i] = probSums[i]! + q;
        if (q > 0) entropySums[p] = entropySums[p]! - q * Math.log(q);
      }
    }
  }

  /** One channel: p(class 1) = sigmoid(z), or the value itself after a Sigmoid; p(class 0) = 1 - p(class 1). */
  private addBinary(row: Float32Array): void {
    const { pixels, probSums, entropySums } = this;
    for (let p = 0; p < pixels; p++) {
      const z = row[p]!;
      const one = this.kind.probabilities ? z : 1 / (1 + Math.exp(-z));
      const zero = 1 - one;
      const c = one > zero ? 1 : 0;
      this.votes[c * pixels + p] = this.votes[c * pixels + p]! + 1;
      probSums[p] = probSums[p]! + zero;
      probSums[pixels + p] = probSums[pixels + p]! + one;
      entropySums[p] = entropySums[p]! - ((zero > 0 ? zero * Math.log(zero) : 0) + (one > 0 ? one * Math.log(one) : 0));
    }
  }

  /** Counts one pass's argmax per pixel. */
  private vote(best: Int32Array): void {
    const { pixels, votes } = this;
    for (let p = 0; p < pixels; p++) {
      const i = best[p]! * pixels + p;
      votes[i] = votes[i]! + 1;
    }
  }

  /** Strides of class and pixel in a row of this layout. */
  private strides(): [number, number] {
    return this.kind.layout === 'NCHW' ? [this.pixels, 1] : [1, this.classes];
  }

  /** The passes added so far as per-pixel maps (mean probabilities, label, confidence, entropy, mutual information). */
  maps(): PixelMaps {
    const { classes, pixels, height, width, added, probSums, votes } = this;
    const meanProbs = new Float32Array(classes * pixels);
    const label = new Uint16Array(pixels);
    const confidence = new Float32Array(pixels).fill(-Infinity);
    const h = new Float64Array(pixels);
    const most = new Uint32Array(pixels);
    // plane by plane (class-major, as the sums lie): each pixel's best class, entropy and most votes
    for (let c = 0, i = 0; c < classes; c++) {
      for (let p = 0; p < pixels; p++, i++) {
        const m = probSums[i]! / added;
        meanProbs[i] = m;
        if (m > confidence[p]!) [label[p], confidence[p]] = [c, m];
        if (m > 0) h[p] = h[p]! - m * Math.log(m);
        if (votes[i]! > most[p]!) most[p] = votes[i]!;
      }
    }
    const entropy = Float32Array.from(h);
    const mutualInformation = new Float32Array(pixels);
    const variationRatio = new Float32Array(pixels);
    for (let p = 0; p < pixels; p++) {
      mutualInformation[p] = Math.max(0, h[p]! - this.entropySums[p]! / added);
      variationRatio[p] = 1 - most[p]! / added;
    }
    return { width, height, classes, passes: added, meanProbs, label, confidence, entropy, mutualInformation, variationRatio };
  }
}

/** Work arrays of addLogits, shared by every reducer (add runs to its end before another starts) and grown when a larger map comes. */
let work = { max: new Float64Array(0), best: new Int32Array(0), exps: new Float64Array(0), sum: new Float64Array(0), weighted: new Float64Array(0) };
function scratch(classes: number, pixels: number): typeof work {
  if (work.exps.length < classes * pixels || work.max.length < pixels)
    work = {
      max: new Float64Array(pixels),
      best: new Int32Array(pixels),
      exps: new Float64Array(classes * pixels),
      sum: new Float64Array(pixels),
      weighted: new Float64Array(pixels),
    };
  const view = {
    max: work.max.subarray(0, pixels),
    best: work.best.subarray(0, pixels),
    exps: work.exps.subarray(0, classes * pixels),
    sum: work.sum.subarray(0, pixels),
    weighted: work.weighted.subarray(0, pixels),
  };
  view.max.fill(-Infinity);
  view.best.fill(0);
  view.sum.fill(0);
  view.weighted.fill(0);
  return view;
}

function allFinite(row: Float32Array): boolean {
  for (let i = 0; i < row.length; i++) if (!Number.isFinite(row[i]!)) return false;
  return true;
}
