import { philox4x32 } from './philox.js';

/** Largest seed accepted: seeds travel as 53-bit integers (exact in a JS number). */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;
/** Sites are packed into 11 bits of the Philox key. */
export const MAX_SITES = 2048;

/** 64-bit identity of an image, from its preprocessed tensor: masks follow the image, not its batch slot. */
export interface ImageKey {
  lo: number;
  hi: number;
}

/** Two independent 32-bit murmur3-style hashes over the tensor's bytes. */
export function imageKeyOf(tensor: Float32Array | Uint16Array): ImageKey {
  const words = new Uint32Array(tensor.buffer, tensor.byteOffset, Math.floor(tensor.byteLength / 4));
  return { lo: murmur32(words, 0x8f1bbcdc), hi: murmur32(words, 0x5bd1e995) };
}

function murmur32(words: Uint32Array, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < words.length; i++) {
    let k = Math.imul(words[i]!, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= words.length * 4;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * xoshiro128** (Blackman & Vigna): fills `out` with 32-bit draws and advances `state` (4 words,
 * not all zero). Pure 32-bit integer operations, which V8 runs fast.
 */
export function xoshiro128ss(state: Uint32Array, out: Uint32Array): void {
  let s0 = state[0]! | 0;
  let s1 = state[1]! | 0;
  let s2 = state[2]! | 0;
  let s3 = state[3]! | 0;
  for (let e = 0; e < out.length; e++) {
    const product = Math.imul(s1, 5);
    out[e] = Math.imul((product << 7) | (product >>> 25), 9);
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
  }
  state[0] = s0;
  state[1] = s1;
  state[2] = s2;
  state[3] = s3;
}

const rowState = new Uint32Array(4);

/** Philox4x32-10 words that seed the generator of one mask row. */
export function rowSeed(seed: number, image: ImageKey, pass: number, site: number, state: Uint32Array): void {
  const key1 = ((Math.floor(seed / 0x100000000) & 0x1fffff) | (site << 21)) >>> 0;
  philox4x32(0, pass, image.lo, image.hi, seed >>> 0, key1, state);
  if ((state[0]! | state[1]! | state[2]! | state[3]!) === 0) state[0] = 1; // xoshiro's forbidden state, p = 2^-128
}

/**
 * Fills `out` (one row of one dropout site, `out.length` elements) with an inverted-dropout mask:
 * 0 with probability `rate`, else 1/(1-rate), as ONNX Dropout and torch scale it.
 * The row's generator is xoshiro128** seeded by rowSeed: Philox4x32-10 at
 *   counter = (0, pass, image.lo, image.hi), key = (seed mod 2^32, floor(seed/2^32) | site << 21).
 * Draw i decides elements 2i (its high 16 bits) and 2i+1 (its low 16 bits): kept when the 16-bit
 * value v satisfies v / 2^16 >= rate, so rates resolve to 2^-16 (bias below 1.6e-5).
 * A mask depends only on (seed, image, pass, site), never on batch size or batch neighbours.
 */
export function fillMask(
  out: Float32Array, rate: number, seed: number, image: ImageKey, pass: number, site: number,
): void {
  if (rate <= 0) {
    out.fill(1);
    return;
  }
  if (rate >= 1) {
    out.fill(0);
    return;
  }
  // the kept value's bit pattern, so that each decision is a branch-free integer select (2.1x faster
  // than choosing between two floats: 4.5 vs 2.15 ms for 640 rows of 2,304 units)
  scaleHolder[0] = 1 / (1 - rate);
  const keptBits = scaleBits[0]! | 0;
  const threshold = Math.ceil(rate * 0x10000);
  rowSeed(seed, image, pass, site, rowState);
  let s0 = rowState[0]! | 0;
  let s1 = rowState[1]! | 0;
  let s2 = rowState[2]! | 0;
  let s3 = rowState[3]! | 0;
  const words = new Int32Array(out.buffer, out.byteOffset, out.length);
  const pairs = out.length & ~1;
  for (let e = 0; e < pairs; e += 2) {
    // xoshiro128ss inlined: this loop is the hot path of MC inference (test: masks.test.ts)
    const product = Math.imul(s1, 5);
    const draw = Math.imul((product << 7) | (product >>> 25), 9);
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    // (v - threshold) >> 31 is -1 when v < threshold (dropped), else 0 (kept)
    words[e] = ~(((draw >>> 16) - threshold) >> 31) & keptBits;
    words[e + 1] = ~(((draw & 0xffff) - threshold) >> 31) & keptBits;
  }
  if (pairs < out.length) {
    // an odd row ends on the high half of one more draw
    const product = Math.imul(s1, 5);
    const draw = Math.imul((product << 7) | (product >>> 25), 9);
    words[pairs] = ~(((draw >>> 16) - threshold) >> 31) & keptBits;
  }
}

const scaleHolder = new Float32Array(1);
const scaleBits = new Int32Array(scaleHolder.buffer);

/** A fresh random seed for runs without --seed (reported so the run can be repeated). */
export function freshSeed(): number {
  const words = new Uint32Array(2);
  crypto.getRandomValues(words);
  return (words[0]! & 0x1fffff) * 0x100000000 + words[1]!;
}
