/**
 * Test-time augmentation views (#36): deterministic variants of a model's own preprocessing, each
 * the pixels torchvision's transforms give on a PIL image (docs/preprocessing.md defines them), the
 * names written in records, the parser of a user's list, and where each view's pixels lie in one
 * image. Pure: decode-views.ts makes the pixels.
 */
import { invalidParameter } from '../errors.js';
import { centerOffset, resizeShorter } from './geometry.js';
import type { Rect } from './resample.js';
import type { PreprocessSpec } from './spec.js';

/** A crop of FiveCrop, in its order: top left, top right, bottom left, bottom right, center. */
export type CropPosition = 'tl' | 'tr' | 'bl' | 'br' | 'center';

/**
 * One deterministic view. `model`: the model's own preprocessing; `crop`: one crop of FiveCrop
 * after the model's resize; `scale`: the image resized to `factor` times the model's resize target,
 * then center-cropped (zeros where it is smaller). `flip`: torchvision's hflip of the resized image,
 * before the crop (TenCrop's order); for a model that pads, the mirror of the padded image.
 */
export type View =
  | { readonly kind: 'model'; readonly flip: boolean }
  | { readonly kind: 'crop'; readonly at: CropPosition; readonly flip: boolean }
  | { readonly kind: 'scale'; readonly factor: number; readonly flip: boolean };

/** The model's own preprocessing, unchanged: the first view of every list. */
export const IDENTITY_VIEW: View = { kind: 'model', flip: false };

/** The most views one list may hold, the identity included (each view is one more run of every pass). */
export const MAX_VIEWS = 32;

/** The scale factors a `scale:S` view accepts, both ends included. */
export const SCALE_RANGE: readonly [number, number] = [0.5, 2];

/** What a model's geometry the views need: its size, resize mode and crop fraction. */
export type ViewSpec = Pick<PreprocessSpec, 'height' | 'width' | 'resize' | 'cropFraction'>;

const CROPS: readonly CropPosition[] = ['tl', 'tr', 'bl', 'br', 'center'];

/**
 * A view's stable name, as records and CSV columns write it: `identity`, `flip`, `crop-tl`,
 * `crop-tr`, `crop-bl`, `crop-br`, `crop-center`, `scale-1.25`, and `flip-` before any of the others
 * (`flip-crop-tl`: the top-left crop of the mirrored image, TenCrop's sixth).
 */
export function viewName(view: View): string {
  const base = view.kind === 'crop' ? `crop-${view.at}` : view.kind === 'scale' ? `scale-${view.factor}` : '';
  if (!view.flip) return base || 'identity';
  return base ? `flip-${base}` : 'flip';
}

/** Whether a view is the model's own preprocessing, unchanged. */
export function isIdentity(view: View): boolean {
  return view.kind === 'model' && !view.flip;
}

const ACCEPTED = `comma-separated view names, each once, without spaces: flip, five-crop, ten-crop, scale:S (S a decimal in [${SCALE_RANGE[0]}, ${SCALE_RANGE[1]}] with at most 4 decimals), e.g. 'flip,ten-crop,scale:1.25'`;

/**
 * The views of a user's list (`flip`, `five-crop`, `ten-crop`, `scale:S`, comma-separated), in a
 * fixed order: the identity, FiveCrop's five (tl, tr, bl, br, center), the scales as given, then the
 * mirror of each of those when `flip` is given (with `ten-crop` alone, of the five crops only). A
 * view that is by definition the same pixels as an earlier one, for every image and every model in
 * `specs` (or for every model at all when `specs` is empty), is dropped: for a center-crop model
 * `crop-center` is the identity and `flip-crop-center` is `flip`; `scale:1` is the identity. Throws
 * invalidParameter('views') for a list it cannot read, a name given twice, more than MAX_VIEWS
 * views, or crops and scales for a model that pads.
 */
