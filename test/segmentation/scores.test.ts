import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PixelMaps } from '../../src/segmentation/maps.js';
import { imageScores, quantileOf } from '../../src/segmentation/scores.js';
import { mulberry32 } from '../helpers/random.js';

const close = (actual: number | null, expected: number, what: string) =>
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-12, `${what}: ${actual} vs ${expected}`);

/**
 * A 4x4 map of 4 classes, written out. imageScores reads only label, confidence, entropy and mutual
 * information, so meanProbs stays zero. Every value is a multiple of 1/16: exact in float32.
 */
function handMap(): PixelMaps {
  return {
    width: 4,
    height: 4,
    classes: 4,
    passes: 8,
    meanProbs: new Float32Array(4 * 16),
    // prettier-ignore
    label: Uint16Array.from([
      0, 0, 0, 1,
      1, 2, 0, 0,
      1, 1, 2, 1,
      0, 0, 2, 0,
    ]),
    // prettier-ignore
    confidence: Float32Array.from([
      1, 0.75, 0.75, 0.5,
      0.5, 0.375, 1, 1,
      0.75, 0.5, 0.5, 0.75,
      0.875, 1, 0.375, 1,
    ]),
    // prettier-ignore
    entropy: Float32Array.from([
      0.0625, 0.125, 0.25, 0.5,
      0.75, 1, 0, 0,
      0.375, 0.625, 0.875, 0.5,
      0.25, 0.125, 1.0625, 0.0625,
    ]),
    // prettier-ignore
    mutualInformation: Float32Array.from([
      0, 0, 0.0625, 0.125,
      0.25, 0.5, 0, 0,
      0, 0.125, 0.25, 0.0625,
      0, 0, 0.75, 0,
    ]),
  };
}

describe('imageScores, worked by hand on a 4x4 map', () => {
  it('the defaults: the 0.95 quantile, threshold 0.5', () => {
    const s = imageScores(handMap());
    // entropy rows sum to 0.9375, 1.75, 2.375, 1.5: 6.5625 / 16
    close(s.mean_entropy, 0.41015625, 'mean_entropy');
    // sorted: 0 0 .0625 .0625 .125 .125 .25 .25 .375 .5 .5 .625 .75 .875 1 1.0625; (16 - 1) x 0.95 = 14.25:
    // 1 + 0.25 x (1.0625 - 1)
    close(s.q_entropy, 1.015625, 'q_entropy');
    // MI rows sum to 0.1875, 0.75, 0.4375, 0.75: 2.125 / 16
    close(s.mean_mi, 0.1328125, 'mean_mi');
    // sorted: eight 0, .0625 .0625 .125 .125 .25 .25 .5 .75; index 14.25: 0.5 + 0.25 x (0.75 - 0.5)
    close(s.q_mi, 0.5625, 'q_mi');
    // H / ln 4 > 0.5 means H > 0.6931: 0.75, 1, 0.875, 1.0625 (0.625 is not): 4 of 16
    close(s.uncertain_share, 0.25, 'uncertain_share');
    // class 0: (0,0) (0,1) (0,2) (1,2) (1,3) (3,0) (3,1) (3,3); class 1: (0,3) (1,0) (2,0) (2,1) (2,3); class 2: (1,1) (2,2) (3,2)
    assert.deepEqual(s.class_pixels, [8, 5, 3, 0]);
    // class 0: 1 + .75 + .75 + 1 + 1 + .875 + 1 + 1 = 7.375, / 8; class 1: .5 + .5 + .75 + .5 + .75 = 3, / 5; class 2: .375 + .5 + .375 = 1.25, / 3
    close(s.class_confidence[0]!, 0.921875, 'class 0 confidence');
    close(s.class_confidence[1]!, 0.6, 'class 1 confidence');
    close(s.class_confidence[2]!, 1.25 / 3, 'class 2 confidence');
    assert.equal(s.class_confidence[3], null, 'no pixel labelled 3');
  });

  it('the median and threshold 0.25', () => {
    const s = imageScores(handMap(), { quantile: 0.5, threshold: 0.25 });
    // index 7.5 of the sorted entropies: 0.25 and 0.375, the fraction >= 0.5 taken from above: 0.375 - 0.5 x 0.125
    close(s.q_entropy, 0.3125, 'q_entropy');
    // index 7.5 of the sorted MI: 0 and 0.0625
    close(s.q_mi, 0.03125, 'q_mi');
    // H > 0.25 x ln 4 = 0.3466: 0.5, 0.75, 1, 0.375, 0.625, 0.875, 0.5, 1.0625: 8 of 16
    close(s.uncertain_share, 0.5, 'uncertain_share');
  });

  it('one class: no pixel is uncertain (ln 1 = 0 and H = 0)', () => {
    const one: PixelMaps = { ...handMap(), classes: 1, meanProbs: new Float32Array(16), label: new Uint16Array(16), entropy: new Float32Array(16) };
    assert.equal(imageScores(one).uncertain_share, 0);
  });

  it('a quantile outside [0, 1]: a UsageError naming `quantile`', () => {
    assert.throws(() => imageScores(handMap(), { quantile: 1.5 }), {
      name: 'UsageError',
      message: 'Expected a number in [0, 1] for `quantile` but received 1.5',
    });
  });

  it('a threshold outside [0, 1]: a UsageError naming `threshold`', () => {
    assert.throws(() => imageScores(handMap(), { threshold: -0.1 }), {
      name: 'UsageError',
      message: 'Expected a number in [0, 1] for `threshold` but received -0.1',
    });
  });

  it('a label past the classes: a UsageError naming `maps.label`', () => {
    const map = handMap();
    map.label[5] = 4;
    assert.throws(() => imageScores(map), { name: 'UsageError', message: /`maps.label` but received 4/ });
  });
});

describe('quantileOf against numpy.quantile', () => {
  it("matches numpy 1.24's default 'linear' method to the bit", () => {
    const values = Float64Array.from([0.7, 0.1, 0.35, 2.5, -1.25, 0.1, 0.333, 1e-3, 0.9, 0.7, 0.42]);
    // /usr/bin/python3, numpy 1.24.2: [(q, repr(float(np.quantile(v, q)))) for q in ...]
    const numpy: [number, number][] = [
      [0, -1.25],
      [0.1, 0.001],
      [0.27, 0.1],
      [0.33, 0.16990000000000005],
      [0.5, 0.35],
      [0.63, 0.5039999999999999],
      [0.77, 0.7],
      [0.86, 0.82],
      [0.9, 0.9],
      [0.95, 1.7],
      [0.999, 2.4840000000000004],
      [1, 2.5],
    ];
    for (const [q, expected] of numpy) assert.equal(quantileOf(values, q), expected, `q = ${q}`);
  });

  it('a million float32 values: the order statistics at integer indices, and the input left unsorted', () => {
    const random = mulberry32(3);
    const values = Float32Array.from({ length: 1_000_001 }, () => random());
    const copy = values.slice();
    const sorted = values.slice().sort();
    assert.equal(quantileOf(values, 0.5), sorted[500_000]);
    assert.equal(quantileOf(values, 0.95), sorted[950_000]);
    assert.deepEqual(values, copy);
  });

  it('no values: a UsageError naming `values`', () => {
    assert.throws(() => quantileOf(new Float32Array(0), 0.5), { name: 'UsageError', message: /`values` but received 0 values/ });
  });
});
