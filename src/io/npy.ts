import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { writeJsonAtomic } from './sink.js';

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

  private constructor(readonly file: string, readonly images: number, readonly passes: number, readonly classes: number) {
    this.fd = openSync(`${file}.partial`, 'w');
    this.row = new Float32Array(passes * classes);
    writeSync(this.fd, npyHeader([images, passes, classes]));
  }

  static open(file: string, images: number, passes: number, classes: number): NpyPassesWriter {
    return new NpyPassesWriter(file, images, passes, classes);
  }

  /** Appends one image: probs [T_i, C] (T_i <= T), or undefined for an error row. */
  write(path: string, probs: Float64Array | undefined): void {
    this.row.fill(NaN);
    if (probs) this.row.set(probs.subarray(0, this.row.length));
    writeSync(this.fd, new Uint8Array(this.row.buffer));
    this.paths.push(path);
  }

  /** Completes the file when every image was written; else it stays a .partial. */
  finish(): void {
    fsyncSync(this.fd);
    closeSync(this.fd);
    if (this.paths.length !== this.images) return;
    writeJsonAtomic(`${this.file}.paths.json`, this.paths);
    renameSync(`${this.file}.partial`, this.file);
  }
}

/** The .npy 1.0 header of a little-endian float32 array: magic, version, length, a Python dict literal padded to 64 bytes. */
export function npyHeader(shape: number[]): Uint8Array {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = 10 + dict.length + 1;
  const text = `${dict}${' '.repeat((64 - (unpadded % 64)) % 64)}\n`;
  const out = new Uint8Array(10 + text.length);
  out.set([0x93, ...Buffer.from('NUMPY', 'latin1'), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, text.length, true);
  out.set(Buffer.from(text, 'latin1'), 10);
  return out;
}
