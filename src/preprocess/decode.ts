/** The only module that imports sharp: file -> 8-bit RGB pixels at the model's size; also the report's thumbnails and PNG figures. */
import type { default as SharpConstructor, Sharp, SharpOptions } from 'sharp';
import { createRequire } from 'node:module';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { bytesOfName, fsPath, hasRawBytes } from '../io/names.js';
import { InputError, InternalError, unreadableReason } from '../errors.js';
import { DEFAULT_PIXEL_LIMIT, type PreprocessSpec } from './spec.js';
import { centerCrop } from './geometry.js';
import { cropRgb, resizeRgb, windowSource } from './resample.js';
import { jpegComponents, jpegEnds } from './jpeg-header.js';
import { pixelsToTensor } from './tensor.js';

let loaded: typeof SharpConstructor | undefined;

/**
 * sharp, loaded on first use, so a command that decodes nothing starts without libvips: its
 * CommonJS entry, which Node 20 loads about 0.1 s faster than its ES module one. The entry points
 * load it before their own error handling, so a broken install fails the run, not each image.
 */
function loadSharp(): typeof SharpConstructor {
  if (!loaded) {
    loaded = createRequire(import.meta.url)('sharp') as typeof SharpConstructor;
    // Images are decoded several at a time by our own pool; one libvips thread each avoids oversubscribing.
    loaded.concurrency(1);
    loaded.cache(false);
  }
  return loaded;
}

function sharp(input: string | Buffer, options: SharpOptions): Sharp {
  return loadSharp()(input, options);
}

/** An image's size as its header tells it, upright (EXIF orientation applied), first frame. */
export interface ImageHeader {
  width: number;
  height: number;
  /** The file stores CMYK (JPEG or TIFF), as its header says. */
  cmyk?: boolean;
}

/**
 * Decodes one file to interleaved RGB [H, W, 3] at the spec's size. Throws an InputError naming the
 * file with a short reason that depends on that file alone (see whyUndecodable). With the file's
 * header, a center crop decodes only the rectangle of the image that the crop reads (the same bytes).
 */
export async function decodeToPixels(file: string, spec: PreprocessSpec, header?: ImageHeader): Promise<Uint8Array> {
  loadSharp();
  let decoded: DecodedRgb;
  try {
    if (spec.resizeEngine === 'fast') return await decodeFast(file, spec, header);
    // a failed partial decode falls back to the whole one, which says what is wrong with the file
    const cropped = header && spec.resize === 'center-crop' ? await decodeCrop(file, spec, header).catch(() => undefined) : undefined;
    if (cropped) return cropped;
    decoded = await decodeRgb(file, spec, header);
  } catch (error) {
    throw new InputError(file, await whyUndecodable(file, spec), { cause: error });
  }
  return applyGeometry(decoded.pixels, decoded.width, decoded.height, spec);
}

/** Interleaved 8-bit RGB [height, width, 3] of a whole image at its own size. */
export interface DecodedRgb {
  pixels: Uint8Array;
  width: number;
  height: number;
}

/**
 * Decodes one file to upright RGB at its own size, for several geometries of it (decode-views.ts):
 * the spec's decode fields (alpha, background, colorProfile, pixelLimit) apply, its size does not.
 * Throws decodeToPixels' InputError for a file that does not decode.
 */
export async function decodeUpright(file: string, spec: PreprocessSpec, header?: ImageHeader): Promise<DecodedRgb> {
  loadSharp();
  try {
    return await decodeRgb(file, spec, header);
  } catch (error) {
    throw new InputError(file, await whyUndecodable(file, spec), { cause: error });
  }
}

/** Decodes and normalizes one file into the model's input tensor (one image, no batch dim). */
export async function loadImageTensor(file: string, spec: PreprocessSpec, header?: ImageHeader): Promise<Float32Array> {
  return pixelsToTensor(await decodeToPixels(file, spec, header), spec);
}

/**
 * What sharp opens: the path, or for a name that is not valid UTF-8 (which libvips would get as
 * UTF-8 text, another file) the file's bytes, read here.
 */
function source(file: string): string | Buffer {
  return hasRawBytes(file) ? readFileSync(bytesOfName(file)) : file;
}

