/**
 * Where each image's maps go in the maps folder: its path below the input folder it was found in
 * (a file given by itself: its name), without its extension, so the folder mirrors the inputs.
 */
import path from 'node:path';
import { UsageError } from '../../errors.js';

/**
 * Each file's stem (relative, '/'-separated, no extension), in the order of `files`. `inputs` are
 * the paths the user gave (folders and files). Two images with one stem (a.png and a.jpg in one
 * folder, or the same relative path under two input folders) are refused before any work.
 */
export function mapStems(files: readonly string[], inputs: readonly string[]): string[] {
  const folders = inputs.map((i) => path.resolve(i)).sort((a, b) => b.length - a.length);
  const byStem = new Map<string, string>();
  return files.map((file) => {
    const absolute = path.resolve(file);
    const root = folders.find((folder) => absolute.startsWith(folder + path.sep));
    const relative = root ? path.relative(root, absolute) : path.basename(absolute);
    const stem = relative
      .slice(0, relative.length - path.extname(relative).length)
      .split(path.sep)
      .join('/');
    const earlier = byStem.get(stem);
    if (earlier !== undefined)
      throw new UsageError(
        `${earlier} and ${file} would write the same maps (${stem}.*): the maps folder mirrors the inputs' paths without their extensions; rename one, or run them separately`,
      );
    byStem.set(stem, file);
    return stem;
  });
}
