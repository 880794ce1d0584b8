/** The views a run's members see: the identity alone, or a test-time augmentation list read for every member's geometry. */
import { invalidParameter, UsageError } from '../errors.js';
import { IDENTITY_VIEW, parseViews, viewGeometry, viewName, type View } from '../preprocess/views.js';
import type { Members } from './members.js';

/**
 * The identity alone without `text`; else the views of `text` (preprocess/views.ts parseViews) for
 * every member's geometry, so a view that is another for every member is dropped. The 'fast' resize
 * engine gives the identity only: other views are PIL-exact. `warn` hears of a list that adds no view.
 */
export function runViews(text: string | undefined, members: Members, warn: (message: string) => void): readonly View[] {
  if (text === undefined) return [IDENTITY_VIEW];
  const specs = members.list.map((m) => m.preprocess);
  const views = parseViewsNamingMember(text, members);
  if (views.length > 1 && specs.some((s) => s.resizeEngine === 'fast'))
    throw invalidParameter('resizeEngine', "'exact' with test-time views (each view is resampled PIL-exact)", 'fast');
  for (const view of views)
    for (const spec of specs) {
      // the smallest resize a view makes is of a square image: above the pixel limit, every image's is
      const geometry = viewGeometry(view, spec, 1, 1);
      const pixels = geometry.kind === 'window' ? geometry.resized.width * geometry.resized.height : 0;
      if (pixels > spec.pixelLimit)
        throw invalidParameter(
          'cropFraction',
          `a crop fraction whose resize stays under the pixel limit (the view ${viewName(view)} would resize every image to at least ${geometry.kind === 'window' ? `${geometry.resized.width}x${geometry.resized.height}` : ''} pixels, above ${spec.pixelLimit})`,
          spec.cropFraction,
        );
    }
  if (views.length === 1)
    warn(
      `--tta ${text} adds no view to the model's own preprocessing for ${members.single ? 'this model' : 'these members'}: the run has the identity view only`,
    );
  return views;
}

/** parseViews for every member's geometry; a list one member cannot have (crops of a model that pads) names that member. */
function parseViewsNamingMember(text: string, members: Members): View[] {
  try {
    return parseViews(
      text,
      members.list.map((m) => m.preprocess),
    );
  } catch (error) {
    if (members.single || !(error instanceof UsageError)) throw error;
    const member = members.asGiven.find((m) => {
      try {
        parseViews(text, [m.preprocess]);
        return false;
      } catch {
        return true;
      }
    });
    if (!member) throw error;
    throw new UsageError(`The member ${member.path}: ${error.message}`, { cause: error });
  }
}

/** What messages call a run of `model` (a file, or the ensemble) on `views`. */
export function runName(model: string, views: readonly View[]): string {
  return views.length > 1 ? `${model} with the views ${views.slice(1).map(viewName).join(', ')}` : model;
}

/** The views' names, as records write them. */
export function viewNames(views: readonly View[]): string[] {
  return views.map(viewName);
}
