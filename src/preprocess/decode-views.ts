/**
 * Several views of one file from one decode (#36): the pixels of each (model's spec, view) request,
 * as torchvision makes them (views.ts), each resize computed once for all the windows it gives.
 */
import { InputError, invalidParameter } from '../errors.js';
import { applyGeometry, decodeToPixels, decodeUpright, type DecodedRgb, type ImageHeader } from './decode.js';
import { cropRgb, resizeRgb, type Rect } from './resample.js';
import type { PreprocessSpec } from './spec.js';
import { checkView, isIdentity, viewGeometry, viewName, type View } from './views.js';

/** One view of a file at one model's preprocessing. */
export interface ViewRequest {
  readonly spec: PreprocessSpec;
  readonly view: View;
}

/** The spec's fields that change the decoded image itself: every request of one decode must agree on them. */
const DECODE_FIELDS = ['alpha', 'background', 'colorProfile', 'pixelLimit'] as const;

/**
 * Each request's view of one file: 8-bit interleaved RGB [spec.height, spec.width, 3], one array per
 * request, in order. The file is decoded once for every 'exact' request ('fast' ones, the identity
 * only, each go through libvips at their own size). One identity request gives decodeToPixels'
 * bytes, through its own paths. Throws invalidParameter for requests that cannot share a decode, a
 * view a model cannot have, or 'fast' with another view than the identity, before decoding; a file
 * that does not decode gives decodeToPixels' InputError naming it.
 */
export async function decodeViews(file: string, requests: readonly ViewRequest[], header?: ImageHeader): Promise<Uint8Array[]> {
  checkRequests(requests);
  const first = requests[0]!;
  if (requests.length === 1 && isIdentity(first.view)) return [await decodeToPixels(file, first.spec, header)];
  const exact = requests.find((request) => request.spec.resizeEngine !== 'fast');
  const pixels = exact ? viewsOfImage(withinPixelLimit(file, await decodeUpright(file, exact.spec, header), requests), requests) : [];
  const out: Uint8Array[] = [];
  for (const [i, request] of requests.entries()) out.push(pixels[i] ?? (await decodeToPixels(file, request.spec, header)));
  return out;
}

/**
 * The decoded image, when no view resizes it above its spec's pixel limit (a crop fraction near 0
 * asks for a resize far larger than the image); else an InputError naming the file, the view and
 * the size, as an image above the limit gets.
 */
function withinPixelLimit(file: string, decoded: DecodedRgb, requests: readonly ViewRequest[]): DecodedRgb {
  for (const { spec, view } of requests) {
    if (spec.resizeEngine === 'fast') continue;
    const geometry = viewGeometry(view, spec, decoded.width, decoded.height);
    if (geometry.kind !== 'window') continue;
    const { width, height } = geometry.resized;
    if (width * height > spec.pixelLimit)
      throw new InputError(file, `the view ${viewName(view)} resizes it to ${width}x${height}, above the pixel limit (${spec.pixelLimit} pixels)`);
  }
  return decoded;
}

/** Refuses, before any decode, requests that one decode cannot serve. */
function checkRequests(requests: readonly ViewRequest[]): void {
  if (requests.length === 0) throw invalidParameter('requests', 'at least one request', 0, 'requests');
  const first = requests[0]!.spec;
  for (const { spec, view } of requests) {
    for (const field of DECODE_FIELDS) {
      if (JSON.stringify(spec[field]) !== JSON.stringify(first[field])) {
        throw invalidParameter(
          'requests',
          `requests that decode alike (one ${DECODE_FIELDS.join(', ')} for all)`,
          `${field} ${JSON.stringify(first[field])} and ${JSON.stringify(spec[field])}`,
        );
      }
    }
    if (spec.resizeEngine === 'fast' && !isIdentity(view)) {
      throw invalidParameter(
        'resizeEngine',
        `'exact' for test-time views other than the identity (they are torchvision's pixels; 'fast' resizes in libvips)`,
        spec.resizeEngine,
      );
    }
    checkView(view, spec);
  }
}

/**
 * The pixels of every 'exact' request from the decoded image (undefined at the 'fast' ones): the
 * windows of one resize (same size and filter) come out of one resize of the rectangle that holds
 * them all, which gives the bytes of resizing the whole and cropping (resample.ts); a mirrored view
 * mirrors its window.
 */
