/**
 * Temperature scaling, conformal sets and OOD metrics against fixtures/conformal/make_expected.py,
 * an independent NumPy / SciPy / scikit-learn implementation written from the papers.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fitTemperature, temperedMean, temperedNll } from '../../src/calibration/temperature.js';
import { calibrateSets, setOf, type ConformalScore } from '../../src/conformal/sets.js';
import { energyScore, oodMetrics } from '../../src/ood/metrics.js';
import { ROOT } from '../helpers/cli.js';

interface Expected {
  classes: number;
  passes: number;
  logits: number[][];
  /** NumPy's MC means of the logits' passes: the sets are scored on the same numbers (a last-bit difference flips a label whose running sum sits on the threshold). */
  probs: number[][];
  labels: number[];
  u: number[];
  calibration: number[];
  test: number[];
  temperature: { temperature: number; nll_before: number; nll_after: number };
  conformal: {
    alpha: number;
    score: ConformalScore;
    randomized: boolean;
    lambda: number;
    k_reg: number;
    threshold: number | 'inf';
    per_class: (number | 'inf')[];
    sets: number[][];
    class_conditional_sets: number[][];
  }[];
  ood: {
    id_scores: number[];
    ood_scores: number[];
    auroc: number;
    aupr_in: number;
    aupr_out: number;
    fpr95: number;
    energy: number[];
    energy_logits: number[][];
  };
}
const E = JSON.parse(readFileSync(path.join(ROOT, 'fixtures', 'conformal', 'expected.json'), 'utf8')) as Expected;
const C = E.classes;
const images = E.logits.map((logits, i) => ({ logits, label: E.labels[i]! }));
const finite = (v: number | 'inf') => (v === 'inf' ? Infinity : v);

describe('calibration and conformal sets against NumPy / SciPy / scikit-learn', () => {
  it('temperature scaling: the same fitted temperature (1e-6) and NLL before and after (1e-9)', () => {
    const fit = fitTemperature(images, C);
    assert.ok(Math.abs(fit.temperature - E.temperature.temperature) < 1e-6, `${fit.temperature} vs ${E.temperature.temperature}`);
    assert.ok(Math.abs(fit.nllBefore - E.temperature.nll_before) < 1e-9);
    assert.ok(Math.abs(fit.nllAfter - E.temperature.nll_after) < 1e-9);
    assert.ok(fit.nllAfter < fit.nllBefore);
    assert.equal(temperedNll(images, C, 1), fit.nllBefore);
    // the tempered mean at 1 is NumPy's MC mean to rounding
    E.probs.forEach((p, i) => temperedMean(E.logits[i]!, C, 1).forEach((v, c) => assert.ok(Math.abs(v - p[c]!) < 1e-15)));
  });

  for (const entry of E.conformal) {
    it(`${entry.score}${entry.randomized ? '' : ' (not randomised)'} at alpha ${entry.alpha}: the same thresholds and every set, marginal and class-conditional`, () => {
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

  it('OOD metrics: AUROC, AUPR-In, AUPR-Out and FPR at 95% TPR as scikit-learn gives them (1e-12), ties included; energy', () => {
    const got = oodMetrics(E.ood.id_scores, E.ood.ood_scores);
    for (const [key, want] of [
      ['auroc', E.ood.auroc],
      ['auprIn', E.ood.aupr_in],
      ['auprOut', E.ood.aupr_out],
      ['fpr95', E.ood.fpr95],
    ] as const) {
      assert.ok(Math.abs(got[key] - want) < 1e-12, `${key}: ${got[key]} vs ${want}`);
    }
    E.ood.energy_logits.forEach((z, i) => assert.ok(Math.abs(energyScore(z) - E.ood.energy[i]!) < 1e-12));
  });
});