export function parseViews(text: string, specs: readonly ViewSpec[] = []): View[] {
  if (typeof text !== 'string' || text === '') throw invalidParameter('views', ACCEPTED, text);
  if (/\s/.test(text)) throw invalidParameter('views', ACCEPTED, text);
  const names = text.split(',');
  // a list longer than the cap asks for too many views whatever is dropped: refused before any is made
  if (names.length > MAX_VIEWS) throw invalidParameter('views', `at most ${MAX_VIEWS} views (the identity included)`, `${names.length} names`);
  let flip = false;
  let crops: 'five-crop' | 'ten-crop' | undefined;
  const scales: number[] = [];
  const seen = new Set<string>();
  for (const name of names) {
    let key = name;
    if (name === 'flip') flip = true;
    else if (name === 'five-crop' || name === 'ten-crop') crops = crops === 'ten-crop' ? crops : name;
    else if (name.startsWith('scale:')) {
      const factor = parseScale(name.slice('scale:'.length));
      if (factor === undefined) {
        throw invalidParameter(
          'views',
          `a scale factor in [${SCALE_RANGE[0]}, ${SCALE_RANGE[1]}] written as a decimal with at most 4 decimals (scale:1.25)`,
          name,
        );
      }
      key = `scale:${factor}`;
      scales.push(factor);
    } else throw invalidParameter('views', ACCEPTED, name === '' ? text : name);
    if (seen.has(key)) throw invalidParameter('views', 'each view name once', text);
    seen.add(key);
  }
  const cropViews: View[] = crops ? CROPS.map((at) => ({ kind: 'crop', at, flip: false })) : [];
  const base: View[] = [IDENTITY_VIEW, ...cropViews, ...scales.map((factor): View => ({ kind: 'scale', factor, flip: false }))];
  const mirrored = (flip ? base : crops === 'ten-crop' ? cropViews : []).map((view): View => ({ ...view, flip: true }));
  const views: View[] = [];
  const keys: string[][] = [];
  for (const view of [...base, ...mirrored]) {
    const key = specs.length > 0 ? specs.map((spec) => planKey(viewPlan(view, spec))) : [abstractKey(view)];
    if (keys.some((k) => k.every((part, i) => part === key[i]))) continue;
    views.push(view);
    keys.push(key);
  }
  if (views.length > MAX_VIEWS) throw invalidParameter('views', `at most ${MAX_VIEWS} views (the identity included)`, `${views.length} views (${text})`);
  return views;
}

/** A scale factor as written after `scale:`, or undefined: a plain decimal (no exponent, sign or NaN) in SCALE_RANGE. */
function parseScale(text: string): number | undefined {
  if (!/^[0-9](\.[0-9]{1,4})?$/.test(text)) return undefined;
  const factor = Number(text);
  return factor >= SCALE_RANGE[0] && factor <= SCALE_RANGE[1] ? factor : undefined;
}

/** What makes a view's pixels for every model: its name, with scale 1 as the identity it is. */
function abstractKey(view: View): string {
  return viewName(view.kind === 'scale' && view.factor === 1 ? { kind: 'model', flip: view.flip } : view);
}

/**
 * Where a crop window sits on one axis of the resized image, as a function of the resized size r
 * and the crop c: at 0, at r - c, CenterCrop's centerOffset(r, c), or the window that mirrors to
 * the center crop of the mirrored image, r - c - centerOffset(r, c) (one pixel off the center when
 * r - c is odd: Python rounds half to even on both sides).
 */
type Anchor = 'start' | 'end' | 'center' | 'mirrored-center';

/**
 * A view on one model, the same for every image: the resize (a fixed size, or the shorter side to
 * a length), the window's anchors, and whether the window's pixels are mirrored; or the letterbox.
 */
type ViewPlan =
  | {
      kind: 'window';
      resize: { width: number; height: number } | { shorter: number };
      x: Anchor;
      y: Anchor;
      mirror: boolean;
      /** The window's size: the model's. */
      crop: { width: number; height: number };
    }
  | { kind: 'letterbox'; mirror: boolean };

const MIRRORED: Record<Anchor, Anchor> = { start: 'end', end: 'start', center: 'mirrored-center', 'mirrored-center': 'center' };

