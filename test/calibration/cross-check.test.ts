/** Temperature scaling against fixtures/conformal/make_expected.py, an independent NumPy / SciPy implementation. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fitTemperature, temperedMean, temperedNll } from '../../src/calibration/temperature.js';
import { C, E, images } from '../helpers/conformal-expected.js';

describe('temperature scaling against NumPy / SciPy', () => {
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
});
