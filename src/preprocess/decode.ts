/** The only module that imports sharp: file -> 8-bit RGB pixels at the model's size. */
import sharp, { type Color, type Sharp } from 'sharp';
import { describeError, InputError } from '../errors.js';
import type { PreprocessSpec } from './spec.js';
import { pixelsToTensor } from './tensor.js';

// Images are decoded several at a time by our own pool; one libvips thread each avoids oversubscribing.
sharp.concurrency(1);
sharp.cache(false);

const KERNELS = { bilinear: 'linear', bicubic: 'cubic', nearest: 'nearest', lanczos3: 'lanczos3' } as const;

/** Decodes one file to interleaved RGB [H, W, 3] at the spec's size. Throws InputError naming the file. */
export async function decodeToPixels(file: string, spec: PreprocessSpec): Promise<Uint8Array> {
  try {
    // failOn 'warning': truncated or corrupt data is an error, never a half-grey tensor
    let image = sharp(file, { failOn: 'warning', limitInputPixels: spec.pixelLimit, pages: 1 }).rotate();
    const background = { r: spec.background[0], g: spec.background[1], b: spec.background[2], alpha: 1 };
    image = spec.alpha === 'flatten' ? image.flatten({ background }) : image.removeAlpha();
    image = await applyGeometry(image, spec, background);
    const { data, info } = await image.toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== spec.width || info.height !== spec.height) {
      throw new Error(`decoder produced ${info.width}x${info.height}x${info.channels}, expected ${spec.width}x${spec.height}x3`);
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (error) {
    throw new InputError(file, `${file}: cannot decode image (${explain(error)})`, { cause: error });
  }
}

/** Decodes and normalizes one file into the model's input tensor (one image, no batch dim). */
export async function loadImageTensor(file: string, spec: PreprocessSpec): Promise<Float32Array> {
  return pixelsToTensor(await decodeToPixels(file, spec), spec);
}

async function applyGeometry(image: Sharp, spec: PreprocessSpec, background: Color): Promise<Sharp> {
  const kernel = KERNELS[spec.interpolation];
  const { width, height } = spec;
  if (spec.resize === 'stretch') return image.resize(width, height, { fit: 'fill', kernel });
  if (spec.resize === 'pad') return image.resize(width, height, { fit: 'contain', background, kernel });
  // center-crop: shorter side to size / cropFraction, then the central height x width
  const meta = await image.metadata();
  const oriented = (meta.orientation ?? 1) >= 5;
  const srcW = (oriented ? meta.height : meta.width) ?? width;
  const srcH = (oriented ? meta.width : meta.height) ?? height;
  const shorter = Math.floor(Math.min(height, width) / spec.cropFraction);
  const scale = shorter / Math.min(srcW, srcH);
  const resizedW = Math.max(width, Math.round(srcW * scale));
  const resizedH = Math.max(height, Math.round(srcH * scale));
  const resized = sharp(await image.resize(resizedW, resizedH, { fit: 'fill', kernel }).toBuffer());
  return resized.extract({
    left: Math.floor((resizedW - width) / 2), top: Math.floor((resizedH - height) / 2), width, height,
  });
}

function explain(error: unknown): string {
  const text = describeError(error);
  if (/pixel limit/i.test(text)) return `${text}; the image is larger than the pixel limit (--max-pixels)`;
  if (/unsupported image format/i.test(text)) return 'not an image sharp can read';
  return text.replace(/\s+/g, ' ').trim();
}
