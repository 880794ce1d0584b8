import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pixelsToTensor } from '../../src/preprocess/tensor.js';
import { UsageError } from '../../src/errors.js';

const spec = { height: 1, width: 2, mean: [0.5, 0.5, 0.5], std: [0.5, 0.25, 1], channelOrder: 'RGB' as const, layout: 'NCHW' as const };

describe('pixelsToTensor', () => {
  // two pixels: (255, 0, 51) and (0, 255, 102)
  const rgb = Uint8Array.from([255, 0, 51, 0, 255, 102]);

  it('NCHW: planes R, G, B with (v/255 - mean)/std', () => {
    const t = pixelsToTensor(rgb, spec);
    assert.deepEqual(Array.from(t), [1, -1, -2, 2, Math.fround(Math.fround(0.2) - 0.5), Math.fround(Math.fround(0.4) - 0.5)]);
  });

  it('NHWC interleaves, BGR swaps the channels', () => {
    const nhwc = pixelsToTensor(rgb, { ...spec, layout: 'NHWC' });
    assert.deepEqual(Array.from(nhwc).slice(0, 3), [1, -2, Math.fround(Math.fround(0.2) - 0.5)]);
    const bgr = pixelsToTensor(rgb, { ...spec, channelOrder: 'BGR' });
    // mean/std are always given in R,G,B order: blue comes first, normalized with blue's statistics
    assert.deepEqual(Array.from(bgr).slice(0, 2), [Math.fround(Math.fround(0.2) - 0.5), Math.fround(Math.fround(0.4) - 0.5)]);
  });

  it('gives each spec its own normalization when two alternate (its tables are reused only for the same mean and std)', () => {
    const other = { ...spec, mean: [0, 0, 0], std: [1, 1, 1] };
    for (let round = 0; round < 2; round++) {
      assert.deepEqual(Array.from(pixelsToTensor(rgb, spec)).slice(0, 2), [1, -1]);
      assert.deepEqual(Array.from(pixelsToTensor(rgb, other)).slice(0, 2), [1, 0]);
      // one std changed: another table for red
      assert.equal(pixelsToTensor(rgb, { ...spec, std: [0.25, 0.25, 1] })[0], 2);
    }
  });

  it('rejects a buffer of the wrong size', () => {
    assert.throws(
      () => pixelsToTensor(new Uint8Array(5), spec),
      (e: unknown) => e instanceof UsageError && e.message === 'Expected 6 RGB bytes for `rgb` but received 5 bytes',
    );
  });
});