/** An image's upright size from its header (no decode), or undefined when sharp cannot read it. */
export async function imageHeader(file: string): Promise<ImageHeader | undefined> {
  loadSharp();
  try {
    const { width, height, orientation, space } = await sharp(source(file), { limitInputPixels: false, pages: 1 }).metadata();
    if (!width || !height) return undefined;
    const cmyk = space === 'cmyk';
    return (orientation ?? 1) >= 5 ? { width: height, height: width, cmyk } : { width, height, cmyk };
  } catch {
    return undefined;
  }
}

/**
 * sharp does what it does like PIL: decode (first frame), EXIF orientation, alpha, and any color
 * space or bit depth to 8-bit sRGB, at the image's own size. Resizing is left to resample.ts,
 * because libvips places upsampled pixels differently from PIL (measured: 0.24 mean abs diff
 * in normalized units for 28x28 -> 32x32 bilinear).
 */
async function decodeRgb(file: string, spec: PreprocessSpec, header?: ImageHeader): Promise<DecodedRgb> {
  return rawRgb(openUpright(file, spec), await readsCmykAsPil(file, spec, header));
}

/**
 * Whether the file is CMYK and read as PIL reads it: PIL's convert('RGB') applies its naive formula
 * (cmyk2rgb) and no profile, where libvips converts through an ICC profile (its own when the file
 * has none): 24 of 255 apart on average on the odd corpus's CMYK JPEG, 113 at most. Only JPEG and
 * TIFF files can be CMYK; their first bytes say which, so other files cost no header read, and a
 * file whose header was read already (large files, for the pixel budget) costs none either. A JPEG's
 * frame header says it too (jpeg-header.ts), without sharp: its metadata call took 0.17 ms of the
 * main thread per 640x480 photo (#38); sharp answers when the markers do not.
 */
async function readsCmykAsPil(file: string, spec: PreprocessSpec, header?: ImageHeader): Promise<boolean> {
  if (spec.colorProfile === 'convert') return false;
  if (header?.cmyk !== undefined) return header.cmyk; // read with the size, for the pixel budget
  const input = source(file);
  let head: Uint8Array;
  if (typeof input === 'string') {
    const fd = openSync(input, 'r');
    try {
      head = HEAD.subarray(0, readSync(fd, HEAD, 0, HEAD.length, 0));
    } finally {
      closeSync(fd);
    }
  } else head = input;
  const jpeg = head[0] === 0xff && head[1] === 0xd8;
  const tiff = (head[0] === 0x49 && head[1] === 0x49 && head[2] === 0x2a) || (head[0] === 0x4d && head[1] === 0x4d && head[3] === 0x2a);
  if (!jpeg && !tiff) return false;
  const components = jpeg ? jpegComponents(head) : undefined;
  if (components !== undefined) return components === 4;
  return (await sharp(input, { limitInputPixels: false, pages: 1 }).metadata()).space === 'cmyk';
}

/**
 * The first bytes of a file, read synchronously (used before any await, so one buffer serves every
 * decode): 64 KiB holds a JPEG's frame header after the usual EXIF and ICC segments.
 */
const HEAD = new Uint8Array(64 * 1024);

/** PIL's CMYK -> RGB (libImaging/Convert.c, cmyk2rgb): each of R, G, B is (255 - K) - round(channel * (255 - K) / 255). */
export function pilCmykToRgb(cmyk: Uint8Array): Uint8Array {
  const rgb = new Uint8Array((cmyk.length / 4) * 3);
  for (let i = 0, o = 0; i < cmyk.length; i += 4, o += 3) {
    const nk = 255 - cmyk[i + 3]!;
    for (let c = 0; c < 3; c++) {
      const tmp = cmyk[i + c]! * nk + 128;
      rgb[o + c] = nk - (((tmp >> 8) + tmp) >> 8);
    }
  }
  return rgb;
}

/** The file opened for decoding: first frame, EXIF orientation applied, alpha dropped or flattened. */
function openUpright(file: string, spec: PreprocessSpec): Sharp {
  // failOn 'warning': truncated or corrupt data is an error, never a half-gray tensor
  // PIL reads an embedded ICC profile's stored numbers as they are; sharp would convert them to sRGB
  const ignoreIcc = spec.colorProfile !== 'convert';
  const image = sharp(source(file), { failOn: 'warning', limitInputPixels: spec.pixelLimit, pages: 1, ignoreIcc }).rotate();
  return spec.alpha === 'flatten'
    ? image.flatten({ background: { r: spec.background[0], g: spec.background[1], b: spec.background[2] } })
    : image.removeAlpha();
}

