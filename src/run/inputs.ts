/** The images a run reads: paths given, plus a list file's, walked in one order (the one input gatherer of predict and evaluate). */
import { UsageError } from '../errors.js';
import { readPathList } from '../io/lines.js';
import { collectInputs, IMAGE_EXTENSIONS, type WalkResult } from '../io/walk.js';

/**
 * Walks `paths` and the paths of `list` (one per line, or NUL-separated) into image files, refusing
 * any that is one of the run's `outputs` (file identities to names). An image named twice (or
 * under two names: a link, `./a.png` and `a.png`) is read once, with a warning. No input at all is
 * a UsageError; so is no image, unless `allowEmpty`.
 */
export async function gatherInputs(
  paths: readonly string[],
  list: { file: string; separator: 'lines' | 'nul' } | undefined,
  outputs: ReadonlyMap<string, string> | undefined,
  options: { allowEmpty?: boolean; warn?: (message: string) => void } = {},
): Promise<{ inputs: string[]; walked: WalkResult }> {
  const listed = list ? readPathList(list.file, list.separator) : [];
  const inputs = [...paths, ...listed];
  if (inputs.length === 0) throw new UsageError('No input: pass image files or folders, or a list of paths');
  const walked = await collectInputs(inputs, outputs);
  const { duplicates } = walked;
  if (duplicates.length > 0) {
    const shown = duplicates
      .slice(0, 3)
      .map((d) => `${d.file} is ${d.first}`)
      .join('; ');
    options.warn?.(
      `${duplicates.length} input${duplicates.length > 1 ? 's name' : ' names'} an image already given (${shown}${duplicates.length > 3 ? '; ...' : ''}): each image is read once, under its first name`,
    );
  }
  if (walked.files.length === 0 && !options.allowEmpty) {
    const skipped = walked.skipped.length;
    throw new UsageError(
      `No input images in ${inputs.join(', ')}${skipped ? ` (${skipped} files without an image extension)` : ''}; image extensions are ${IMAGE_EXTENSIONS.join(' ')}`,
    );
  }
  return { inputs, walked };
}
