/** OOD metrics against fixtures/conformal/make_expected.py, an independent scikit-learn implementation. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { energyScore, oodMetrics } from '../../src/ood/metrics.js';
import { E } from '../helpers/conformal-expected.js';

describe('OOD metrics against scikit-learn', () => {
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
