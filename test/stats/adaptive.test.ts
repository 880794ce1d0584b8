import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkAdaptive, DEFAULT_ADAPTIVE_RULE } from '../../src/stats/adaptive.js';

const rule = { minPasses: 4, maxPasses: 16, tolerance: 0.05, z: 3 };
const repeat = (row: number[], n: number) => Array.from({ length: n }, () => row).flat();

describe('checkAdaptive', () => {
  it('passes that all agree settle at once, but never before minPasses', () => {
    assert.equal(checkAdaptive(repeat([0.9, 0.1], 2), 2, rule).done, false);
    const check = checkAdaptive(repeat([0.9, 0.1], 4), 2, rule);
    assert.deepEqual(check, { done: true, topSettled: true, probabilityError: 0, entropyError: 0 });
  });

  it('an exact tie between two classes never settles: it runs to maxPasses', () => {
    const tie = repeat([0.5, 0.5], 15);
    assert.equal(checkAdaptive(tie, 2, rule).topSettled, false);
    assert.equal(checkAdaptive(tie, 2, rule).done, false);
    assert.equal(checkAdaptive(repeat([0.5, 0.5], 16), 2, rule).done, true);
  });

  it('works the gap and the standard errors out as the README states (two classes, by hand)', () => {
    // passes p_a = 0.8, 0.6, 0.8, 0.6: mean 0.7, gap 0.4; gaps per pass 0.6, 0.2, ...: sd 0.2, SE 0.1
    const probs = [0.8, 0.2, 0.6, 0.4, 0.8, 0.2, 0.6, 0.4];
    const check = checkAdaptive(probs, 2, rule);
    assert.ok(Math.abs(check.probabilityError - 0.05) < 1e-12, `${check.probabilityError}`);
    // gap 0.4 > 3 x 0.1: settled; entropy SE: w = -(ln m + 1), sd of w_a p_a + w_b p_b over passes / 2
    assert.equal(check.topSettled, true);
    const w = [-(Math.log(0.7) + 1), -(Math.log(0.3) + 1)];
    const terms = [0.8, 0.6, 0.8, 0.6].map((p) => w[0]! * p + w[1]! * (1 - p));
    const m = terms.reduce((a, b) => a + b, 0) / 4;
    const sd = Math.sqrt(terms.reduce((a, b) => a + (b - m) ** 2, 0) / 4);
    assert.ok(Math.abs(check.entropyError - sd / 2) < 1e-12);
    // probability SE 0.05 <= 0.05 but the entropy SE (0.085) is not: more passes
    assert.equal(check.done, false);
    assert.equal(checkAdaptive(probs, 2, { ...rule, tolerance: 0.09 }).done, true);
  });

  it('defaults: 8 to 128 passes, standard errors of 0.06, a gap of 3 standard errors', () => {
    assert.deepEqual(DEFAULT_ADAPTIVE_RULE, { minPasses: 8, maxPasses: 128, tolerance: 0.06, z: 3 });
  });
});
