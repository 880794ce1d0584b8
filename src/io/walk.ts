import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';

/** Extensions sharp decodes that we pick up when walking folders (case-insensitive). */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.avif', '.tif', '.tiff', '.gif'];

export interface WalkResult {
  /** Files in input order, each path as the user can open it. */
  files: string[];
  /** Files inside folders skipped because their extension is not an image's. */
  skipped: string[];
}

export function isImageFile(file: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(file).toLowerCase());
}

/**
 * Expands files and folders. Folders: recursive, sorted by relative path, hidden entries skipped,
 * symlinks followed but every real folder visited once (no loops), non-image files skipped.
 * Files named directly are kept whatever their extension (they fail later if not images).
 */
export async function collectInputs(inputs: string[]): Promise<WalkResult> {
  const files: string[] = [];
  const skipped: string[] = [];
  for (const input of inputs) {
    let info;
    try {
      info = await stat(input);
    } catch {
      throw new UsageError(`Input ${input} does not exist; pass image files or folders`);
    }
    if (info.isDirectory()) {
      const visited = new Set<string>();
      await walkFolder(input, visited, files, skipped);
    } else {
      files.push(input);
    }
  }
  return { files, skipped };
}

async function walkFolder(folder: string, visited: Set<string>, files: string[], skipped: string[]): Promise<void> {
  const real = await realpath(folder);
  if (visited.has(real)) return;
  visited.add(real);
  const entries = (await readdir(folder)).filter((name) => !name.startsWith('.'));
  entries.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const name of entries) {
    const full = path.join(folder, name);
    let info;
    try {
      info = await stat(full); // follows symlinks
    } catch {
      skipped.push(full); // dangling link or a loop the OS refuses (ELOOP)
      continue;
    }
    if (info.isDirectory()) await walkFolder(full, visited, files, skipped);
    else if (info.isFile() && isImageFile(name)) files.push(full);
    else skipped.push(full);
  }
}
