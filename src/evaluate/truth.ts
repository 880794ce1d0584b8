/**
 * Ground truth: the true class of each image, from a CSV (`path,label`) or from torchvision's
 * ImageFolder layout (one folder per class), matched to the model's labels.
 */
import { readInputText } from '../io/read-file.js';
import { fileIdentity } from '../io/targets.js';
import path from 'node:path';
import { parse } from '../io/csv.js';
import { param, UsageError } from '../errors.js';

/** Where the true classes come from. */
export type TruthSource =
  /** A CSV of path and label (name or index); paths relative to the CSV's folder or the working directory. */
  | { kind: 'csv'; file: string }
  /** The folder directly below an input folder names the class (torchvision ImageFolder); else the parent folder. */
  | { kind: 'folders'; roots: readonly string[] };

/** Class index of each image that has one (absolute paths). */
export type Truth = Map<string, number>;

/** Lower case, letters and digits only: `t-shirt-top` and `T-shirt/top` are one name. */
function normalized(name: string): string {
  return name.toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');
}

/**
 * The class index a name or index stands for: an exact label, else the one label equal to it once
 * case and punctuation are dropped, else an integer index. undefined when none.
 */
export function classIndexOf(value: string, labels: readonly string[]): number | undefined {
  const exact = labels.flatMap((l, i) => (l === value ? [i] : []));
  if (exact.length > 1)
    throw new UsageError(
      `${JSON.stringify(value)} names classes ${exact.join(' and ')} of the model, so it cannot tell which is meant; give the true classes as class indices in a CSV with ${param('truthFile')}`,
    );
  if (exact.length === 1) return exact[0];
  const loose = labels.flatMap((l, i) => (normalized(l) === normalized(value) && normalized(value) !== '' ? [i] : []));
  if (loose.length === 1) return loose[0];
  if (/^\d+$/.test(value.trim()) && Number(value) < labels.length) return Number(value);
  return undefined;
}

function labelList(labels: readonly string[]): string {
  return labels.length <= 12 ? labels.join(', ') : `${labels.slice(0, 12).join(', ')}, ... (${labels.length} in all)`;
}

/** The true classes of `files` (absolute or relative to the working directory) from a source. */
export function readTruth(source: TruthSource, files: readonly string[], labels: readonly string[]): Truth {
  return source.kind === 'csv' ? truthFromCsv(source.file, files, labels) : truthFromFolders(source.roots, files, labels);
}

/** One image's key in a truth CSV: its file (a link and the file it names are one image), else its absolute path. */
function fileKey(absolute: string): string {
  return fileIdentity(absolute) ?? absolute;
}

function truthFromCsv(file: string, files: readonly string[], labels: readonly string[]): Truth {
  // a byte-order mark (what spreadsheet programs write) is dropped by the read, so the header is seen
  const text = readInputText(file, { what: 'the ground truth', expected: 'give a CSV of path,label' });
  let records: string[][];
  try {
    records = parse(text, { skip_empty_lines: true, trim: true, relax_column_count: true });
  } catch (error) {
    throw new UsageError(`Cannot read the ground truth ${file} (${error instanceof Error ? error.message : String(error)}); give a CSV of path,label`, {
      cause: error,
    });
  }
  let pathColumn = 0;
  let labelColumn = 1;
  let first = 0;
  const header = records[0]?.map((h) => h.toLowerCase());
  if (header && ['path', 'file', 'image'].some((h) => header.includes(h))) {
    pathColumn = header.findIndex((h) => ['path', 'file', 'image'].includes(h));
    labelColumn = header.findIndex((h) => ['label', 'class', 'class_index', 'target'].includes(h));
    if (labelColumn < 0) throw new UsageError(`The ground truth ${file} has no label column: name it label (a class name) or class_index`);
    first = 1;
  }
  // a path is read relative to the CSV's folder first, then to the working directory
  const byFolder = new Map<string, { index: number; line: number }>();
  const byCwd = new Map<string, { index: number; line: number }>();
  const put = (map: Map<string, { index: number; line: number }>, key: string, entry: { index: number; line: number }, where: string) => {
    const earlier = map.get(key);
    if (earlier && earlier.index !== entry.index)
      throw new UsageError(
        `${file} gives ${JSON.stringify(where)} two true classes: ${JSON.stringify(labels[earlier.index])} on line ${earlier.line} and ${JSON.stringify(labels[entry.index])} on line ${entry.line}; keep one`,
      );
    map.set(key, entry);
  };
  const folder = path.dirname(path.resolve(file));
  for (let r = first; r < records.length; r++) {
    const record = records[r]!;
    const [where, value] = [record[pathColumn], record[labelColumn]];
    if (where === undefined || value === undefined || where === '') throw new UsageError(`${file} line ${r + 1}: expected path,label`);
    const index = classIndexOf(value, labels);
    if (index === undefined)
      throw new UsageError(
        `${file} line ${r + 1}: ${JSON.stringify(value)} is neither a label of the model nor a class index below ${labels.length}; its labels are ${labelList(labels)} (give ${param('labelsFile')} if they are not the names you use)`,
      );
    put(byFolder, fileKey(path.resolve(folder, where)), { index, line: r + 1 }, where);
    put(byCwd, fileKey(path.resolve(where)), { index, line: r + 1 }, where);
  }
  const truth: Truth = new Map();
  for (const f of files) {
    const absolute = path.resolve(f);
    const key = fileKey(absolute);
    const entry = byFolder.get(key) ?? byCwd.get(key);
    if (entry !== undefined) truth.set(absolute, entry.index);
  }
  return truth;
}

function truthFromFolders(roots: readonly string[], files: readonly string[], labels: readonly string[]): Truth {
  const absoluteRoots = roots.map((r) => path.resolve(r));
  const truth: Truth = new Map();
  const unknown = new Map<string, number>();
  for (const f of files) {
    const absolute = path.resolve(f);
    const root = absoluteRoots.find((r) => absolute.startsWith(r + path.sep));
    // an image directly in an input folder has no class folder
    if (root && !path.relative(root, absolute).includes(path.sep)) continue;
    const folder = root ? path.relative(root, absolute).split(path.sep)[0]! : path.basename(path.dirname(absolute));
    const index = classIndexOf(folder, labels);
    if (index === undefined) unknown.set(folder, (unknown.get(folder) ?? 0) + 1);
    else truth.set(absolute, index);
  }
  // a folder that is not a class is a mistake only in a class-per-folder layout (some folder matched)
  if (unknown.size > 0 && truth.size > 0) {
    const [name, count] = [...unknown][0]!;
    throw new UsageError(
      `The folder ${JSON.stringify(name)} (${count} images) is not a class of the model: its labels are ${labelList(labels)}. Rename the folder, give ${param('labelsFile')} with your class names, or give the classes in a CSV with ${param('truthFile')}`,
    );
  }
  return truth;
}