/**
 * Runs the pipeline to 8-bit sRGB and returns interleaved RGB (grayscale replicated) with its size;
 * with `pilCmyk`, the file's CMYK numbers as stored (no profile), turned to RGB as PIL does.
 */
async function rawRgb(image: Sharp, pilCmyk = false): Promise<DecodedRgb> {
  if (pilCmyk) {
    const { data, info } = await image.pipelineColorspace('cmyk').toColorspace('cmyk').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 4) throw new InternalError(`Expected 4 channels (CMYK) from the decoder but received ${info.channels}`);
    return { pixels: pilCmykToRgb(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)), width: info.width, height: info.height };
  }
  const { data, info } = await image.toColorspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (info.channels === 3) return { pixels, width: info.width, height: info.height };
  if (info.channels !== 1) throw new InternalError(`Expected 1 or 3 channels from the decoder but received ${info.channels}`);
  const rgb = new Uint8Array(pixels.length * 3);
  for (let i = 0; i < pixels.length; i++) rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = pixels[i]!;
  return { pixels: rgb, width: info.width, height: info.height };
}

const KERNELS = { bilinear: 'linear', bicubic: 'cubic', nearest: 'nearest', lanczos3: 'lanczos3' } as const;

/**
 * The 'fast' engine: libvips decodes and resizes in one pipeline (JPEGs shrink on load), with the
 * same geometry as the exact path: stretch, shorter side to size / crop fraction then a center
 * crop, or fit inside on the background color.
 */
async function decodeFast(file: string, spec: PreprocessSpec, header?: ImageHeader): Promise<Uint8Array> {
  const { width: outW, height: outH } = spec;
  const image = openUpright(file, spec);
  const cmyk = await readsCmykAsPil(file, spec, header);
  const kernel = KERNELS[spec.interpolation];
  const background = { r: spec.background[0], g: spec.background[1], b: spec.background[2] };
  if (spec.resize === 'stretch') return (await rawRgb(image.resize(outW, outH, { fit: 'fill', kernel }), cmyk)).pixels;
  if (spec.resize === 'pad') return (await rawRgb(image.resize(outW, outH, { fit: 'contain', kernel, background }), cmyk)).pixels;
  // the exact path's sizes, on the upright image
  const upright = header ?? (await imageHeader(file));
  if (!upright) throw new InputError(file, 'no image header');
  const { w, h, crop } = centerCrop(upright.width, upright.height, spec);
  const resized = await rawRgb(image.resize(w, h, { fit: 'fill', kernel }), cmyk);
  return cropRgb(resized.pixels, resized.width, crop.left, crop.top, crop.width, crop.height);
}

/**
 * The center crop from a decode of only the input rectangle it reads (libvips still reads the file
 * up to its last row, but writes, and we copy, only that rectangle: on a 12 MP photo cropped to
 * 224 of 256, 57% of the pixels); undefined where the crop reads the whole image. The header's size
 * must be the image's upright size: the decoded rectangle is checked against it.
 */
async function decodeCrop(file: string, spec: PreprocessSpec, header: ImageHeader): Promise<Uint8Array | undefined> {
  const { w, h, crop } = centerCrop(header.width, header.height, spec);
  const source = windowSource(header.width, header.height, w, h, spec.interpolation, crop);
  if (source.width * source.height >= header.width * header.height) return undefined;
  const part = await rawRgb(openUpright(file, spec).extract(source), await readsCmykAsPil(file, spec, header));
  if (part.width !== source.width || part.height !== source.height)
    throw new InternalError(`Expected a decoded ${source.width}x${source.height} rectangle but received ${part.width}x${part.height}`);
  return resizeRgb(part.pixels, header.width, header.height, w, h, spec.interpolation, crop, source);
}