function viewsOfImage(decoded: DecodedRgb, requests: readonly ViewRequest[]): (Uint8Array | undefined)[] {
  const { width, height } = decoded;
  const placed = requests.map(({ spec, view }) => (spec.resizeEngine === 'fast' ? undefined : { spec, geometry: viewGeometry(view, spec, width, height) }));
  // the rectangle each resize must cover: every window's part inside the resized image
  const covers = new Map<string, Rect>();
  for (const p of placed) {
    if (p?.geometry.kind !== 'window') continue;
    const inside = clip(p.geometry.window, p.geometry.resized);
    if (!inside) continue;
    const key = resizeKey(p.spec, p.geometry.resized);
    const cover = covers.get(key);
    covers.set(key, cover ? union(cover, inside) : inside);
  }
  const resized = new Map<string, Uint8Array>();
  const letterboxes = new Map<string, Uint8Array>();
  return placed.map((p) => {
    if (!p) return undefined;
    const { spec, geometry } = p;
    if (geometry.kind === 'letterbox') {
      const key = `${spec.width}x${spec.height} ${spec.interpolation} ${spec.background.join(',')}`;
      let box = letterboxes.get(key);
      if (!box) letterboxes.set(key, (box = applyGeometry(decoded.pixels, width, height, spec)));
      return geometry.mirror ? mirrorRgb(box, spec.width, spec.height) : box.slice();
    }
    const key = resizeKey(spec, geometry.resized);
    const cover = covers.get(key);
    let part = cover && resized.get(key);
    if (cover && !part) {
      part = resizeRgb(decoded.pixels, width, height, geometry.resized.width, geometry.resized.height, spec.interpolation, cover);
      resized.set(key, part);
    }
    const window = windowOf(part, cover, geometry.window);
    return geometry.mirror ? mirrorRgb(window, spec.width, spec.height) : window;
  });
}

const resizeKey = (spec: PreprocessSpec, size: { width: number; height: number }) => `${spec.interpolation} ${size.width}x${size.height}`;

/** The part of a window inside an image of `size`, or undefined where they do not meet. */
function clip(window: Rect, size: { width: number; height: number }): Rect | undefined {
  const left = Math.max(window.left, 0);
  const top = Math.max(window.top, 0);
  const right = Math.min(window.left + window.width, size.width);
  const bottom = Math.min(window.top + window.height, size.height);
  return right > left && bottom > top ? { left, top, width: right - left, height: bottom - top } : undefined;
}

/** The smallest rectangle that holds both. */
function union(a: Rect, b: Rect): Rect {
  const left = Math.min(a.left, b.left);
  const top = Math.min(a.top, b.top);
  return { left, top, width: Math.max(a.left + a.width, b.left + b.width) - left, height: Math.max(a.top + a.height, b.top + b.height) - top };
}

/** A window's pixels from `part` (the resized image's rectangle `cover`); zeros outside the resized image, as CenterCrop pads. */
function windowOf(part: Uint8Array | undefined, cover: Rect | undefined, window: Rect): Uint8Array {
  if (
    part &&
    cover &&
    window.left >= cover.left &&
    window.top >= cover.top &&
    window.left + window.width <= cover.left + cover.width &&
    window.top + window.height <= cover.top + cover.height
  ) {
    return cropRgb(part, cover.width, window.left - cover.left, window.top - cover.top, window.width, window.height);
  }
  const out = new Uint8Array(window.width * window.height * 3);
  if (!part || !cover) return out;
  const inside = clip({ left: window.left - cover.left, top: window.top - cover.top, width: window.width, height: window.height }, cover);
  if (!inside) return out;
  for (let y = inside.top; y < inside.top + inside.height; y++) {
    const from = (y * cover.width + inside.left) * 3;
    out.set(part.subarray(from, from + inside.width * 3), ((y + cover.top - window.top) * window.width + (inside.left + cover.left - window.left)) * 3);
  }
  return out;
}

/** The horizontal mirror of RGB [height, width, 3] (torchvision's hflip). */
function mirrorRgb(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let x = 0; x < width; x++) {
      const from = row + (width - 1 - x) * 3;
      const to = row + x * 3;
      out[to] = rgb[from]!;
      out[to + 1] = rgb[from + 1]!;
      out[to + 2] = rgb[from + 2]!;
    }
  }
  return out;
}
