import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EvaluationAccumulator, outcomeOf, passCounts } from '../../src/evaluate/evaluation.js';
import { aurocOf, calibrationOf, confusionOf, metricsOf, riskCoverageOf, type Outcome } from '../../src/evaluate/metrics.js';
import { UsageError } from '../../src/errors.js';

const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} vs ${expected}`);

/** An outcome with only what calibration and risk-coverage read. */
function o(confidence: number, correct: boolean): Outcome {
  return {
    label: 0,
    predicted: correct ? 0 : 1,
    confidence,
    trueProbability: correct ? confidence : 0,
    brier: 0,
    entropy: 0,
    mutualInformation: 0,
    variationRatio: 0,
    margin: 0,
  };
}

describe('metrics, worked by hand', () => {
  it('ECE, MCE: 4 images in 2 equal-width bins', () => {
    // confidences 0.95, 0.9 (bin (14/15, 1] holds 0.95 only; 0.9 is in (13/15, 14/15]), 0.6, 0.55 (bin (8/15, 9/15])
    const outcomes = [o(0.95, true), o(0.9, false), o(0.6, true), o(0.55, false)];
    const c = calibrationOf(outcomes);
    // bins: 0.95 -> 14 (gap 0.05), 0.9 -> 13 (gap 0.9), 0.6 and 0.55 -> 8 (acc 0.5, conf 0.575, gap 0.075)
    close(c.ece, 0.25 * 0.05 + 0.25 * 0.9 + 0.5 * 0.075, 'ece');
    close(c.mce, 0.9, 'mce');
    assert.equal(c.bins[14]!.count, 1);
    assert.equal(c.bins[13]!.count, 1);
    assert.equal(c.bins[8]!.count, 2);
    assert.equal(c.bins[0]!.accuracy, null);
    assert.equal(
      c.bins.reduce((a, b) => a + b.count, 0),
      4,
    );
  });

  it('a confidence on a bin edge goes to the bin below it ((b/15, (b+1)/15])', () => {
    const c = calibrationOf([o(1 / 15, true), o(2 / 15, true), o(1, true)]);
    assert.equal(c.bins[0]!.count, 1);
    assert.equal(c.bins[1]!.count, 1);
    assert.equal(c.bins[14]!.count, 1);
  });

  it('adaptive ECE: 16 images in 15 equal-mass groups, the first group two images', () => {
    // confidences 0.2, 0.3, ... sorted: group 0 = the two lowest, then one each
    const outcomes = Array.from({ length: 16 }, (_, i) => o(0.2 + 0.05 * i, i % 2 === 0));
    const c = calibrationOf(outcomes);
    let expected = (2 / 16) * Math.abs(0.5 - (0.2 + 0.25) / 2);
    for (let i = 2; i < 16; i++) expected += (1 / 16) * Math.abs((i % 2 === 0 ? 1 : 0) - (0.2 + 0.05 * i));
    close(c.adaptiveEce, expected, 'adaptive ece');
  });

  it('risk-coverage: AURC, E-AURC and selective accuracy of 5 ranked images', () => {
    // most confident first: correct, wrong, correct, correct, wrong
    const outcomes = [o(0.9, true), o(0.8, false), o(0.7, true), o(0.6, true), o(0.5, false)];
    const r = riskCoverageOf(outcomes);
    // risks: 0/1, 1/2, 1/3, 1/4, 2/5
    const aurc = (0 + 1 / 2 + 1 / 3 + 1 / 4 + 2 / 5) / 5;
    // optimal: 3 correct first: 0, 0, 0, 1/4, 2/5
    close(r.aurc, aurc, 'aurc');
    close(r.eAurc, aurc - (1 / 4 + 2 / 5) / 5, 'e-aurc');
    // 80% of 5 = 4 kept: 3 correct of 4; 90% -> ceil(4.5) = 5: 3 of 5
    assert.deepEqual(
      r.selective.map((s) => [s.coverage, s.kept]),
      [
        [0.8, 4],
        [0.9, 5],
        [0.95, 5],
      ],
    );
    close(r.selective[0]!.accuracy, 0.75, 'selective 80');
    close(r.selective[1]!.accuracy, 0.6, 'selective 90');
    assert.deepEqual(
      r.curve.map((p) => p.coverage),
      [0.2, 0.4, 0.6, 0.8, 1],
    );
  });

  it('selective accuracy keeps exactly ceil(coverage x n) even where the product rounds up in floats', () => {
    const outcomes = Array.from({ length: 50 }, (_, i) => o(1 - i / 100, i < 45));
    const r = riskCoverageOf(outcomes);
    assert.equal(r.selective[1]!.kept, 45); // 0.9 x 50
    assert.equal(r.selective[1]!.accuracy, 1);
  });

  it('AUROC: Mann-Whitney with ties as one half; null without both classes', () => {
    // positives score 3, 2; negatives 2, 1: pairs (3>2), (3>1), (2=2: 1/2), (2>1) -> 3.5 / 4
    assert.equal(aurocOf([3, 2, 2, 1], [true, true, false, false]), 3.5 / 4);
    assert.equal(aurocOf([1, 2, 3], [false, false, false]), null);
    assert.equal(aurocOf([5, 5, 5, 5], [true, false, true, false]), 0.5);
    assert.equal(aurocOf([0, 1], [true, false]), 0);
  });

  it('outcome of passes: NLL, Brier and the scores from the mean', () => {
    // two passes over 3 classes: mean (0.5, 0.3, 0.2), label 1
    const outcome = outcomeOf([0.6, 0.2, 0.2, 0.4, 0.4, 0.2], 3, 1);
    assert.equal(outcome.predicted, 0);
    close(outcome.confidence, 0.5, 'confidence');
    close(outcome.trueProbability, 0.3, 'p true');
    close(outcome.brier, 0.25 + 0.49 + 0.04, 'brier');
    close(outcome.margin, 0.2, 'margin');
    // pass argmaxes 0 and 0 (the second pass ties 0 and 1: lowest index) -> variation ratio 0
    assert.equal(outcome.variationRatio, 0);
    const m = metricsOf([outcome]);
    close(m.nll, -Math.log(0.3), 'nll');
    assert.equal(m.accuracy, 0);
    assert.equal(m.auroc.entropy, null);
  });

  it('NLL floors p at 1e-12 so one zero probability does not make it infinite', () => {
    const m = metricsOf([outcomeOf([1, 0], 2, 1)]);
    close(m.nll, -Math.log(1e-12), 'nll');
  });

  it('confusion counts true rows against predicted columns', () => {
    const outcomes = [
      { ...o(0.9, true), label: 2, predicted: 2 },
      { ...o(0.9, false), label: 2, predicted: 0 },
      { ...o(0.9, true), label: 0, predicted: 0 },
    ];
    assert.deepEqual(confusionOf(outcomes, 3), [
      [1, 0, 0],
      [0, 0, 0],
      [1, 0, 1],
    ]);
  });

  it('the T curve: 1, 2, 5, 10, 20, 50, ... below T, then T', () => {
    assert.deepEqual(passCounts(1), [1]);
    assert.deepEqual(passCounts(10), [1, 2, 5, 10]);
    assert.deepEqual(passCounts(12), [1, 2, 5, 10, 12]);
    assert.deepEqual(passCounts(100), [1, 2, 5, 10, 20, 50, 100]);
    assert.deepEqual(passCounts(30), [1, 2, 5, 10, 20, 30]);
  });

  it('the accumulator: the curve at t uses the first t passes; refuses a label outside the classes', () => {
    const acc = new EvaluationAccumulator(2, 2, true);
    // pass 1 says class 1, pass 2 class 0 strongly: at t=1 wrong, at t=2 right (label 0)
    acc.add([0.4, 0.6, 1, 0], 0, [0.7, 0.3]);
    const numbers = acc.finish();
    assert.deepEqual(
      numbers.byPasses.map((p) => [p.passes, p.metrics.accuracy]),
      [
        [1, 0],
        [2, 1],
      ],
    );
    assert.equal(numbers.deterministic!.accuracy, 1);
    assert.throws(
      () => acc.add([0.5, 0.5, 0.5, 0.5], 2),
      (e: unknown) => e instanceof UsageError && e.message === 'Expected a class index in [0, 2) for `label` but received 2',
    );
    assert.throws(
      () => acc.add([0.5, 0.5], 0),
      (e: unknown) => e instanceof UsageError && e.message === 'Expected 2 x 2 probabilities for `probs` but received 2 values',
    );
  });
});
