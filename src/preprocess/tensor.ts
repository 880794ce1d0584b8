import type { PreprocessSpec } from './spec.js';

/**
 * 8-bit interleaved RGB pixels [H, W, 3] -> float32 model input: /255, (x - mean) / std,
 * channel order and layout of the spec. Pure: exact arithmetic in float32 like torchvision.
 */
export function pixelsToTensor(rgb: Uint8Array, spec: Pick<PreprocessSpec, 'height' | 'width' | 'layout' | 'channelOrder' | 'mean' | 'std'>): Float32Array {
  const { height, width } = spec;
  const plane = height * width;
  if (rgb.length !== plane * 3) throw new RangeError(`Expected ${plane * 3} RGB bytes but received ${rgb.length}`);
  const out = new Float32Array(plane * 3);
  // per channel value lookup: 256 entries, computed in float32 steps as ToTensor + Normalize do
  const tables = [0, 1, 2].map((c) => {
    const table = new Float32Array(256);
    const mean = Math.fround(spec.mean[c]!);
    const std = Math.fround(spec.std[c]!);
    for (let v = 0; v < 256; v++) table[v] = Math.fround(Math.fround(Math.fround(v / 255) - mean) / std);
    return table;
  });
  const source = spec.channelOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  for (let c = 0; c < 3; c++) {
    const from = source[c]!;
    const table = tables[from]!;
    if (spec.layout === 'NCHW') {
      const base = c * plane;
      for (let p = 0; p < plane; p++) out[base + p] = table[rgb[p * 3 + from]!]!;
    } else {
      for (let p = 0; p < plane; p++) out[p * 3 + c] = table[rgb[p * 3 + from]!]!;
    }
  }
  return out;
}
