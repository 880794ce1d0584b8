/**
 * Resizing of interleaved 8-bit RGB as Pillow's Image.resize does it (libImaging/Resample.c):
 * separable convolution, horizontal pass then vertical, pixel centers aligned, filter support
 * widened by the downscale factor (antialiasing), coefficients in 22-bit fixed point, rounding
 * and clipping to 8 bits after each pass. NEAREST follows Pillow's affine scaling, running sum included.
 * Models trained on PIL/torchvision inputs then see the same pixels. The two passes run in
 * WebAssembly SIMD (simd/resample.wat, the same integer sums) where the runtime has it, else here
 * in JavaScript; tests compare the two byte for byte.
 */
import { RESAMPLE_WASM_BASE64 } from './simd/resample-wasm.js';
import { InternalError, invalidParameter } from '../errors.js';

export type Filter = 'bilinear' | 'bicubic' | 'lanczos3' | 'nearest';

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

const FILTERS: Record<Exclude<Filter, 'nearest'>, { support: number; weight: (x: number) => number }> = {
  bilinear: { support: 1, weight: (x) => (Math.abs(x) < 1 ? 1 - Math.abs(x) : 0) },
  bicubic: {
    support: 2,
    weight: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
  lanczos3: { support: 3, weight: (x) => (x > -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

interface Coefficients {
  /** First input index of each output pixel. */
  start: Int32Array;
  /** Number of input pixels of each output pixel. */
  count: Int32Array;
  /** Fixed-point weights, `taps` per output pixel. */
  weights: Int32Array;
  taps: number;
}

/** Coefficients of the axes resized lately: a folder of photos repeats a few sizes, and a crop asks twice (windowSource, then the resize). */
const recentCoefficients = new Map<string, Coefficients>();
const RECENT_COEFFICIENTS = 16;

/** Pillow's coefficients for one axis, computed once for each recent (in, out, filter); callers never write to them. */
function coefficients(inSize: number, outSize: number, filter: Exclude<Filter, 'nearest'>): Coefficients {
  const key = `${inSize}:${outSize}:${filter}`;
  let c = recentCoefficients.get(key);
  if (!c) {
    c = computeCoefficients(inSize, outSize, filter);
    if (recentCoefficients.size >= RECENT_COEFFICIENTS) recentCoefficients.delete(recentCoefficients.keys().next().value!);
    recentCoefficients.set(key, c);
  }
  return c;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis. */
function computeCoefficients(inSize: number, outSize: number, filter: Exclude<Filter, 'nearest'>): Coefficients {
  const { support: baseSupport, weight } = FILTERS[filter];
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = baseSupport * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * taps);
  const k = new Float64Array(taps);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const w = weight((x + xmin - center + 0.5) / filterScale);
      k[x] = w;
      total += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = total !== 0 ? k[x]! / total : k[x]!;
      // C's (int) cast truncates toward zero after the +-0.5
      weights[xx * taps + x] = Math.trunc(w < 0 ? w * ONE - 0.5 : w * ONE + 0.5);
    }
    start[xx] = xmin;
    count[xx] = xmax;
  }
  return { start, count, weights, taps };
}

/** Pillow's clip8: the fixed-point sum back to 8 bits (sums stay in int32, as in Pillow's C). */
function clip8(value: number): number {
  if (value <= 0) return 0;
  const v = value >> PRECISION_BITS;
  return v > 255 ? 255 : v;
}

/**
 * One horizontal pass: [height, inWidth, 3] -> [height, outWidth, 3]. Integer arithmetic in int32
 * (`| 0`), which V8 keeps in registers: exactly Pillow's sums, several times faster than doubles.
 */
function horizontal(src: Uint8Array, height: number, inWidth: number, outWidth: number, c: Coefficients): Uint8Array {
  const out = new Uint8Array(height * outWidth * 3);
  const { start, count, weights, taps } = c;
  for (let y = 0; y < height; y++) {
    const row = y * inWidth * 3;
    let o = y * outWidth * 3;
    for (let xx = 0; xx < outWidth; xx++) {
      const base = xx * taps;
      const n = count[xx]!;
      let p = row + start[xx]! * 3;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let x = 0; x < n; x++, p += 3) {
        const w = weights[base + x]!;
        r = (r + src[p]! * w) | 0;
        g = (g + src[p + 1]! * w) | 0;
        b = (b + src[p + 2]! * w) | 0;
      }
      out[o++] = clip8(r);
      out[o++] = clip8(g);
      out[o++] = clip8(b);
    }
  }
  return out;
}

/**
 * One vertical pass: [inHeight, width, 3] -> [outHeight, width, 3]. Each output row accumulates
 * whole input rows (row-major, cache-friendly) instead of walking down columns as Pillow's C does;
 * the integer sums are the same.
 */
function vertical(src: Uint8Array, width: number, outHeight: number, c: Coefficients): Uint8Array {
  const rowLength = width * 3;
  const out = new Uint8Array(outHeight * rowLength);
  const acc = new Int32Array(rowLength);
  const { start, count, weights, taps } = c;
  for (let yy = 0; yy < outHeight; yy++) {
    acc.fill(HALF);
    const base = yy * taps;
    const first = start[yy]!;
    const n = count[yy]!;
    for (let y = 0; y < n; y++) {
      const w = weights[base + y]!;
      const row = (first + y) * rowLength;
      for (let i = 0; i < rowLength; i++) acc[i] = (acc[i]! + src[row + i]! * w) | 0;
    }
    const o = yy * rowLength;
    for (let i = 0; i < rowLength; i++) out[o + i] = clip8(acc[i]!);
  }
  return out;
}

/**
 * Pillow's NEAREST source index of each output pixel (libImaging/Geometry.c, ImagingScaleAffine):
 * scale / 2, then scale added once per pixel, truncated. The running sum, not (x + 0.5) * scale:
 * where that product is a whole number the sum can fall just short of it (28 -> 26: pixel 6 reads
 * 6, not 7).
 */
function nearestIndices(inSize: number, outSize: number): Int32Array {
  const scale = inSize / outSize;
  const index = new Int32Array(outSize);
  let at = scale * 0.5;
  for (let i = 0; i < outSize; i++, at += scale) index[i] = Math.min(Math.trunc(at), inSize - 1);
  return index;
}

/** Pillow's NEAREST resize. */
function nearest(src: Uint8Array, inWidth: number, inHeight: number, outWidth: number, outHeight: number): Uint8Array {
  const out = new Uint8Array(outWidth * outHeight * 3);
  const xs = nearestIndices(inWidth, outWidth);
  const ys = nearestIndices(inHeight, outHeight);
  for (let y = 0; y < outHeight; y++) {
    const yin = ys[y]!;
    for (let x = 0; x < outWidth; x++) {
      const xin = xs[x]!;
      const p = (yin * inWidth + xin) * 3;
      const o = (y * outWidth + x) * 3;
      out[o] = src[p]!;
      out[o + 1] = src[p + 1]!;
      out[o + 2] = src[p + 2]!;
    }
  }
  return out;
}

/** A rectangle of an image: left, top, width, height in pixels. */
export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Resizes interleaved RGB [inHeight, inWidth, 3] to [outHeight, outWidth, 3] exactly as Pillow
 * does; with `window`, returns only that rectangle of the result ([window.height, window.width, 3]);
 * with `source`, `src` holds only that rectangle of the input (windowSource says which it needs).
 */
export function resizeRgb(
  src: Uint8Array,
  inWidth: number,
  inHeight: number,
  outWidth: number,
  outHeight: number,
  filter: Filter,
  window?: Rect,
  source?: Rect,
): Uint8Array {
  return resizeRgbOn(simdKernel() ? 'simd' : 'js', src, inWidth, inHeight, outWidth, outHeight, filter, window, source);
}

/** A window is computed alone where both passes run with a filter (else the whole is resized, then cropped). */
function windowAlone(inWidth: number, inHeight: number, outWidth: number, outHeight: number, filter: Filter, window: Rect | undefined): boolean {
  return (
    window !== undefined && (window.width < outWidth || window.height < outHeight) && filter !== 'nearest' && inWidth !== outWidth && inHeight !== outHeight
  );
}

/**
 * The rectangle of the input that a window of the resized image reads: decoding only it gives the
 * same bytes (the whole input where the window is not computed alone).
 */
export function windowSource(inWidth: number, inHeight: number, outWidth: number, outHeight: number, filter: Filter, window: Rect): Rect {
  if (filter === 'nearest' || !windowAlone(inWidth, inHeight, outWidth, outHeight, filter, window))
    return { left: 0, top: 0, width: inWidth, height: inHeight };
  const [left, right] = span(sliceCoefficients(coefficients(inWidth, outWidth, filter), window.left, window.width));
  const [top, bottom] = span(sliceCoefficients(coefficients(inHeight, outHeight, filter), window.top, window.height));
  return { left, top, width: right - left, height: bottom - top };
}

/** First input index the coefficients read, and one past the last. */
function span(c: Coefficients): [number, number] {
  let first = Infinity;
  let end = 0;
  for (let i = 0; i < c.start.length; i++) {
    first = Math.min(first, c.start[i]!);
    end = Math.max(end, c.start[i]! + c.count[i]!);
  }
  return [first, end];
}

/**
 * resizeRgb on a chosen engine: 'simd' (WebAssembly, where available) or 'js'; the same bytes
 * either way. A window is computed alone, not cropped from the whole: each output pixel depends
 * only on its own coefficients, so only the window's columns go through the horizontal pass, only
 * the input rows its rows read, and only those rows go into WebAssembly memory (a center crop of a
 * 12 MP photo: 58% of the horizontal work). The bytes are those of the crop.
 */
export function resizeRgbOn(
  engine: 'simd' | 'js',
  src: Uint8Array,
  inWidth: number,
  inHeight: number,
  outWidth: number,
  outHeight: number,
  filter: Filter,
  window?: Rect,
  source?: Rect,
): Uint8Array {
  const from = source ?? { left: 0, top: 0, width: inWidth, height: inHeight };
  if (src.length !== from.width * from.height * 3) throw new InternalError(`Expected ${from.width * from.height * 3} RGB bytes but received ${src.length}`);
  if (
    window &&
    (window.left < 0 ||
      window.top < 0 ||
      window.width < 1 ||
      window.height < 1 ||
      window.left + window.width > outWidth ||
      window.top + window.height > outHeight)
  ) {
    throw new InternalError(`Expected a window inside ${outWidth}x${outHeight} but received ${JSON.stringify(window)}`);
  }
  if (
    source &&
    !windowAlone(inWidth, inHeight, outWidth, outHeight, filter, window) &&
    (from.left !== 0 || from.top !== 0 || from.width !== inWidth || from.height !== inHeight)
  ) {
    throw new InternalError('Expected the whole input where the window is not computed alone (see windowSource)');
  }
  if (!window || filter === 'nearest' || !windowAlone(inWidth, inHeight, outWidth, outHeight, filter, window)) {
    const whole = wholeResize(engine, src, inWidth, inHeight, outWidth, outHeight, filter);
    return window ? cropRgb(whole, outWidth, window.left, window.top, window.width, window.height) : whole;
  }
  // the window's coefficients, counted from the source's first column and from the first row they read
  const h = sliceCoefficients(coefficients(inWidth, outWidth, filter), window.left, window.width);
  const v = sliceCoefficients(coefficients(inHeight, outHeight, filter), window.top, window.height);
  const [left, right] = span(h);
  const [first, end] = span(v);
  if (left < from.left || right > from.left + from.width || first < from.top || end > from.top + from.height) {
    throw new InternalError(
      `Expected a source rectangle covering ${JSON.stringify({ left, top: first, width: right - left, height: end - first })} but received ${JSON.stringify(from)}`,
    );
  }
  const hFrom = { ...h, start: h.start.map((s) => s - from.left) };
  const vFrom = { ...v, start: v.start.map((s) => s - first) };
  const rows = src.subarray((first - from.top) * from.width * 3, (end - from.top) * from.width * 3);
  const kernel = engine === 'simd' ? simdKernel() : null;
  if (engine === 'simd' && !kernel) throw invalidParameter('engine', "'js' (WebAssembly SIMD is not available in this runtime)", engine);
  if (kernel) return simdPasses(kernel, rows, from.width, end - first, hFrom, vFrom, window.width, window.height);
  return vertical(horizontal(rows, end - first, from.width, window.width, hFrom), window.width, window.height, vFrom);
}

/** The whole resized image, each pass only where its axis changes size. */
function wholeResize(
  engine: 'simd' | 'js',
  src: Uint8Array,
  inWidth: number,
  inHeight: number,
  outWidth: number,
  outHeight: number,
  filter: Filter,
): Uint8Array {
  if (inWidth === outWidth && inHeight === outHeight) return src;
  if (filter === 'nearest') return nearest(src, inWidth, inHeight, outWidth, outHeight);
  const h = outWidth === inWidth ? undefined : coefficients(inWidth, outWidth, filter);
  const v = outHeight === inHeight ? undefined : coefficients(inHeight, outHeight, filter);
  const kernel = engine === 'simd' ? simdKernel() : null;
  if (engine === 'simd' && !kernel) throw invalidParameter('engine', "'js' (WebAssembly SIMD is not available in this runtime)", engine);
  if (kernel) return simdPasses(kernel, src, inWidth, inHeight, h, v, outWidth, outHeight);
  let pixels = src;
  let width = inWidth;
  if (h) {
    pixels = horizontal(pixels, inHeight, inWidth, outWidth, h);
    width = outWidth;
  }
  if (v) pixels = vertical(pixels, width, outHeight, v);
  return pixels;
}

/** The coefficients of output pixels first .. first + count - 1 alone. */
function sliceCoefficients(c: Coefficients, first: number, count: number): Coefficients {
  return {
    start: c.start.subarray(first, first + count),
    count: c.count.subarray(first, first + count),
    weights: c.weights.subarray(first * c.taps, (first + count) * c.taps),
    taps: c.taps,
  };
}

/** Crops [height, width, 3] to the given rectangle. */
export function cropRgb(src: Uint8Array, width: number, left: number, top: number, cropWidth: number, cropHeight: number): Uint8Array {
  const out = new Uint8Array(cropWidth * cropHeight * 3);
  for (let y = 0; y < cropHeight; y++) {
    const from = ((top + y) * width + left) * 3;
    out.set(src.subarray(from, from + cropWidth * 3), y * cropWidth * 3);
  }
  return out;
}

/** The part of the WebAssembly global used here (TypeScript's ES libs do not declare it). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
};

interface SimdKernel {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  horizontal: (
    src: number,
    height: number,
    inWidth: number,
    outWidth: number,
    start: number,
    count: number,
    weights: number,
    taps: number,
    dst: number,
  ) => void;
  vertical: (src: number, rowLength: number, outHeight: number, start: number, count: number, weights: number, taps: number, dst: number) => void;
}

let kernelState: SimdKernel | null | undefined;

/** The WebAssembly passes, compiled once; null where the runtime has no WebAssembly SIMD. */
function simdKernel(): SimdKernel | null {
  if (kernelState === undefined) {
    try {
      const instance = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(RESAMPLE_WASM_BASE64, 'base64')));
      kernelState = instance.exports as unknown as SimdKernel;
    } catch {
      kernelState = null;
    }
  }
  return kernelState;
}