/** A view's plan on one model; invalidParameter where the model cannot have it. */
function viewPlan(view: View, spec: ViewSpec): ViewPlan {
  if (spec.resize === 'pad') {
    if (view.kind !== 'model') {
      throw invalidParameter(
        'views',
        `the identity and flip alone for a model that pads (resize 'pad': torchvision defines no crop or scale of a letterbox)`,
        viewName(view),
      );
    }
    return { kind: 'letterbox', mirror: view.flip };
  }
  const { width: W, height: H, cropFraction: f } = spec;
  const stretch = spec.resize === 'stretch';
  // the model's resize target: its size when it stretches, else the shorter side it resizes to
  const shorter = Math.floor(Math.min(H, W) / f);
  let resize: { width: number; height: number } | { shorter: number };
  if (view.kind === 'model') resize = stretch ? { width: W, height: H } : { shorter };
  else if (view.kind === 'scale') {
    resize = stretch ? { width: Math.floor(view.factor * W), height: Math.floor(view.factor * H) } : { shorter: Math.floor(view.factor * shorter) };
  } else {
    // FiveCrop after the resize: stretched to (H / f, W / f), or the model's own shorter side
    resize = stretch ? { width: Math.floor(W / f), height: Math.floor(H / f) } : { shorter };
    const fits = 'shorter' in resize ? resize.shorter >= Math.max(H, W) : resize.width >= W && resize.height >= H;
    if (!fits) throw invalidParameter('cropFraction', `a crop fraction that leaves room for a ${H}x${W} crop (at most 1)`, f);
  }
  if ('shorter' in resize ? resize.shorter < 1 : resize.width < 1 || resize.height < 1) {
    throw invalidParameter('views', `views that resize a ${H}x${W} model's input to at least 1 pixel`, viewName(view));
  }
  const at = view.kind === 'crop' ? view.at : 'center';
  const x: Anchor = at === 'tl' || at === 'bl' ? 'start' : at === 'tr' || at === 'br' ? 'end' : 'center';
  const y: Anchor = at === 'tl' || at === 'tr' ? 'start' : at === 'bl' || at === 'br' ? 'end' : 'center';
  // the crop of the mirrored image is the mirror of the crop at the mirrored anchor
  return { kind: 'window', resize, x: view.flip ? MIRRORED[x] : x, y, mirror: view.flip, crop: { width: W, height: H } };
}

/** Throws invalidParameter where a model cannot have the view: a crop or scale of a model that pads, a crop larger than its resize. */
export function checkView(view: View, spec: ViewSpec): void {
  viewPlan(view, spec);
}

/** A plan as text that is equal exactly where two plans give the same pixels for every image. */
function planKey(plan: ViewPlan): string {
  if (plan.kind === 'letterbox') return `letterbox ${plan.mirror}`;
  if ('shorter' in plan.resize) return `shorter ${plan.resize.shorter} ${plan.x} ${plan.y} ${plan.mirror}`;
  // a fixed size fixes the offsets too: stretched to the model's own size, every anchor is 0
  const { width, height } = plan.resize;
  return `${width}x${height} ${offset(plan.x, width, plan.crop.width)} ${offset(plan.y, height, plan.crop.height)} ${plan.mirror}`;
}

/** An anchor's offset on an axis of `size` pixels for a crop of `crop`. */
function offset(anchor: Anchor, size: number, crop: number): number {
  if (anchor === 'start') return 0;
  if (anchor === 'end') return size - crop;
  return anchor === 'center' ? centerOffset(size, crop) : size - crop - centerOffset(size, crop);
}

/**
 * Where one view's pixels lie in one upright image of width x height: the size torchvision resizes
 * it to, the window of that to take ([spec.height, spec.width]; outside the resized image it reads
 * zeros, CenterCrop's padding) and whether to mirror the window; or the model's letterbox
 * (decode.ts applyGeometry), mirrored or not.
 */
export function viewGeometry(
  view: View,
  spec: ViewSpec,
  width: number,
  height: number,
): { kind: 'window'; resized: { width: number; height: number }; window: Rect; mirror: boolean } | { kind: 'letterbox'; mirror: boolean } {
  const plan = viewPlan(view, spec);
  if (plan.kind === 'letterbox') return plan;
  const resized = 'shorter' in plan.resize ? resizeShorter(width, height, plan.resize.shorter) : plan.resize;
  const window = { left: offset(plan.x, resized.width, spec.width), top: offset(plan.y, resized.height, spec.height), width: spec.width, height: spec.height };
  return { kind: 'window', resized, window, mirror: plan.mirror };
}
