import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { meanStatisticsOf } from '../../src/segmentation/maps.js';
import { resizeBilinear, resizeMaps } from '../../src/segmentation/resample.js';
import { entropy } from '../../src/stats/aggregate.js';
import { ROOT } from '../helpers/cli.js';
import { readNpy } from '../helpers/npy.js';
import { mapsOfPasses, randomPasses } from '../helpers/pixel-maps.js';
import { mulberry32 } from '../helpers/random.js';

const TRUTH = path.join(ROOT, 'fixtures/segmentation/resample');
interface Case {
  name: string;
  channels: number;
  height: number;
  width: number;
  out_height: number;
  out_width: number;
}
const cases = (JSON.parse(readFileSync(path.join(TRUTH, 'cases.json'), 'utf8')) as { cases: Case[] }).cases;

describe('resizeBilinear against PyTorch F.interpolate(bilinear, align_corners=False) (fixtures/segmentation/make_resample_truth.py)', () => {
  for (const c of cases) {
    it(`${c.name}: ${c.channels} x ${c.height}x${c.width} -> ${c.out_height}x${c.out_width}`, () => {
      const input = readNpy(path.join(TRUTH, `${c.name}.input.npy`));
      const expected = readNpy(path.join(TRUTH, `${c.name}.output.npy`));
      assert.deepEqual(expected.shape, [c.channels, c.out_height, c.out_width]);
      const actual = resizeBilinear(input.data, c.channels, c.height, c.width, c.out_height, c.out_width);
      assert.equal(actual.length, expected.data.length);
      // the same taps and float32 weights as PyTorch's, but PyTorch sums the four products in float32
      // and we in float64 rounded once: they differ by about one float32 ulp (inputs in [-1, 1], 1.2e-7
      // at worst). Tighter than 2e-6 on purpose: a source coordinate rounded to float32 before its
      // weight is taken is off by 2.3e-6 in down_64x48_to_13x9, and this bound tells the two apart.
      let worst = 0;
      for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected.data[i]!));
      assert.ok(worst <= 2.5e-7, `largest difference ${worst}`);
    });
  }

  it('the same size gives back every value bit for bit', () => {
    const input = readNpy(path.join(TRUTH, 'same_6x6.input.npy'));
    assert.deepEqual(resizeBilinear(input.data, 2, 6, 6, 6, 6), input.data);
  });

  it('planes of the wrong length: a UsageError naming `planes`', () => {
    assert.throws(() => resizeBilinear(new Float32Array(5), 1, 2, 3, 4, 4), {
      name: 'UsageError',
      message: 'Expected channels x height x width = 6 values for `planes` but received 5 values',
    });
  });

  it('an output size of 0: a UsageError naming `outHeight`', () => {
    assert.throws(
      () => resizeBilinear(new Float32Array(6), 1, 2, 3, 0, 4),
      (e: unknown) => e instanceof UsageError && /`outHeight` but received 0/.test(e.message),
    );
  });
});

describe('resizeMaps', () => {
  const random = mulberry32(7);
  const [passes, classes, height, width] = [6, 4, 5, 7];
  const probs = randomPasses(random, passes, classes, height, width);
  const { maps } = mapsOfPasses(probs, passes, classes, height, width);

  it('meanProbs are the mean of the resized passes (the resize is linear)', () => {
    const resized = resizeMaps(maps, 11, 4);
    const perPass = resizeBilinear(probs, passes * classes, height, width, 11, 4);
    const plane = classes * 11 * 4;
    for (let i = 0; i < plane; i++) {
      let mean = 0;
      for (let t = 0; t < passes; t++) mean += perPass[t * plane + i]! / passes;
      assert.ok(Math.abs(resized.meanProbs[i]! - mean) < 1e-6, `value ${i}: ${resized.meanProbs[i]} vs ${mean}`);
    }
  });

  it('label, confidence and entropy are those of the resized meanProbs, the sizes and passes carried', () => {
    const resized = resizeMaps(maps, 9, 13);
    assert.deepEqual([resized.width, resized.height, resized.classes, resized.passes], [13, 9, classes, passes]);
    const pixels = 9 * 13;
    const vector = new Float64Array(classes);
    for (let p = 0; p < pixels; p++) {
      for (let c = 0; c < classes; c++) vector[c] = resized.meanProbs[c * pixels + p]!;
      const best = vector.indexOf(Math.max(...vector));
      assert.equal(resized.label[p], best);
      assert.equal(resized.confidence[p], Math.fround(vector[best]!));
      assert.equal(resized.entropy[p], Math.fround(entropy(vector)));
    }
    assert.deepEqual(meanStatisticsOf(resized.meanProbs, classes, pixels).label, resized.label);
  });

  it('mutual information stays >= 0 before the clamp (H is concave), up, down and across, on random maps', () => {
    for (const [seed, spread, outHeight, outWidth] of [
      [1, 3, 17, 23],
      [2, 0.3, 2, 3],
      [3, 8, 5, 29],
      [4, 0, 8, 8], // every pass the same: MI 0 everywhere, the case the clamp exists for
    ] as const) {
      const r = mulberry32(seed);
      const p = spread === 0 ? repeatPass(randomPasses(r, 1, classes, height, width), passes) : randomPasses(r, passes, classes, height, width, spread);
      const source = mapsOfPasses(p, passes, classes, height, width);
      for (const given of [source.expectedEntropy, undefined]) {
        const resized = resizeMaps(source.maps, outHeight, outWidth, given);
        const expected = resizeBilinear(
          given ?? source.maps.entropy.map((h, i) => h - source.maps.mutualInformation[i]!),
          1,
          height,
          width,
          outHeight,
          outWidth,
        );
        const pixels = outHeight * outWidth;
        const vector = new Float64Array(classes);
        for (let q = 0; q < pixels; q++) {
          for (let c = 0; c < classes; c++) vector[c] = resized.meanProbs[c * pixels + q]!;
          const unclamped = entropy(vector) - expected[q]!;
          // float32 maps: a few ulps of an entropy near 1 nat
          assert.ok(unclamped >= -1e-6, `seed ${seed}, pixel ${q}: H - E[H] = ${unclamped}`);
          assert.ok(resized.mutualInformation[q]! >= 0);
          assert.ok(Math.abs(resized.mutualInformation[q]! - Math.max(0, unclamped)) < 1e-6);
        }
      }
    }
  });

  it('expectedEntropy of the wrong size: a UsageError naming it', () => {
    assert.throws(() => resizeMaps(maps, 3, 3, new Float32Array(4)), { name: 'UsageError', message: /`expectedEntropy` but received 4 values/ });
  });

  it('maps whose arrays disagree with their size: a UsageError naming the array', () => {
    assert.throws(() => resizeMaps({ ...maps, confidence: new Float32Array(3) }, 3, 3), {
      name: 'UsageError',
      message: /`maps.confidence` but received 3 values/,
    });
  });
});

/** The one pass [1, C, H, W] repeated `passes` times. */
function repeatPass(one: Float32Array, passes: number): Float32Array {
  const out = new Float32Array(one.length * passes);
  for (let t = 0; t < passes; t++) out.set(one, t * one.length);
  return out;
}
