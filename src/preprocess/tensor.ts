import { invalidParameter } from '../errors.js';
import type { PreprocessSpec } from './spec.js';

/**
 * 8-bit interleaved RGB pixels [H, W, 3] -> float32 model input: /255, (x - mean) / std,
 * channel order and layout of the spec. Pure: exact arithmetic in float32 like torchvision.
 */
export function pixelsToTensor(rgb: Uint8Array, spec: Pick<PreprocessSpec, 'height' | 'width' | 'layout' | 'channelOrder' | 'mean' | 'std'>): Float32Array {
  const { height, width } = spec;
  const plane = height * width;
  if (rgb.length !== plane * 3) throw invalidParameter('rgb', `${plane * 3} RGB bytes`, rgb.length, 'bytes');
  const out = new Float32Array(plane * 3);
  const tables = channelTables(spec.mean, spec.std);
  // output channel c reads input channel source[c]; one pass over the pixels (twice as fast as one per channel)
  const [s0, s1, s2] = spec.channelOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const [t0, t1, t2] = [tables[s0]!, tables[s1]!, tables[s2]!];
  // the loops in functions of their own, which V8 optimizes within a run's first images (#38)
  if (spec.layout === 'NCHW') fillPlanes(out, rgb, plane, s0, s1, s2, t0, t1, t2);
  else fillInterleaved(out, rgb, plane, s0, s1, s2, t0, t1, t2);
  return out;
}

/** The last tables made, for the mean and std they were made for: a run asks for the same ones per image. */
let lastTables: { key: string; tables: Float32Array[] } | undefined;

/** Per channel value lookup: 256 entries, computed in float32 steps as ToTensor + Normalize do. */
function channelTables(mean: readonly number[], std: readonly number[]): Float32Array[] {
  const key = `${mean.join(',')}/${std.join(',')}`;
  if (lastTables?.key === key) return lastTables.tables;
  const tables = [0, 1, 2].map((c) => {
    const table = new Float32Array(256);
    const m = Math.fround(mean[c]!);
    const s = Math.fround(std[c]!);
    for (let v = 0; v < 256; v++) table[v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
    return table;
  });
  lastTables = { key, tables };
  return tables;
}

/** out [3, plane] from rgb [plane, 3]: plane c holds table c of input channel s_c. */
function fillPlanes(
  out: Float32Array,
  rgb: Uint8Array,
  plane: number,
  s0: number,
  s1: number,
  s2: number,
  t0: Float32Array,
  t1: Float32Array,
  t2: Float32Array,
): void {
  for (let p = 0, q = 0; p < plane; p++, q += 3) {
    out[p] = t0[rgb[q + s0]!]!;
    out[plane + p] = t1[rgb[q + s1]!]!;
    out[2 * plane + p] = t2[rgb[q + s2]!]!;
  }
}

/** out [plane, 3] from rgb [plane, 3]: channel c holds table c of input channel s_c. */
function fillInterleaved(
  out: Float32Array,
  rgb: Uint8Array,
  plane: number,
  s0: number,
  s1: number,
  s2: number,
  t0: Float32Array,
  t1: Float32Array,
  t2: Float32Array,
): void {
  for (let q = 0; q < 3 * plane; q += 3) {
    out[q] = t0[rgb[q + s0]!]!;
    out[q + 1] = t1[rgb[q + s1]!]!;
    out[q + 2] = t2[rgb[q + s2]!]!;
  }
}