/** Bytes rounded up to 16, plus 16 of padding the kernels may read or write past a buffer. */
const padded = (bytes: number): number => Math.ceil(bytes / 16) * 16 + 16;

/**
 * Both passes in the kernel's memory: the image, the horizontal result, the output and the
 * coefficients laid out one after another (grown as needed; WebAssembly memory never shrinks).
 */
function simdPasses(
  kernel: SimdKernel,
  src: Uint8Array,
  inWidth: number,
  inHeight: number,
  h: Coefficients | undefined,
  v: Coefficients | undefined,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  const width = h ? outWidth : inWidth;
  const srcAt = 0;
  const midAt = srcAt + padded(src.length);
  const dstAt = midAt + (h && v ? padded(inHeight * width * 3) : 0);
  const coefficientsAt = dstAt + padded(outHeight * width * 3);
  const intsOf = (c: Coefficients | undefined) => (c ? c.start.length * 2 + c.weights.length : 0);
  const end = coefficientsAt + 4 * (intsOf(h) + intsOf(v));
  const have = kernel.memory.buffer.byteLength;
  if (end > have) kernel.memory.grow(Math.ceil((end - have) / 65536));
  const bytes = new Uint8Array(kernel.memory.buffer);
  const ints = new Int32Array(kernel.memory.buffer);
  bytes.set(src, srcAt);
  let at = coefficientsAt;
  const place = (c: Coefficients) => {
    const offsets = { start: at, count: at + 4 * c.start.length, weights: at + 8 * c.start.length };
    ints.set(c.start, offsets.start / 4);
    ints.set(c.count, offsets.count / 4);
    ints.set(c.weights, offsets.weights / 4);
    at = offsets.weights + 4 * c.weights.length;
    return offsets;
  };
  let from = srcAt;
  if (h) {
    const o = place(h);
    const to = v ? midAt : dstAt;
    kernel.horizontal(from, inHeight, inWidth, outWidth, o.start, o.count, o.weights, h.taps, to);
    from = to;
  }
  if (v) {
    const o = place(v);
    kernel.vertical(from, width * 3, outHeight, o.start, o.count, o.weights, v.taps, dstAt);
  }
  return bytes.slice(dstAt, dstAt + outHeight * width * 3);
}
