/**
 * torchvision's geometry on PIL images, the sizes and offsets alone (no pixels): Resize(int)'s
 * output size, CenterCrop's offset, and the model's center crop built from them.
 */
import type { Rect } from './resample.js';
import type { PreprocessSpec } from './spec.js';

/** Python's round(): halves go to the even neighbor. */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  if (value - floor !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

/** torchvision Resize(shorter) of a width x height image: the shorter side to `shorter`, the longer to int(shorter * long / short). */
export function resizeShorter(width: number, height: number, shorter: number): { width: number; height: number } {
  return width <= height
    ? { width: shorter, height: Math.floor((shorter * height) / width) }
    : { width: Math.floor((shorter * width) / height), height: shorter };
}

/**
 * CenterCrop's offset along one axis of `size` pixels for a crop of `crop`: round((size - crop) / 2)
 * with Python's rounding; for a crop larger than the image, minus the zeros torchvision pads before
 * it ((crop - size) // 2), so the window reaches outside the image.
 */
export function centerOffset(size: number, crop: number): number {
  return crop > size ? -Math.floor((crop - size) / 2) : roundHalfEven((size - crop) / 2);
}

/** The model's center crop, Resize(size / crop_fraction) + CenterCrop: the resized size and the crop's rectangle in it. */
export function centerCrop(
  width: number,
  height: number,
  spec: Pick<PreprocessSpec, 'width' | 'height' | 'cropFraction'>,
): { w: number; h: number; crop: Rect } {
  const { width: outW, height: outH } = spec;
  const { width: w, height: h } = resizeShorter(width, height, Math.floor(Math.min(outH, outW) / spec.cropFraction));
  return { w, h, crop: { left: centerOffset(w, outW), top: centerOffset(h, outH), width: outW, height: outH } };
}
