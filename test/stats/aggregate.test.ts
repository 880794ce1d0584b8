import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { argmax, entropy, softmaxRows, summarize, topK, logitScores } from '../../src/stats/aggregate.js';
import { UsageError } from '../../src/errors.js';

const close = (actual: number, expected: number, tolerance = 1e-12) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `expected ${expected}, received ${actual}`);

describe('softmaxRows', () => {
  it('matches exp(x)/sum exp(x) and is stable for huge logits', () => {
    const p = softmaxRows([0, Math.log(3), 1000, 1000 + Math.log(3)], 2);
    close(p[0]!, 0.25);
    close(p[1]!, 0.75);
    close(p[2]!, 0.25);
    close(p[3]!, 0.75);
  });
});

describe('entropy', () => {
  it('is ln C for uniform probabilities and 0 for one-hot (0 log 0 = 0)', () => {
    close(entropy([0.25, 0.25, 0.25, 0.25]), Math.log(4));
    assert.equal(entropy([0, 1, 0]), 0);
  });
});

describe('summarize', () => {
  it('uniform passes: entropy ln C, expected entropy ln C, MI 0', () => {
    const s = summarize([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], 10);
    close(s.entropy, Math.log(10));
    close(s.expectedEntropy, Math.log(10));
    close(s.mutualInformation, 0);
    close(s.confidence, 0.1);
  });

  it('identical one-hot passes: MI 0, variation ratio 0, entropy 0, margin 1', () => {
    const s = summarize([0, 1, 0, 0, 1, 0, 0, 1, 0], 3);
    assert.equal(s.predicted, 1);
    assert.equal(s.mutualInformation, 0);
    assert.equal(s.variationRatio, 0);
    assert.equal(s.entropy, 0);
    assert.equal(s.margin, 1);
    assert.deepEqual(Array.from(s.std), [0, 0, 0]);
  });

  it('two-class example worked by hand', () => {
    // passes (0.9, 0.1) and (0.3, 0.7): mean (0.6, 0.4)
    const s = summarize([0.9, 0.1, 0.3, 0.7], 2);
    close(s.mean[0]!, 0.6);
    close(s.mean[1]!, 0.4);
    const h = (p: number) => -(p * Math.log(p) + (1 - p) * Math.log(1 - p));
    close(s.entropy, h(0.6)); // 0.6730116670092565
    close(s.entropy, 0.6730116670092565);
    close(s.expectedEntropy, (h(0.9) + h(0.3)) / 2); // (0.3250829733914482 + 0.6108643020548935) / 2
    close(s.expectedEntropy, 0.46797363772317087);
    close(s.mutualInformation, 0.6730116670092565 - 0.46797363772317087);
    close(s.variationRatio, 0.5); // votes: class 0 once, class 1 once
    close(s.margin, 0.2);
    close(s.std[0]!, 0.3); // |0.9 - 0.6| = |0.3 - 0.6| = 0.3
    assert.equal(s.predicted, 0);
    assert.equal(s.passes, 2);
  });

  it('variation ratio counts the modal vote, not the mean argmax', () => {
    const s = summarize([0.6, 0.4, 0.6, 0.4, 0.0, 1.0], 2); // votes 0,0,1
    close(s.variationRatio, 1 - 2 / 3);
  });

  it('rejects a length that is not a multiple of the class count', () => {
    assert.throws(
      () => summarize([0.5, 0.5, 1], 2),
      (e: unknown) => e instanceof UsageError && e.message === 'Expected [T, 2] probabilities for `probs` but received 3 values',
    );
  });
});

describe('argmax and topK', () => {
  it('break ties by the lower index', () => {
    assert.equal(argmax([0.2, 0.4, 0.4]), 1);
    assert.deepEqual(topK([0.2, 0.4, 0.4, 0.0], 3), [1, 2, 0]);
    assert.deepEqual(topK([0.5, 0.5], 5), [0, 1]);
  });

  it('topK equals a full sort (largest first, lower index on ties) for few and many picks', () => {
    let a = 12345;
    const next = () => (a = (Math.imul(a, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let trial = 0; trial < 3000; trial++) {
      const v = Array.from({ length: 1 + Math.floor(next() * 40) }, () => Math.floor(next() * 6) / 5);
      const k = Math.floor(next() * 25);
      const sorted = v
        .map((_, i) => i)
        .sort((x, y) => v[y]! - v[x]! || x - y)
        .slice(0, k);
      assert.deepEqual(topK(v, k), sorted, `${JSON.stringify(v)} k=${k}`);
    }
  });
});

describe('logitScores: the max logit and the energy, averaged over passes', () => {
  it('worked by hand: passes [1, 2, 3] and [0, 0, 0]', () => {
    const s = logitScores(Float64Array.from([1, 2, 3, 0, 0, 0]), 3);
    // max logits 3 and 0; energies -ln(e + e^2 + e^3) = -3.40760596444438 and -ln 3 = -1.09861228866811
    assert.ok(Math.abs(s.maxLogit - 1.5) < 1e-15);
    assert.ok(Math.abs(s.energy - -(3.40760596444438 + 1.09861228866811) / 2) < 1e-13, String(s.energy));
  });

  it('stays finite for logits in the thousands (log-sum-exp shifted by the max)', () => {
    const s = logitScores(Float64Array.from([1000, 999, -1000]), 3);
    assert.ok(Math.abs(s.energy - -(1000 + Math.log(1 + Math.exp(-1)))) < 1e-12);
    assert.equal(s.maxLogit, 1000);
  });
});
