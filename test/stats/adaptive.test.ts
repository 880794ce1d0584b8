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

  it('works the gap and the standard errors out as docs/predict.md states (two classes, by hand)', () => {
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
    // by hand: w_a - w_b = ln(0.3 / 0.7) = -0.8473, so the entropy SE is 0.8473 x sd(p_a) 0.1 / 2 = 0.0424
    assert.ok(Math.abs(check.entropyError - (Math.log(0.7 / 0.3) * 0.1) / 2) < 1e-12, `${check.entropyError}`);
    // both standard errors within 0.06: done; within neither at 0.04: more passes
    assert.equal(checkAdaptive(probs, 2, { ...rule, tolerance: 0.06 }).done, true);
    assert.equal(checkAdaptive(probs, 2, { ...rule, tolerance: 0.04 }).done, false);
  });

  it('a top-1 gap of 2.83 standard errors: settled at z = 2, not at z = 3 (by hand)', () => {
    // two passes p_a = 0.8, 0.6: gap 0.4, per-pass gaps 0.6 and 0.2, sd 0.2, SE 0.2 / sqrt(2) = 0.1414
    const probs = [0.8, 0.2, 0.6, 0.4];
    const two = { ...rule, minPasses: 2, tolerance: 1 };
    assert.equal(checkAdaptive(probs, 2, { ...two, z: 3 }).topSettled, false);
    assert.equal(checkAdaptive(probs, 2, { ...two, z: 3 }).done, false);
    assert.equal(checkAdaptive(probs, 2, { ...two, z: 2 }).topSettled, true);
    assert.equal(checkAdaptive(probs, 2, { ...two, z: 2 }).done, true);
  });

  it('only the entropy standard error above the tolerance keeps an image running (by hand)', () => {
    // p_a = 0.9, 0.7, 0.9, 0.7: mean (0.8, 0.2), sd(p_a) 0.1, so every probability SE is 0.05;
    // w_a - w_b = ln(0.2 / 0.8), so the entropy SE is ln 4 x 0.1 / 2 = 0.0693; the gap is 6 SEs
    const probs = [0.9, 0.1, 0.7, 0.3, 0.9, 0.1, 0.7, 0.3];
    const check = checkAdaptive(probs, 2, { ...rule, tolerance: 0.06 });
    assert.ok(Math.abs(check.probabilityError - 0.05) < 1e-12 && Math.abs(check.entropyError - (Math.log(4) * 0.1) / 2) < 1e-12, JSON.stringify(check));
    assert.equal(check.topSettled, true);
    assert.equal(check.done, false);
    assert.equal(checkAdaptive(probs, 2, { ...rule, tolerance: 0.07 }).done, true);
  });

  it('three classes, the top two not first: the gap, the largest class SE and the entropy SE (by hand)', () => {
    // passes alternate (0.30, 0.20, 0.50) and (0.10, 0.35, 0.55): mean (0.2, 0.275, 0.525), so the top
    // is class 2 and the runner-up class 1; per-pass gaps 0.30, 0.20: mean 0.25, SE 0.05 / 2 = 0.025
    const probs = repeat([0.3, 0.2, 0.5, 0.1, 0.35, 0.55], 2);
    const check = checkAdaptive(probs, 3, { ...rule, tolerance: 0.03 });
    assert.equal(check.topSettled, true, 'a gap of 10 SEs');
    // the largest per-class sd is class 0's, 0.1 (class 2's is 0.025): SE 0.05
    assert.ok(Math.abs(check.probabilityError - 0.05) < 1e-12, `${check.probabilityError}`);
    const m = [0.2, 0.275, 0.525];
    const term = (p: number[]) => p.reduce((sum, v, c) => sum - (Math.log(m[c]!) + 1) * v, 0);
    const entropySe = Math.abs(term([0.3, 0.2, 0.5]) - term([0.1, 0.35, 0.55])) / 2 / 2;
    assert.ok(Math.abs(check.entropyError - entropySe) < 1e-12 && entropySe < 0.03, `${check.entropyError} vs ${entropySe}`);
    // only the probability SE (0.05) is above 0.03: more passes; at 0.05 both are within
    assert.equal(check.done, false);
    assert.equal(checkAdaptive(probs, 3, { ...rule, tolerance: 0.051 }).done, true);
    // the gap is 10 SEs: settled at z = 9.99, not at z = 10.01
    assert.equal(checkAdaptive(probs, 3, { ...rule, z: 9.99 }).topSettled, true);
    assert.equal(checkAdaptive(probs, 3, { ...rule, z: 10.01 }).topSettled, false);
    // the same passes with classes 1 and 2 swapped (top class 1): the same answers
    const swapped = repeat([0.3, 0.5, 0.2, 0.1, 0.55, 0.35], 2);
    const again = checkAdaptive(swapped, 3, { ...rule, tolerance: 0.03, z: 9.99 });
    assert.deepEqual([again.topSettled, again.done], [true, false]);
    assert.ok(Math.abs(again.probabilityError - 0.05) < 1e-12 && Math.abs(again.entropyError - entropySe) < 1e-12);
    // and with the runner-up first (classes 1, 2, 0): the runner-up is found wherever it sits
    const runnerUpFirst = repeat([0.2, 0.5, 0.3, 0.35, 0.55, 0.1], 2);
    assert.equal(checkAdaptive(runnerUpFirst, 3, { ...rule, z: 9.99 }).topSettled, true);
    assert.equal(checkAdaptive(runnerUpFirst, 3, { ...rule, z: 10.01 }).topSettled, false);
  });

  it('a class with mean probability 0 adds nothing to the entropy error (0 x log 0 = 0)', () => {
    const probs = [0.8, 0.2, 0, 0.6, 0.4, 0, 0.8, 0.2, 0, 0.6, 0.4, 0];
    const check = checkAdaptive(probs, 3, rule);
    assert.ok(Number.isFinite(check.entropyError) && Math.abs(check.entropyError - (Math.log(0.7 / 0.3) * 0.1) / 2) < 1e-12, `${check.entropyError}`);
  });

  it('defaults: 8 to 128 passes, standard errors of 0.06, a gap of 3 standard errors', () => {
    assert.deepEqual(DEFAULT_ADAPTIVE_RULE, { minPasses: 8, maxPasses: 128, tolerance: 0.06, z: 3 });
  });
});
