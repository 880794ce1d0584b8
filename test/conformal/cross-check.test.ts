/** Conformal sets against fixtures/conformal/make_expected.py, an independent NumPy implementation written from the papers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calibrateSets, setOf } from '../../src/conformal/sets.js';
import { C, E, finite } from '../helpers/conformal-expected.js';

describe('conformal sets against NumPy', () => {
  for (const entry of E.conformal) {
    it(`${entry.score}${entry.randomized ? '' : ' (not randomized)'} at alpha ${entry.alpha}: the same thresholds and every set, marginal and class-conditional`, () => {
      const probs = (i: number) => E.probs[i]!;
      const options = { score: entry.score, lambda: entry.lambda, kReg: entry.k_reg, randomized: entry.randomized };
      const thresholds = calibrateSets(
        E.calibration.map((i) => ({ probs: probs(i), label: E.labels[i]!, u: E.u[i]! })),
        C,
        entry.alpha,
        options,
      );
      const close = (a: number, b: number) => a === b || Math.abs(a - b) < 1e-12;
      assert.ok(close(thresholds.threshold, finite(entry.threshold)), `${thresholds.threshold} vs ${entry.threshold}`);
      thresholds.perClass.forEach((t, c) => assert.ok(close(t, finite(entry.per_class[c]!)), `class ${c}: ${t} vs ${entry.per_class[c]}`));
      assert.deepEqual(
        E.test.map((i) => setOf(probs(i), E.u[i]!, thresholds)),
        entry.sets,
      );
      assert.deepEqual(
        E.test.map((i) => setOf(probs(i), E.u[i]!, thresholds, true)),
        entry.class_conditional_sets,
      );
    });
  }
});
