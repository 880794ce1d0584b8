/** Reading the .npy files predict --save-passes writes, for the tests. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

/** A minimal .npy reader for the test: version 1.0, '<f4', C order. */
export function readNpy(file: string): { shape: number[]; data: Float32Array } {
  const bytes = readFileSync(file);
  assert.equal(bytes.toString('latin1', 0, 6), '\x93NUMPY');
  const length = bytes.readUInt16LE(8);
  const header = bytes.toString('latin1', 10, 10 + length);
  assert.equal((10 + length) % 64, 0, 'the data starts on a 64-byte boundary');
  assert.match(header, /'descr': '<f4', 'fortran_order': False/);
  const shape = /'shape': \(([\d, ]+)\)/
    .exec(header)![1]!
    .split(',')
    .map((d) => Number(d.trim()))
    .filter((d) => d > 0);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 10 + length, bytes.byteOffset + bytes.length));
  return { shape, data };
}