/** stretch, center-crop (torchvision's Resize(size / crop_fraction) + CenterCrop) or pad (letterbox): RGB [height, width, 3] -> [spec.height, spec.width, 3]. */
export function applyGeometry(pixels: Uint8Array, width: number, height: number, spec: PreprocessSpec): Uint8Array {
  const { width: outW, height: outH, interpolation } = spec;
  if (spec.resize === 'stretch') return resizeRgb(pixels, width, height, outW, outH, interpolation);
  if (spec.resize === 'center-crop') {
    // only the crop is computed: the same bytes as resizing the whole and cropping
    const { w, h, crop } = centerCrop(width, height, spec);
    return resizeRgb(pixels, width, height, w, h, interpolation, crop);
  }
  // pad: fit inside, centerd on the background color
  const scale = Math.min(outW / width, outH / height);
  const w = Math.min(outW, Math.max(1, Math.round(width * scale)));
  const h = Math.min(outH, Math.max(1, Math.round(height * scale)));
  const resized = resizeRgb(pixels, width, height, w, h, interpolation);
  const canvas = new Uint8Array(outW * outH * 3);
  for (let i = 0; i < outW * outH; i++) canvas.set(spec.background, i * 3);
  const left = Math.floor((outW - w) / 2);
  const top = Math.floor((outH - h) / 2);
  for (let y = 0; y < h; y++) canvas.set(resized.subarray(y * w * 3, (y + 1) * w * 3), ((top + y) * outW + left) * 3);
  return canvas;
}

/**
 * Why a file did not decode, in words that depend only on the file: libvips keeps its error text in
 * a process-wide buffer, so under concurrent decodes its message can belong to another file. The
 * reason is read off the file itself: its size, its header, whether its format's end marker is there.
 */
async function whyUndecodable(file: string, spec: PreprocessSpec): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(fsPath(file));
  } catch (error) {
    return unreadableReason(error);
  }
  if (bytes.length === 0) return 'empty file';
  const format = sniffFormat(bytes);
  if (!format) return 'not an image';
  const header = await imageHeader(file);
  const pixels = header && header.width * header.height;
  if (pixels !== undefined && pixels > spec.pixelLimit) return `image larger than the pixel limit (${pixels} > ${spec.pixelLimit} pixels)`;
  return isTruncated(format, bytes) ? 'truncated image' : `corrupt ${format} image`;
}

type Format = 'JPEG' | 'PNG' | 'GIF' | 'WebP' | 'TIFF' | 'AVIF/HEIF';

/** The format a file's first bytes announce, or undefined. */
function sniffFormat(b: Buffer): Format | undefined {
  const ascii = (start: number, end: number) => b.toString('latin1', start, end);
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'JPEG';
  if (ascii(0, 8) === '\x89PNG\r\n\x1a\n') return 'PNG';
  if (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a') return 'GIF';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'WebP';
  if (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*') return 'TIFF';
  if (ascii(4, 8) === 'ftyp') return 'AVIF/HEIF';
  return undefined;
}

/** Whether the file stops before its format's end: JPEG's EOI marker, PNG's IEND chunk, GIF's trailer, WebP's RIFF size. */
function isTruncated(format: Format, b: Buffer): boolean {
  // bytes after a JPEG's end (padding, appended data) hide its end marker from the last two bytes; its markers, walked, find it
  if (format === 'JPEG') return !((b[b.length - 2] === 0xff && b[b.length - 1] === 0xd9) || jpegEnds(b) === true);
  if (format === 'PNG') return b.toString('latin1', b.length - 8, b.length - 4) !== 'IEND';
  if (format === 'GIF') return b[b.length - 1] !== 0x3b;
  if (format === 'WebP') return b.length < b.readUInt32LE(4) + 8;
  return false;
}

/** A JPEG thumbnail of an image (upright, fitting in size x size), for the HTML report; undefined when sharp cannot read it. */
export async function thumbnailJpeg(file: string, size: number): Promise<Buffer | undefined> {
  loadSharp();
  try {
    return await sharp(source(file), { pages: 1, limitInputPixels: DEFAULT_PIXEL_LIMIT })
      .rotate()
      .flatten({ background: '#ffffff' })
      .resize(size, size, { fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: 80 })
      .toBuffer();
  } catch {
    return undefined;
  }
}

/** An SVG document as PNG, at `scale` times its own size (2 for sharp text on high-density screens). */
export async function svgToPng(svg: string, scale = 2): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 72 * scale })
    .png()
    .toBuffer();
}
