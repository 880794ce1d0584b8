/** The views a run's members see: the identity alone, or a test-time augmentation list read for every member's geometry. */
import { invalidParameter } from '../errors.js';
import { IDENTITY_VIEW, parseViews, viewName, type View } from '../preprocess/views.js';
import type { Members } from './members.js';

/**
 * The identity alone without `text`; else the views of `text` (preprocess/views.ts parseViews) for
 * every member's geometry, so a view that is another for every member is dropped. The 'fast' resize
 * engine gives the identity only: other views are PIL-exact. `warn` hears of a list that adds no view.
 */
export function runViews(text: string | undefined, members: Members, warn: (message: string) => void): readonly View[] {
  if (text === undefined) return [IDENTITY_VIEW];
  const specs = members.list.map((m) => m.preprocess);
  const views = parseViews(text, specs);
  if (views.length > 1 && specs.some((s) => s.resizeEngine === 'fast'))
    throw invalidParameter('resizeEngine', "'exact' with test-time views (each view is resampled PIL-exact)", 'fast');
  if (views.length === 1) warn(`the views ${text} are the model's own preprocessing for ${members.single ? 'this model' : 'these members'}: no view is added`);
  return views;
}

/** The views' names, as records write them. */
export function viewNames(views: readonly View[]): string[] {
  return views.map(viewName);
}
