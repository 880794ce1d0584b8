import { constants } from 'node:buffer';
import { createHash } from 'node:crypto';
import { param, UsageError } from '../errors.js';
import { readInputBytes } from './read-file.js';
import { array, contentSha256, readJsonFile, string } from './schema.js';
import { moveInto, openForWrite, syncAndClose, writeAll, writeJsonAtomic, digestOf } from './durable.js';
import { passesSidecars } from './sidecars.js';
import { refuseRepeatedPaths } from './targets.js';

/**
 * Per-pass probabilities as a NumPy .npy file: float32, shape (images, T, classes), C order, written
 * row by row to `<file>.partial` and renamed when complete; `<file>.paths.json` beside it lists the
 * image of each row. Missing values (an error row, or passes an adaptive run did not need) are NaN.
 * numpy.load(file) reads it; no custom code needed.
 */
export class NpyPassesWriter {
  private readonly fd: number;
  private readonly row: Float32Array;
  private readonly paths: string[] = [];

  private constructor(
    readonly file: string,
    readonly images: number,
    readonly passes: number,
    readonly classes: number,
  ) {
    this.fd = openForWrite(passesSidecars(file).partial, 'w');
    this.row = new Float32Array(passes * classes);
    writeAll(this.fd, npyHeader([images, passes, classes]), passesSidecars(file).partial);
  }

  static open(file: string, images: number, passes: number, classes: number): NpyPassesWriter {
    return new NpyPassesWriter(file, images, passes, classes);
  }

  /** Appends one image: probs [T_i, C] (T_i <= T), or undefined for an error row. */
  write(path: string, probs: Float64Array | undefined): void {
    this.row.fill(NaN);
    if (probs) this.row.set(probs.subarray(0, this.row.length));
    writeAll(this.fd, new Uint8Array(this.row.buffer), passesSidecars(this.file).partial);
    this.paths.push(path);
  }

  /**
   * Completes the file when every image was written; else it stays a .partial. `run` (what made the
   * passes: model digest, labels, preprocessing, T, seed) goes to `<file>.run.json`, so calibrate
   * and evaluate can read the passes back for the model they came from.
   */
  finish(run?: PassesRun): void {
    const files = passesSidecars(this.file);
    syncAndClose(this.fd, files.partial);
    if (this.paths.length !== this.images) return;
    writeJsonAtomic(files.paths, this.paths);
    if (run) {
      // the digests of the passes and their paths, and of the record itself: calibrate, evaluate and
      // select refuse a passes file, paths file or record changed after the run
      const record = { ...run, npy_sha256: digestOf(files.partial).sha256, paths_sha256: digestOf(files.paths).sha256 };
      writeJsonAtomic(files.run, { ...record, sha256: contentSha256(record) });
    }
    moveInto(files.partial, this.file);
  }
}

/** A whole little-endian float32 .npy file of `data` with `shape` (C order), as numpy.load reads it. */
export function npyFloat32(data: Float32Array, shape: readonly number[]): Buffer {
  return Buffer.concat([npyHeader([...shape]), new Uint8Array(data.buffer, data.byteOffset, data.byteLength)]);
}

