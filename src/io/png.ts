import { deflateSync, inflateSync } from 'node:zlib';
import { InputError, invalidParameter } from '../errors.js';

/** Pixels to write as one PNG: a class-index map, an uncertainty map or a colour overlay. */
export type PngPixels =
  /** data: Uint8Array [height, width] row-major. */
  | { kind: 'gray8'; width: number; height: number; data: Uint8Array }
  /** data: Uint16Array [height, width] row-major, written big-endian as PNG requires. */
  | { kind: 'gray16'; width: number; height: number; data: Uint16Array }
  /** data: Uint8Array [height, width, 3] row-major, RGB interleaved. */
  | { kind: 'rgb8'; width: number; height: number; data: Uint8Array }
  /** data: Uint8Array [height, width] of palette indices; palette: RGB triples, 1..256 entries (3..768 bytes). */
  | { kind: 'indexed8'; width: number; height: number; data: Uint8Array; palette: Uint8Array };

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Above this a truth mask is refused before anything is allocated (2^26 = 8192 x 8192). */
const MAX_PIXELS = 2 ** 26;
/** PNG's own bound on a width, a height and a chunk length. */
const MAX_INT31 = 2 ** 31 - 1;
/** [colour type, bit depth, channels] of each kind. */
const LAYOUT = { gray8: [0, 8, 1], gray16: [0, 16, 1], rgb8: [2, 8, 3], indexed8: [3, 8, 1] } as const;
/** Adam7's passes as [x0, y0, dx, dy]; a non-interlaced image is the one pass [0, 0, 1, 1]. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

// zlib.crc32 arrived in Node 20.15 / 22.2: the table keeps the floor at 20.9
const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (ISO 3309, as PNG's chunks carry it) of bytes. */
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The PNG filter predictor of type 0..4 from the left (a), up (b) and up-left (c) bytes. */
function predict(type: number, a: number, b: number, c: number): number {
  if (type === 0) return 0;
  if (type === 1) return a;
  if (type === 2) return b;
  if (type === 3) return (a + b) >>> 1;
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Encodes one PNG (non-interlaced, filter chosen per row, deterministic bytes for the same input). */
export function encodePng(pixels: PngPixels): Buffer {
  validatePixels(pixels);
  const [colorType, depth, channels] = LAYOUT[pixels.kind];
  const bpp = (channels * depth) / 8;
  const stride = pixels.width * bpp;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(pixels.width, 0);
  ihdr.writeUInt32BE(pixels.height, 4);
  ihdr.set([depth, colorType, 0, 0, 0], 8);
  // the spec advises filter None for palette images: their indices are not magnitudes to predict
  const rows = filterRows(sampleBytes(pixels), pixels.height, stride, bpp, pixels.kind !== 'indexed8');
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', ihdr),
    ...(pixels.kind === 'indexed8' ? [chunk('PLTE', pixels.palette)] : []),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** A whole chunk: length, type, data, CRC of type and data. */
function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** The samples as PNG stores them: bytes, 16-bit ones big-endian. */
function sampleBytes(pixels: PngPixels): Uint8Array {
  if (pixels.kind !== 'gray16') return pixels.data;
  const out = new Uint8Array(pixels.data.length * 2);
  pixels.data.forEach((value, i) => {
    out[2 * i] = value >>> 8;
    out[2 * i + 1] = value & 0xff;
  });
  return out;
}

/** Each row behind its filter byte; adaptive picks the filter of least sum of |signed byte| (libpng's heuristic). */
function filterRows(bytes: Uint8Array, height: number, stride: number, bpp: number, adaptive: boolean): Uint8Array {
  const out = new Uint8Array(height * (stride + 1));
  const trial = new Uint8Array(stride);
  for (let r = 0; r < height; r++) {
    let best = Infinity;
    for (let type = 0; type < (adaptive ? 5 : 1); type++) {
      let cost = 0;
      for (let i = 0; i < stride; i++) {
        const at = r * stride + i;
        const a = i >= bpp ? bytes[at - bpp]! : 0;
        const b = r > 0 ? bytes[at - stride]! : 0;
        const c = i >= bpp && r > 0 ? bytes[at - stride - bpp]! : 0;
        const value = (bytes[at]! - predict(type, a, b, c)) & 0xff;
        trial[i] = value;
        cost += value < 128 ? value : 256 - value;
      }
      if (cost >= best) continue; // ties keep the lower type: the same bytes every run
      best = cost;
      out[r * (stride + 1)] = type;
      out.set(trial, r * (stride + 1) + 1);
    }
  }
  return out;
}

/** Throws a UsageError naming the first bad field of pixels. */
function validatePixels(pixels: PngPixels): void {
  const kind: unknown = (pixels as { kind?: unknown } | undefined)?.kind;
  if (typeof kind !== 'string' || !Object.hasOwn(LAYOUT, kind)) throw invalidParameter('pixels.kind', "'gray8', 'gray16', 'rgb8' or 'indexed8'", kind);
  for (const side of ['width', 'height'] as const) {
    const value = pixels[side];
    if (!(Number.isInteger(value) && value > 0 && value <= MAX_INT31)) throw invalidParameter(`pixels.${side}`, 'a positive integer', value, 'pixels');
  }
  const [, , channels] = LAYOUT[pixels.kind];
  const length = pixels.width * pixels.height * channels;
  const type = pixels.kind === 'gray16' ? Uint16Array : Uint8Array;
  if (!(pixels.data instanceof type)) throw invalidParameter('pixels.data', `a ${type.name}`, describeValue(pixels.data));
  if (pixels.data.length !== length)
    throw invalidParameter('pixels.data', `${length} values (width * height${channels > 1 ? ` * ${channels}` : ''})`, pixels.data.length, 'values');
  if (pixels.kind === 'indexed8') validatePalette(pixels.data, pixels.palette);
}

/** Throws unless palette is 1..256 RGB triples that every index of data points into. */
function validatePalette(data: Uint8Array, palette: Uint8Array): void {
  if (!(palette instanceof Uint8Array)) throw invalidParameter('pixels.palette', 'a Uint8Array of RGB triples', describeValue(palette));
  if (palette.length === 0 || palette.length > 768 || palette.length % 3 !== 0)
    throw invalidParameter('pixels.palette', 'RGB triples of 1 to 256 entries (a length in [3, 768] that is a multiple of 3)', palette.length, 'bytes');
  const entries = palette.length / 3;
  const bad = data.findIndex((index) => index >= entries);
  if (bad >= 0) throw invalidParameter('pixels.data', `palette indices below ${entries} (the palette's entries)`, data[bad], `at pixel ${bad}`);
}

/** A value's type in words, for a message. */
function describeValue(value: unknown): string {
  return value === null || typeof value !== 'object' ? typeof value : value.constructor.name;
}

interface Header {
  width: number;
  height: number;
  depth: number;
  interlaced: boolean;
}

/** A truth mask's class index per pixel: grey 1/2/4/8/16-bit or indexed 1/2/4/8-bit PNG (index = class), interlaced or not; indices [height, width] row-major. */
export function readClassIndexPng(bytes: Uint8Array, file: string): { width: number; height: number; indices: Uint16Array } {
  const fail = (reason: string, cause?: unknown): never => {
    throw new InputError(file, reason, cause === undefined ? undefined : { cause });
  };
  const { ihdr, idat } = readChunks(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), fail);
  const header = readHeader(ihdr, fail);
  const passes = passSizes(header);
  const expected = passes.reduce((sum, pass) => sum + pass.h * (pass.stride + 1), 0);
  const raw = inflateImage(idat, expected, `${header.width}x${header.height}`, fail);
  const indices = new Uint16Array(header.width * header.height);
  let offset = 0;
  for (const pass of passes) {
    unfilter(raw, offset, pass.h, pass.stride, Math.max(1, header.depth / 8), fail);
    scatter(raw, offset, pass, header, indices);
    offset += pass.h * (pass.stride + 1);
  }
  return { width: header.width, height: header.height, indices };
}

/** The inflated image data, refused unless exactly `expected` bytes long. */
function inflateImage(idat: Buffer, expected: number, size: string, fail: (reason: string, cause?: unknown) => never): Buffer {
  const wrongLength = (got: string) => `corrupt PNG image (its image data holds ${got} bytes, ${expected} expected for ${size} pixels): save the mask again`;
  try {
    // inflating stops one byte past what the header allows: a small file cannot inflate to gigabytes
    const raw = inflateSync(idat, { maxOutputLength: expected + 1 });
    return raw.length === expected ? raw : fail(wrongLength(String(raw.length)));
  } catch (error) {
    if (error instanceof InputError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return fail(wrongLength(`more than ${expected}`), error);
    return fail(`corrupt PNG image (its image data does not inflate: ${(error as Error).message}): save the mask again`, error);
  }
}

/** IHDR's data and every IDAT's data joined, after checking the signature, each CRC and that IEND ends it. */
function readChunks(bytes: Buffer, fail: (reason: string) => never): { ihdr: Buffer; idat: Buffer } {
  if (bytes.length === 0) fail('empty file');
  if (bytes.length < 8 && SIGNATURE.subarray(0, bytes.length).equals(bytes)) fail('truncated image (it ends inside the PNG signature): save the mask again');
  if (bytes.length < 8 || !bytes.subarray(0, 8).equals(SIGNATURE)) fail('not a PNG image (no PNG signature): save the mask as a PNG');
  let ihdr: Buffer | undefined;
  const idat: Buffer[] = [];
  for (let at = 8; ;) {
    if (at + 8 > bytes.length) fail('truncated image (no IEND chunk: the PNG ends early): save the mask again');
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    if (length > MAX_INT31) fail(`corrupt PNG image (chunk length ${length} at byte ${at}): save the mask again`);
    if (at + 12 + length > bytes.length) fail(`truncated image (it ends inside the ${JSON.stringify(type)} chunk at byte ${at}): save the mask again`);
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (crc32(bytes.subarray(at + 4, at + 8 + length)) !== bytes.readUInt32BE(at + 8 + length))
      fail(`corrupt PNG image (bad CRC in the ${JSON.stringify(type)} chunk at byte ${at}): save the mask again`);
    if ((at === 8) !== (type === 'IHDR')) fail('corrupt PNG image (IHDR is not its first chunk): save the mask again');
    if (type === 'IEND') break;
    if (type === 'IHDR') ihdr = data;
    else if (type === 'IDAT') idat.push(data);
    // a critical chunk (upper-case first letter) this reader does not know may change the pixels; ancillary ones (tRNS, gAMA, ...) cannot
    else if (type !== 'PLTE' && !(bytes[at + 4]! & 0x20)) fail(`unsupported PNG image (critical chunk ${JSON.stringify(type)}): save the mask as a plain PNG`);
    at += 12 + length;
  }
  if (idat.length === 0) fail('corrupt PNG image (no IDAT chunk): save the mask again');
  return { ihdr: ihdr!, idat: Buffer.concat(idat) };
}

/** IHDR's fields, refusing colour types that are not class indices and sizes over MAX_PIXELS. */
function readHeader(ihdr: Buffer, fail: (reason: string) => never): Header {
  if (ihdr.length !== 13) fail(`corrupt PNG image (IHDR of ${ihdr.length} bytes, 13 expected): save the mask again`);
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  const [depth, colorType, compression, filter, interlace] = [ihdr[8]!, ihdr[9]!, ihdr[10]!, ihdr[11]!, ihdr[12]!];
  const what = { 2: 'an RGB image', 4: 'a greyscale image with alpha', 6: 'an RGBA image' }[colorType];
  if (what) fail(`${what}, not a mask of class indices: save the mask as 8-bit greyscale or indexed PNG whose pixel values are the class numbers`);
  const depths = colorType === 0 ? [1, 2, 4, 8, 16] : colorType === 3 ? [1, 2, 4, 8] : [];
  if (!depths.includes(depth)) fail(`corrupt PNG image (colour type ${colorType} at bit depth ${depth}): save the mask again`);
  if (compression !== 0 || filter !== 0 || interlace > 1)
    fail(`corrupt PNG image (compression ${compression}, filter ${filter}, interlace ${interlace} in IHDR): save the mask again`);
  if (width === 0 || height === 0 || width > MAX_INT31 || height > MAX_INT31)
    fail(`corrupt PNG image (${width}x${height} pixels in IHDR): save the mask again`);
  if (width * height > MAX_PIXELS) fail(`image larger than the pixel limit for a mask (${width}x${height} > ${MAX_PIXELS} pixels)`);
  return { width, height, depth, interlaced: interlace === 1 };
}

interface Pass {
  x0: number;
  y0: number;
  dx: number;
  dy: number;
  /** Pixels across and down this pass; stride is its row's bytes, filter byte excluded. */
  w: number;
  h: number;
  stride: number;
}

/** The passes that hold pixels: Adam7's seven less the empty ones, or the whole image. */
function passSizes(header: Header): Pass[] {
  const grid: readonly (readonly [number, number, number, number])[] = header.interlaced ? ADAM7 : [[0, 0, 1, 1]];
  return grid
    .map(([x0, y0, dx, dy]) => {
      const w = Math.ceil((header.width - x0) / dx);
      const h = Math.ceil((header.height - y0) / dy);
      return { x0, y0, dx, dy, w: Math.max(0, w), h: Math.max(0, h), stride: Math.ceil((Math.max(0, w) * header.depth) / 8) };
    })
    .filter((pass) => pass.w > 0 && pass.h > 0);
}

/** Undoes each row's filter in place; rows start at offset, each a filter byte and stride bytes. */
function unfilter(raw: Uint8Array, offset: number, rows: number, stride: number, bpp: number, fail: (reason: string) => never): void {
  for (let r = 0; r < rows; r++) {
    const start = offset + r * (stride + 1);
    const type = raw[start]!;
    if (type > 4) fail(`corrupt PNG image (filter type ${type} on a row): save the mask again`);
    for (let i = 0; i < stride; i++) {
      const at = start + 1 + i;
      // the row above starts stride + 1 bytes back, past this row's filter byte
      const a = i >= bpp ? raw[at - bpp]! : 0;
      const b = r > 0 ? raw[at - stride - 1]! : 0;
      const c = i >= bpp && r > 0 ? raw[at - stride - 1 - bpp]! : 0;
      raw[at] = (raw[at]! + predict(type, a, b, c)) & 0xff;
    }
  }
}

/** Copies one unfiltered pass's samples (big-endian, packed MSB first below 8 bits) to their pixels. */
function scatter(raw: Uint8Array, offset: number, pass: Pass, header: Header, indices: Uint16Array): void {
  const { depth } = header;
  const mask = (1 << Math.min(depth, 8)) - 1;
  for (let py = 0; py < pass.h; py++) {
    const row = offset + py * (pass.stride + 1) + 1;
    const out = (pass.y0 + py * pass.dy) * header.width + pass.x0;
    for (let px = 0; px < pass.w; px++) {
      const bit = px * depth;
      const value = depth === 16 ? (raw[row + 2 * px]! << 8) | raw[row + 2 * px + 1]! : (raw[row + (bit >>> 3)]! >>> (8 - depth - (bit & 7))) & mask;
      indices[out + px * pass.dx] = value;
    }
  }
}
