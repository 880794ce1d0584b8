/**
 * Every random generator of the project, in one place: Philox4x32-10 (counter-based: the seeds of
 * mask rows and of conformal uniforms), xoshiro128** (the draws of one mask or noise row),
 * mulberry32 (BatchBALD's sampled assignments, the tests' numbers), an order-free uniform from a
 * string (select --by random) and the fresh seed of a run without one. Pure: imports nothing.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two uint32 (exact: partial products stay below 2^53). */
function mulHi(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const loLo = aLo * bLo;
  const loHi = aLo * bHi;
  const hiLo = aHi * bLo;
  const cross = (loLo >>> 16) + (loHi & 0xffff) + (hiLo & 0xffff);
  return (aHi * bHi + (loHi >>> 16) + (hiLo >>> 16) + Math.floor(cross / 0x10000)) >>> 0;
}

/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): writes the
 * 4 uint32 words of (counter, key) into out[offset..offset+3]. Output depends only on (counter,
 * key), so any mask can be drawn independently of how images are batched or in which order passes run.
 */
export function philox4x32(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array, offset = 0): void {
  let x0 = c0 >>> 0;
  let x1 = c1 >>> 0;
  let x2 = c2 >>> 0;
  let x3 = c3 >>> 0;
  let key0 = k0 >>> 0;
  let key1 = k1 >>> 0;
  for (let round = 0; round < 10; round++) {
    const hi0 = mulHi(M0, x0);
    const lo0 = Math.imul(M0, x0) >>> 0;
    const hi1 = mulHi(M1, x2);
    const lo1 = Math.imul(M1, x2) >>> 0;
    x0 = (hi1 ^ x1 ^ key0) >>> 0;
    x1 = lo1;
    x2 = (hi0 ^ x3 ^ key1) >>> 0;
    x3 = lo0;
    key0 = (key0 + W0) >>> 0;
    key1 = (key1 + W1) >>> 0;
  }
  out[offset] = x0;
  out[offset + 1] = x1;
  out[offset + 2] = x2;
  out[offset + 3] = x3;
}

/**
 * xoshiro128** (Blackman & Vigna): fills `out` with 32-bit draws and advances `state` (4 words,
 * not all zero). Pure 32-bit integer operations, which V8 runs fast; the mask and noise rows draw
 * through it (its one copy: masks.test.ts and noise.test.ts pin the rows it gives).
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

/** mulberry32: a small seeded generator in [0, 1), for draws that must repeat from a seed (BatchBALD's sampled assignments). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A number in [0, 1) from a string (FNV-1a then a murmur3 finalizer): a seeded, order-free draw. */
export function uniformOfText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

/** A fresh random seed in [0, 2^53) for runs without one (reported so the run can be repeated). */
export function freshSeed(): number {
  const words = new Uint32Array(2);
  crypto.getRandomValues(words);
  return (words[0]! & 0x1fffff) * 0x100000000 + words[1]!;
}