/** The .npy 1.0 header of a little-endian float32 array: magic, version, length, a Python dict literal padded to 64 bytes. */
function npyHeader(shape: number[]): Uint8Array {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = 10 + dict.length + 1;
  const text = `${dict}${' '.repeat((64 - (unpadded % 64)) % 64)}\n`;
  const out = new Uint8Array(10 + text.length);
  out.set([0x93, ...Buffer.from('NUMPY', 'latin1'), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, text.length, true);
  out.set(Buffer.from(text, 'latin1'), 10);
  return out;
}

/** What made a passes file, as `<file>.run.json` records it. */
export interface PassesRun {
  model_sha256: string;
  classes: number;
  labels: string[];
  /** The resolved preprocessing (PreprocessSpec; run/read-run.ts reads it back typed). */
  preprocess: Record<string, unknown>;
  /** T, or 'auto' for adaptive T (then images have different numbers of passes). */
  passes: number | 'auto';
  seed: number;
  /** The drop rate of each random-mask site. */
  dropout_rates: number[];
}

/** A passes file read back: float64 values of a (images, T, classes) array and the image of each row. */
export interface SavedPasses {
  shape: [number, number, number];
  data: Float64Array;
  paths: string[];
  /** SHA-256 of the .npy's bytes as read (its record's `npy_sha256` is checked against it). */
  sha256: string;
}

/**
 * Reads a `--save-passes` file (or any C-order little-endian float32/float64 .npy of shape
 * (images, T, classes)) with `<file>.paths.json` beside it.
 */
export function readNpyPasses(file: string): SavedPasses {
  const fail = (why: string): never => {
    throw new UsageError(
      `${file} is not a passes file a predict run saved (${why}); give the .npy that ${param('savePasses')} wrote, with its .paths.json beside it`,
    );
  };
  const role = { what: 'the passes', expected: `give the .npy that ${param('savePasses')} wrote, with its .paths.json beside it` };
  const bytes = readInputBytes(file, role, constants.MAX_LENGTH);
  const paths = readJsonFile(passesSidecars(file).paths, { ...role, what: "the passes' paths" }, array(string()));
  if (bytes.length < 10 || bytes[0] !== 0x93 || bytes.subarray(1, 6).toString('latin1') !== 'NUMPY') fail('no NumPy magic');
  const major = bytes[6]!;
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = bytes.subarray(start, start + headerLength).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shape = /'shape':\s*\(([^)]*)\)/
    .exec(header)?.[1]
    ?.split(',')
    .map((d) => d.trim())
    .filter(Boolean)
    .map(Number);
  if (/'fortran_order':\s*True/.test(header)) fail('Fortran order');
  if (descr !== '<f4' && descr !== '<f8') fail(`dtype ${descr ?? 'unknown'}, expected float32 or float64`);
  if (!shape || shape.length !== 3) fail('expected 3 dimensions: images, passes, classes');
  const [images, passes, classes] = shape as [number, number, number];
  const count = images * passes * classes;
  const body = bytes.subarray(start + headerLength);
  const width = descr === '<f4' ? 4 : 8;
  if (body.length < count * width) fail('shorter than its shape');
  if (body.length > count * width) fail('longer than its shape');
  if (paths.length !== images) fail(`${file}.paths.json lists ${paths.length} paths for ${images} images`);
  refuseRepeatedPaths(paths, `${file}.paths.json`);
  const aligned = new Uint8Array(count * width);
  aligned.set(body.subarray(0, count * width));
  const data = width === 4 ? Float64Array.from(new Float32Array(aligned.buffer)) : new Float64Array(aligned.buffer);
  const bad = firstBadPass(data, classes);
  if (bad !== undefined)
    fail(
      `pass ${bad % passes} of image ${Math.floor(bad / passes)} is not a probability distribution (each value in [0, 1], summing to 1; NaN for a whole missing pass)`,
    );
  return { shape: [images, passes, classes], data, paths, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** The first pass (row of `classes` values) that is neither all NaN (missing) nor probabilities summing to 1 (to float32 rounding); undefined when all are. */
function firstBadPass(data: Float64Array, classes: number): number | undefined {
  for (let row = 0; row * classes < data.length; row++) {
    let sum = 0;
    let missing = 0;
    for (let c = row * classes; c < (row + 1) * classes; c++) {
      const p = data[c]!;
      if (Number.isNaN(p)) missing++;
      else if (p >= 0 && p <= 1) sum += p;
      else return row;
    }
    if (missing === classes) continue;
    // a softmax in float32 (or a model's own float16 one) adds up to 1 within far less than 1e-2;
    // the bound is for garbage, not rounding
    if (missing > 0 || Math.abs(sum - 1) > 1e-2) return row;
  }
  return undefined;
}

/**
 * Each image's passes [T_i, C] from a passes file: the leading passes that are numbers (an
 * adaptive run leaves NaN after an image's last pass; an error row is all NaN, so empty).
 */
export function imagePasses(saved: SavedPasses): Float64Array[] {
  const [images, passes, classes] = saved.shape;
  return Array.from({ length: images }, (_, i) => {
    const probs = saved.data.subarray(i * passes * classes, (i + 1) * passes * classes);
    let used = 0;
    while (used < passes && Number.isFinite(probs[used * classes]!)) used++;
    return probs.subarray(0, used * classes);
  });
}
