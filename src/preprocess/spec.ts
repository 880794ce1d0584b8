import { invalidParameter } from '../errors.js';
import type { ChannelOrder, Interpolation, Layout, ModelMetadata, ResizeMode } from '../model/metadata.js';

/** ImageNet's per-channel mean (RGB, on values scaled to [0, 1]), torchvision's default. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
/** ImageNet's per-channel standard deviation (RGB, on values scaled to [0, 1]), torchvision's default. */
export const IMAGENET_STD = [0.229, 0.224, 0.225];
/** Refuse images above this many pixels (decompression bombs): 100 megapixels. */
export const DEFAULT_PIXEL_LIMIT = 100_000_000;
/** Default pixels decoded at once: two 64-megapixel photos (8000x8000), or thousands of small images (32 such photos: 741 MiB peak RSS). */
export const DEFAULT_DECODE_PIXEL_BUDGET = 128_000_000;
/** Center crop's fraction when neither the caller nor the model's metadata gives one (timm's and torchvision's 224/256). */
export const DEFAULT_CROP_FRACTION = 0.875;

/** Everything that turns an image file into the model's input tensor. */
export interface PreprocessSpec {
  height: number;
  width: number;
  layout: Layout;
  channelOrder: ChannelOrder;
  mean: number[];
  std: number[];
  resize: ResizeMode;
  interpolation: Interpolation;
  /** center-crop: shorter side goes to size / cropFraction before the crop. */
  cropFraction: number;
  /** 'remove' drops alpha (PIL convert('RGB')); 'flatten' composites on `background`. */
  alpha: 'remove' | 'flatten';
  /** RGB 0-255, for alpha flatten and pad. */
  background: [number, number, number];
  pixelLimit: number;
  /**
   * 'exact': full-resolution decode and Pillow's resampling, bit-identical to PIL + torchvision
   * (the default); 'fast': libvips resizes, with JPEG shrink-on-load (decodes at 1/2, 1/4 or 1/8
   * size first): much faster on large photos, slightly different pixels.
   */
  resizeEngine: 'exact' | 'fast';
  /**
   * An embedded ICC profile: 'ignore' reads the stored numbers, as PIL's convert('RGB') does (so
   * torchvision and timm trained on them; the default); 'convert' converts them to sRGB first.
   */
  colorProfile: 'ignore' | 'convert';
}

/** User flags over model metadata over defaults (ImageNet, stretch, bilinear). */
export type PreprocessOverrides = Partial<Omit<PreprocessSpec, 'height' | 'width' | 'layout'>> & {
  /**
   * The British spelling of colorProfile, read for one release.
   * @deprecated Use colorProfile.
   */
  colourProfile?: PreprocessSpec['colorProfile'];
};

/** The preprocessing of a model: its metadata, then ImageNet defaults, with the caller's overrides on top. */
export function resolvePreprocess(
  model: { height: number; width: number; layout: Layout; metadata: ModelMetadata },
  overrides: PreprocessOverrides = {},
): PreprocessSpec {
  const meta = model.metadata;
  const spec: PreprocessSpec = {
    height: model.height,
    width: model.width,
    layout: model.layout,
    channelOrder: overrides.channelOrder ?? meta.channelOrder ?? 'RGB',
    mean: overrides.mean ?? meta.mean ?? IMAGENET_MEAN,
    std: overrides.std ?? meta.std ?? IMAGENET_STD,
    resize: overrides.resize ?? meta.resize ?? 'stretch',
    interpolation: overrides.interpolation ?? meta.interpolation ?? 'bilinear',
    cropFraction: overrides.cropFraction ?? meta.cropFraction ?? DEFAULT_CROP_FRACTION,
    alpha: overrides.alpha ?? 'remove',
    background: overrides.background ?? [0, 0, 0],
    pixelLimit: overrides.pixelLimit ?? DEFAULT_PIXEL_LIMIT,
    resizeEngine: overrides.resizeEngine ?? 'exact',
    colorProfile: overrides.colorProfile ?? overrides.colourProfile ?? 'ignore',
  };
  if (spec.std.some((s) => s === 0)) throw invalidParameter('std', 'non-zero values', spec.std);
  // the shorter side goes to floor(min(H, W) / f): a crop of a non-square input must fit in it
  const shorter = Math.floor(Math.min(spec.height, spec.width) / spec.cropFraction);
  if (spec.resize === 'center-crop' && shorter < Math.max(spec.height, spec.width)) {
    throw invalidParameter(
      'cropFraction',
      `a crop fraction of at most ${(Math.min(spec.height, spec.width) / Math.max(spec.height, spec.width)).toFixed(4)} (a center crop of ${spec.height}x${spec.width}: the shorter side would go to ${shorter} pixels, less than ${Math.max(spec.height, spec.width)})`,
      spec.cropFraction,
    );
  }
  return spec;
}

/** Parses a color: #rgb, #rrggbb, or r,g,b with 0-255 integers. */
export function parseColor(text: string): [number, number, number] {
  const value = text.trim();
  let match = /^#?([0-9a-f]{6})$/i.exec(value);
  if (match) {
    const n = parseInt(match[1]!, 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }
  match = /^#?([0-9a-f]{3})$/i.exec(value);
  if (match) {
    const [r, g, b] = [...match[1]!].map((h) => parseInt(h + h, 16));
    return [r!, g!, b!];
  }
  const parts = value.split(',').map((p) => Number(p.trim()));
  if (parts.length === 3 && parts.every((p) => Number.isInteger(p) && p >= 0 && p <= 255)) return parts as [number, number, number];
  throw invalidParameter('background', 'a color as #rrggbb or r,g,b (0-255)', text);
}

/**
 * The British spelling of parseColor, kept for one release.
 * @deprecated Use parseColor.
 * @alias
 */
export const parseColour = parseColor;
