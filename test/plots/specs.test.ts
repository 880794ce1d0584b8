import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uncertaintyHistogram } from '../../src/plots/specs.js';

describe('uncertainty histogram', () => {
  it("bins each score over [0, its max] and gives each group's share per bin (summing to 1)", () => {
    const images = [
      { correct: true, entropy: 0, mutualInformation: 0 },
      { correct: true, entropy: 1, mutualInformation: 0.1 },
      { correct: false, entropy: 2, mutualInformation: 0.4 },
    ];
    const rows = uncertaintyHistogram(images, 4);
    const share = (score: string, outcome: string) => rows.filter((r) => r.score.startsWith(score) && r.outcome === outcome).map((r) => r.share);
    assert.deepEqual(share('predictive', 'correct'), [0.5, 0, 0.5, 0]);
    assert.deepEqual(share('predictive', 'wrong'), [0, 0, 0, 1]);
    assert.deepEqual(share('mutual', 'correct'), [0.5, 0.5, 0, 0]);
    assert.equal(rows.find((r) => r.score.startsWith('mutual'))!.high, 0.1);
  });
});
