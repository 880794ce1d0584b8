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
    throw new InputError(file, `${file}: cannot decode image (${explain(error, spec)})`, { cause: error });
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
  // center-crop as torchvision's Resize(int(size / crop_fraction)) + CenterCrop(size):
  // the shorter side goes to S, the longer to int(S * long / short), the crop offset rounds half to even
  const meta = await image.metadata();
  const turned = (meta.orientation ?? 1) >= 5;
  const srcW = (turned ? meta.height : meta.width) ?? width;
  const srcH = (turned ? meta.width : meta.height) ?? height;
  const shorter = Math.floor(Math.min(height, width) / spec.cropFraction);
  const [resizedW, resizedH] = srcW <= srcH
    ? [shorter, Math.floor((shorter * srcH) / srcW)]
    : [Math.floor((shorter * srcW) / srcH), shorter];
  // extract after resize in one pipeline crops the resized image (sharp's documented order)
  return image.resize(resizedW, resizedH, { fit: 'fill', kernel }).extract({
    left: roundHalfEven((resizedW - width) / 2), top: roundHalfEven((resizedH - height) / 2), width, height,
  });
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

function explain(error: unknown, spec: PreprocessSpec): string {
  const text = describeError(error);
  if (/pixel limit/i.test(text)) return `more than ${spec.pixelLimit} pixels, refused as a possible decompression bomb; raise --max-pixels if it is genuine`;
  if (/unsupported image format/i.test(text)) return 'not an image sharp can read';
  return text.replace(/\s+/g, ' ').trim();
}
