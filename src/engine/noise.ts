import { xoshiro128ss } from '../stats/random.js';
import { drawBuffer, type ImageKey, rowSeed } from './masks.js';

/**
 * The numbers of random ops (RandomUniformLike, RandomNormal, Bernoulli, ...) as mc-dropout draws
 * them: one row per (seed, image, pass, site), from the same Philox-seeded xoshiro128** row
 * generator as the dropout masks, so they never depend on the batch or on onnxruntime.
 */

/** 2^-24: uniforms carry the 24 bits a float32 mantissa holds. */
const UNIT = 1 / 0x1000000;

const state = new Uint32Array(4);

/** The first `count` draws of the row's generator (a view reused by the next row). */
function rowDraws(count: number, seed: number, image: ImageKey, pass: number, site: number): Uint32Array {
  const view = drawBuffer(count);
  rowSeed(seed, image, pass, site, state);
  xoshiro128ss(state, view);
  return view;
}

/**
 * Fills `out` with uniform numbers in [low, high): element i is low + (high - low) * u_i, where
 * u_i = (draw_i >>> 8) / 2^24 and draw_i is the i-th 32-bit draw of the row's generator.
 */
export function fillUniform(out: Float32Array, low: number, high: number, seed: number, image: ImageKey, pass: number, site: number): void {
  const d = rowDraws(out.length, seed, image, pass, site);
  const span = (high - low) * UNIT;
  for (let i = 0; i < out.length; i++) out[i] = low + span * (d[i]! >>> 8);
}

/**
 * Fills `out` with normal numbers mean + scale * z, z by Box-Muller on consecutive draw pairs:
 * u1 = ((draw_2j >>> 8) + 1) / 2^24 in (0, 1], u2 = (draw_2j+1 >>> 8) / 2^24,
 * z_2j = sqrt(-2 ln u1) cos(2 pi u2), z_2j+1 = sqrt(-2 ln u1) sin(2 pi u2).
 */
export function fillNormal(out: Float32Array, mean: number, scale: number, seed: number, image: ImageKey, pass: number, site: number): void {
  const pairs = (out.length + 1) >> 1;
  const d = rowDraws(2 * pairs, seed, image, pass, site);
  for (let j = 0; j < pairs; j++) {
    const u1 = ((d[2 * j]! >>> 8) + 1) * UNIT;
    const u2 = (d[2 * j + 1]! >>> 8) * UNIT;
    const r = Math.sqrt(-2 * Math.log(u1));
    const angle = 2 * Math.PI * u2;
    out[2 * j] = mean + scale * r * Math.cos(angle);
    if (2 * j + 1 < out.length) out[2 * j + 1] = mean + scale * r * Math.sin(angle);
  }
}
