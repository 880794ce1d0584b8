import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { upgradedRunSettings } from '../../../src/run/predict/records.js';

describe("an earlier release's run settings, as --resume compares them", () => {
  it('the preprocessing and the adaptive rule get their snake_case keys, in their order; every other setting is left as it was', () => {
    const earlier = {
      passes: 'auto',
      seed: 4,
      preprocess: { height: 28, width: 28, channelOrder: 'RGB', cropFraction: 0.875, pixelLimit: 100, resizeEngine: 'exact', colourProfile: 'ignore' },
      adaptive: { minPasses: 8, maxPasses: 128, tolerance: 0.06, z: 3 },
      labels: ['a', 'b'],
    };
    const upgraded = upgradedRunSettings(earlier);
    assert.equal(
      JSON.stringify(upgraded),
      JSON.stringify({
        passes: 'auto',
        seed: 4,
        preprocess: { height: 28, width: 28, channel_order: 'RGB', crop_fraction: 0.875, pixel_limit: 100, resize_engine: 'exact', color_profile: 'ignore' },
        adaptive: { min_passes: 8, max_passes: 128, tolerance: 0.06, z: 3 },
        labels: ['a', 'b'],
      }),
    );
    // settings of this release are their own upgrade
    assert.equal(JSON.stringify(upgradedRunSettings(upgraded)), JSON.stringify(upgraded));
    assert.deepEqual(upgradedRunSettings({ seed: 1 }), { seed: 1 });
  });
});
