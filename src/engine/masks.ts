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
 * Fills `out` (one row of one dropout site, `out.length` elements) with an inverted-dropout mask:
 * 0 with probability `rate`, else 1/(1-rate), as ONNX Dropout and torch scale it.
 * Element e uses word e%4 of Philox4x32-10 with
 *   counter = (floor(e/4), pass, image.lo, image.hi), key = (seed mod 2^32, floor(seed/2^32) | site << 21).
 * So a mask depends only on (seed, image, pass, site): never on batch size or batch neighbours.
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
  const scale = 1 / (1 - rate);
  // keep when u >= rate, u = word / 2^32
  const threshold = Math.ceil(rate * 0x100000000);
  const key0 = seed >>> 0;
  const key1 = ((Math.floor(seed / 0x100000000) & 0x1fffff) | (site << 21)) >>> 0;
  const words = new Uint32Array(4);
  const n = out.length;
  for (let block = 0, e = 0; e < n; block++) {
    philox4x32(block, pass, image.lo, image.hi, key0, key1, words);
    for (let w = 0; w < 4 && e < n; w++, e++) out[e] = words[w]! >= threshold ? scale : 0;
  }
}

/** A fresh random seed for runs without --seed (reported so the run can be repeated). */
export function freshSeed(): number {
  const words = new Uint32Array(2);
  crypto.getRandomValues(words);
  return (words[0]! & 0x1fffff) * 0x100000000 + words[1]!;
}
