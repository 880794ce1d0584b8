/** The report's OOD curves, worked by hand. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rocPoints, scoreHistogram } from '../../src/ood/evaluation.js';

describe('OOD curves, worked by hand', () => {
  it('ROC: one point per distinct threshold from the highest down, ties as one step, from (0, 0) to (1, 1)', () => {
    // OOD (positive) 3, 2, 2; ID 2, 1: thresholds 3, 2 (one OOD tie with one ID), 1
    assert.deepEqual(rocPoints([2, 1], [3, 2, 2]), [
      [0, 0],
      [0, 1 / 3],
      [0.5, 1],
      [1, 1],
    ]);
  });

  it('ROC: thinned to points + 1 points, the ends kept', () => {
    const id = Array.from({ length: 50 }, (_, i) => i);
    const ood = Array.from({ length: 50 }, (_, i) => i + 0.5);
    const curve = rocPoints(id, ood, 10);
    assert.equal(curve.length, 11);
    assert.deepEqual(curve[0], [0, 0]);
    assert.deepEqual(curve[10], [1, 1]);
  });

  it('histogram: equal-width bins over both sets, the maximum in the last bin, shares summing to 1', () => {
    const h = scoreHistogram([0, 1, 1, 3], [2, 4], 4);
    assert.deepEqual(h.edges, [0, 1, 2, 3, 4]);
    assert.deepEqual(h.id, [0.25, 0.5, 0, 0.25]);
    assert.deepEqual(h.ood, [0, 0, 0.5, 0.5]);
  });

  it('histogram: every score equal gives one full bin, not a division by zero', () => {
    const h = scoreHistogram([2, 2], [2], 3);
    assert.deepEqual(h.id, [1, 0, 0]);
    assert.deepEqual(h.ood, [1, 0, 0]);
  });
});
