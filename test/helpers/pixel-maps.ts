/** PixelMaps for the segmentation tests, from per-pass probabilities through the house's own summarize, pixel by pixel. */
import { softmaxRows, summarize } from '../../src/stats/aggregate.js';
import type { PixelMaps } from '../../src/segmentation/maps.js';

/** Random softmax passes, Float32Array [passes, classes, height, width]; logits uniform in [-spread, spread]. */
export function randomPasses(random: () => number, passes: number, classes: number, height: number, width: number, spread = 3): Float32Array {
  const pixels = height * width;
  const out = new Float32Array(passes * classes * pixels);
  const logits = new Float64Array(classes);
  for (let t = 0; t < passes; t++) {
    for (let p = 0; p < pixels; p++) {
      for (let c = 0; c < classes; c++) logits[c] = (2 * random() - 1) * spread;
      const probs = softmaxRows(logits, classes);
      for (let c = 0; c < classes; c++) out[(t * classes + c) * pixels + p] = probs[c]!;
    }
  }
  return out;
}

/** The maps of passes [passes, classes, height, width] and their expected entropy [height, width], each pixel summarized by summarize(). */
export function mapsOfPasses(
  probs: Float32Array,
  passes: number,
  classes: number,
  height: number,
  width: number,
): { maps: PixelMaps; expectedEntropy: Float32Array } {
  const pixels = height * width;
  const maps: PixelMaps = {
    width,
    height,
    classes,
    passes,
    meanProbs: new Float32Array(classes * pixels),
    label: new Uint16Array(pixels),
    confidence: new Float32Array(pixels),
    entropy: new Float32Array(pixels),
    mutualInformation: new Float32Array(pixels),
  };
  const expectedEntropy = new Float32Array(pixels);
  const pixel = new Float64Array(passes * classes);
  for (let p = 0; p < pixels; p++) {
    for (let t = 0; t < passes; t++) for (let c = 0; c < classes; c++) pixel[t * classes + c] = probs[(t * classes + c) * pixels + p]!;
    const s = summarize(pixel, classes);
    for (let c = 0; c < classes; c++) maps.meanProbs[c * pixels + p] = s.mean[c]!;
    maps.label[p] = s.predicted;
    maps.confidence[p] = s.confidence;
    maps.entropy[p] = s.entropy;
    maps.mutualInformation[p] = s.mutualInformation;
    expectedEntropy[p] = s.expectedEntropy;
  }
  return { maps, expectedEntropy };
}
