/**
 * decomposeUncertainty: the parts of an ensemble's uncertainty, checked against entropies written
 * out by hand (ln 2, and two-class entropies of given means), and the telescoping sum to float
 * precision on random ensembles (fixed seed).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decomposeUncertainty } from '../../src/ensemble/decomposition.js';
import { summarize } from '../../src/stats/aggregate.js';
import { mulberry32 } from '../helpers/random.js';

/** Two-class entropy of (q, 1 - q), nats, written out. */
const h2 = (q: number) => -(q * Math.log(q) + (1 - q) * Math.log(1 - q));
const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

describe('decomposeUncertainty', () => {
  it('two members that are each sure of another class: all of the mutual information is between members', () => {
    const parts = decomposeUncertainty([[Float64Array.of(1, 0, 1, 0)], [Float64Array.of(0, 1, 0, 1)]], 2);
    close(parts.totalEntropy, Math.LN2, 'total');
    close(parts.expectedEntropy, 0, 'expected');
    close(parts.betweenMembers, Math.LN2, 'members');
    close(parts.betweenViews, 0, 'views');
    close(parts.withinPasses, 0, 'passes');
    // the ensemble's mean is (0.5, 0.5): its top class is 0 (lowest on ties), member 1 disagrees
    assert.equal(parts.memberDisagreement, 0.5);
  });

  it('one member, two views, two passes each: every part from entropies written out', () => {
    // view a: passes (0.9, 0.1), (0.7, 0.3) -> mean 0.8; view b: passes (0.4, 0.6), (0.2, 0.8) -> mean 0.3
    const parts = decomposeUncertainty([[Float64Array.of(0.9, 0.1, 0.7, 0.3), Float64Array.of(0.4, 0.6, 0.2, 0.8)]], 2);
    const expected = (h2(0.9) + h2(0.7) + h2(0.4) + h2(0.2)) / 4;
    close(parts.mean[0]!, 0.55, 'mean');
    close(parts.totalEntropy, h2(0.55), 'total');
    close(parts.expectedEntropy, expected, 'expected');
    close(parts.betweenMembers, 0, 'members');
    close(parts.betweenViews, h2(0.55) - (h2(0.8) + h2(0.3)) / 2, 'views');
    close(parts.withinPasses, (h2(0.8) + h2(0.3)) / 2 - expected, 'passes');
    assert.equal(parts.memberDisagreement, 0);
  });

  it('members of different T (one without dropout) weigh equally: the mean is the mean of the members', () => {
    const parts = decomposeUncertainty([[Float64Array.of(0.6, 0.4)], [Float64Array.of(0.2, 0.8, 0.4, 0.6, 0.3, 0.7)]], 2);
    close(parts.mean[0]!, (0.6 + 0.3) / 2, 'mean');
    close(parts.withinPasses, (0 + (h2(0.3) - (h2(0.2) + h2(0.4) + h2(0.3)) / 3)) / 2, 'passes');
  });

  it('the parts add up to the mutual information, each at least 0, on random ensembles; one member and one view is summarize', () => {
    const random = mulberry32(11);
    const classes = 5;
    const pass = () => {
      const raw = Array.from({ length: classes }, () => random() ** 3 + 1e-9);
      const sum = raw.reduce((a, b) => a + b, 0);
      return raw.map((x) => x / sum);
    };
    for (let trial = 0; trial < 200; trial++) {
      const members = 1 + Math.floor(random() * 4);
      const passes = Array.from({ length: members }, () =>
        Array.from({ length: 1 + Math.floor(random() * 3) }, () => Float64Array.from(Array.from({ length: 1 + Math.floor(random() * 6) }, pass).flat())),
      );
      const parts = decomposeUncertainty(passes, classes);
      close(parts.betweenMembers + parts.betweenViews + parts.withinPasses, parts.mutualInformation, `trial ${trial} sum`);
      close(parts.expectedEntropy + parts.mutualInformation, parts.totalEntropy, `trial ${trial} total`);
      for (const part of [parts.betweenMembers, parts.betweenViews, parts.withinPasses]) assert.ok(part > -1e-12, `trial ${trial}: ${part}`);
    }
    const one = Float64Array.from(Array.from({ length: 8 }, pass).flat());
    const parts = decomposeUncertainty([[one]], classes);
    const summary = summarize(one, classes);
    close(parts.totalEntropy, summary.entropy, 'entropy');
    close(parts.expectedEntropy, summary.expectedEntropy, 'expected entropy');
    close(parts.withinPasses, summary.mutualInformation, 'mutual information');
  });

  it('refuses passes that are not whole rows of the classes, and an empty ensemble', () => {
    assert.throws(() => decomposeUncertainty([[Float64Array.of(0.5, 0.5, 1)]], 2), /Expected whole passes of 2 classes for `passes` but received 3 values/);
    assert.throws(() => decomposeUncertainty([], 2), /at least one member with at least one view/);
  });
});
