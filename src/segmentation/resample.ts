/**
 * Bilinear resizing of per-pixel maps, as PyTorch's F.interpolate(mode='bilinear',
 * align_corners=False, antialias=False) does it, and of a whole PixelMaps. Pure maths.
 */
import { invalidParameter } from '../errors.js';
import { checkPixelMaps, checkSize, meanStatisticsOf, type PixelMaps } from './maps.js';

/** The two source indices and weights of each output index along one axis. */
interface AxisTaps {
  index0: Int32Array;
  index1: Int32Array;
  weight0: Float32Array;
  weight1: Float32Array;
}

/**
 * PyTorch 1.13's taps (CPU upsample_bilinear2d, a size given): scale = (float) in / out; then, in
 * its accumulate type (double), source = scale x (dst + 0.5) - 0.5, 0 below 0; index0 =
 * min(floor(source), in - 1), index1 one further unless at the edge; weight1 = source - index0
 * clamped to [0, 1] and weight0 = 1 - weight1, each stored as float32. A source rounded to float32
 * first (as a float-only rule would) moves a weight by up to half a float32 ulp of the coordinate,
 * 2e-6 at 64 pixels: the fixture tells the two apart. An axis of the same size copies, as PyTorch's
 * special case does.
 */
function axisTaps(inSize: number, outSize: number): AxisTaps {
  const taps = { index0: new Int32Array(outSize), index1: new Int32Array(outSize), weight0: new Float32Array(outSize), weight1: new Float32Array(outSize) };
  const scale = Math.fround(inSize / outSize);
  for (let dst = 0; dst < outSize; dst++) {
    if (inSize === outSize) {
      taps.index0[dst] = taps.index1[dst] = dst;
      taps.weight0[dst] = 1;
      continue;
    }
    const source = Math.max(0, scale * (dst + 0.5) - 0.5);
    const index0 = Math.min(Math.floor(source), inSize - 1);
    const weight1 = Math.min(Math.max(source - index0, 0), 1);
    taps.index0[dst] = index0;
    taps.index1[dst] = index0 + (index0 < inSize - 1 ? 1 : 0);
    taps.weight1[dst] = weight1;
    taps.weight0[dst] = 1 - weight1;
  }
  return taps;
}

/**
 * Resizes each of `channels` planes, planes: Float32Array [channels, height, width] row-major, to
 * [channels, outHeight, outWidth], as PyTorch's F.interpolate(x, size=(outHeight, outWidth),
 * mode='bilinear', align_corners=False) with antialias off (no low-pass when shrinking). Indices and
 * weights follow PyTorch's rules; the weighted sum is taken in float64 and rounded once, so values
 * differ from PyTorch's float32 sums by about a float32 ulp.
 */
export function resizeBilinear(planes: Float32Array, channels: number, height: number, width: number, outHeight: number, outWidth: number): Float32Array {
  for (const [name, value] of Object.entries({ channels, height, width, outHeight, outWidth })) checkSize(name, value);
  if (planes.length !== channels * height * width) {
    throw invalidParameter('planes', `channels x height x width = ${channels * height * width} values`, planes.length, 'values');
  }
  const rows = axisTaps(height, outHeight);
  const columns = axisTaps(width, outWidth);
  const out = new Float32Array(channels * outHeight * outWidth);
  for (let c = 0; c < channels; c++) {
    const plane = c * height * width;
    for (let y = 0; y < outHeight; y++) {
      const row0 = plane + rows.index0[y]! * width;
      const row1 = plane + rows.index1[y]! * width;
      const [h0, h1] = [rows.weight0[y]!, rows.weight1[y]!];
      const at = (c * outHeight + y) * outWidth;
      for (let x = 0; x < outWidth; x++) {
        const [x0, x1, w0, w1] = [columns.index0[x]!, columns.index1[x]!, columns.weight0[x]!, columns.weight1[x]!];
        out[at + x] = h0 * (w0 * planes[row0 + x0]! + w1 * planes[row0 + x1]!) + h1 * (w0 * planes[row1 + x0]! + w1 * planes[row1 + x1]!);
      }
    }
  }
  return out;
}

/**
 * PixelMaps at outHeight x outWidth. meanProbs are resized bilinearly: the resize is linear, so this
 * is the mean of the resized passes. Label, confidence and entropy are recomputed from the resized
 * meanProbs (not resized themselves: an argmax or an entropy does not interpolate). Mutual
 * information is the resized entropy minus the resized expected entropy mean_t H(p_t), [height,
 * width] nats: `expectedEntropy` when given, else the maps' entropy - mutualInformation (which
 * loses what the clamp at 0 cut). Each output pixel's mean is a convex combination of source means,
 * so by the concavity of H it stays >= 0 up to rounding; the clamp at 0 takes only the rounding.
 */
export function resizeMaps(maps: PixelMaps, outHeight: number, outWidth: number, expectedEntropy?: Float32Array): PixelMaps {
  checkPixelMaps(maps);
  const { width, height, classes } = maps;
  const expected = expectedEntropy ?? maps.entropy.map((h, p) => h - maps.mutualInformation[p]!);
  if (expected.length !== width * height) throw invalidParameter('expectedEntropy', `height x width = ${width * height} values`, expected.length, 'values');
  const meanProbs = resizeBilinear(maps.meanProbs, classes, height, width, outHeight, outWidth);
  const resizedExpected = resizeBilinear(expected, 1, height, width, outHeight, outWidth);
  const statistics = meanStatisticsOf(meanProbs, classes, outHeight * outWidth);
  const mutualInformation = statistics.entropy.map((h, p) => Math.max(0, h - resizedExpected[p]!));
  return { width: outWidth, height: outHeight, classes, passes: maps.passes, meanProbs, ...statistics, mutualInformation };
}
