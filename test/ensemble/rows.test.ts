/** passMajorRows and its inverse: the row of (pass t, member m, view v) written out by hand. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { passMajorRows, splitPassMajorRows } from '../../src/ensemble/rows.js';

describe('passMajorRows', () => {
  it('puts pass t of member m on view v at row (t x M + m) x V + v, and repeats a one-pass member for every t', () => {
    // 2 members x 2 views, T = 2, 1 class (the value names the entry: 100m + 10v + t)
    const stochastic = [Float64Array.of(0, 1), Float64Array.of(10, 11)];
    const plain = [Float64Array.of(100), Float64Array.of(110)];
    const rows = passMajorRows([stochastic, plain], 2, 1);
    assert.deepEqual([...rows], [0, 10, 100, 110, 1, 11, 100, 110]);
  });

  it('the first t x M x V rows are the first t passes of every member and view', () => {
    const a = [Float64Array.of(0.1, 0.9, 0.2, 0.8, 0.3, 0.7)];
    const b = [Float64Array.of(0.6, 0.4, 0.5, 0.5, 0.4, 0.6)];
    const rows = passMajorRows([a, b], 3, 2);
    assert.deepEqual([...rows.subarray(0, 4)], [0.1, 0.9, 0.6, 0.4]);
  });

  it('splitPassMajorRows undoes it (a one-pass member comes back repeated T times)', () => {
    const a = [Float64Array.of(0.1, 0.9, 0.2, 0.8), Float64Array.of(0.3, 0.7, 0.4, 0.6)];
    const b = [Float64Array.of(0.5, 0.5), Float64Array.of(0.6, 0.4)];
    const back = splitPassMajorRows(passMajorRows([a, b], 2, 2), 2, 2, 2, 2);
    assert.deepEqual(
      back[0]!.map((v) => [...v]),
      a.map((v) => [...v]),
    );
    assert.deepEqual(
      back[1]!.map((v) => [...v]),
      [
        [0.5, 0.5, 0.5, 0.5],
        [0.6, 0.4, 0.6, 0.4],
      ],
    );
  });
});
