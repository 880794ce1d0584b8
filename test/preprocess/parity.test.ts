import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Interpolation, ResizeMode } from '../../src/model/metadata.js';
import { loadImageTensor } from '../../src/preprocess/decode.js';
import { resolvePreprocess } from '../../src/preprocess/spec.js';
import { ROOT } from '../helpers/cli.js';

interface GoldenCase {
  case: string;
  image: string;
  size: [number, number];
  resize: ResizeMode;
  interpolation: Interpolation;
  crop_fraction?: number;
}

const FIXTURES = path.join(ROOT, 'fixtures');
const index = JSON.parse(readFileSync(path.join(FIXTURES, 'golden', 'index.json'), 'utf8')) as { mean: number[]; std: number[]; cases: GoldenCase[] };

/**
 * Resizing is a port of Pillow's resampling and normalization uses float32 like torchvision, so
 * every case, with or without resize, must match to float32 rounding.
 */
const BOUND = { mean: 1e-7, max: 1e-6 };

async function parity(golden: GoldenCase): Promise<{ mean: number; max: number }> {
  const expected = new Float32Array(readFileSync(path.join(FIXTURES, 'golden', `${golden.case}.f32`)).buffer.slice(0));
  const spec = resolvePreprocess(
    { height: golden.size[0], width: golden.size[1], layout: 'NCHW', metadata: {} },
    {
      mean: index.mean,
      std: index.std,
      resize: golden.resize,
      interpolation: golden.interpolation,
      ...(golden.crop_fraction !== undefined && { cropFraction: golden.crop_fraction }),
    },
  );
  const actual = await loadImageTensor(path.join(FIXTURES, golden.image), spec);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    sum += d;
    max = Math.max(max, d);
  }
  return { mean: sum / expected.length, max };
}

describe('preprocessing parity with PIL + torchvision (golden tensors)', () => {
  for (const golden of index.cases) {
    it(`${golden.case}: max abs diff <= ${BOUND.max}`, async () => {
      const { mean, max } = await parity(golden);
      assert.ok(mean <= BOUND.mean && max <= BOUND.max, `${golden.case}: mean ${mean}, max ${max}`);
    });
  }
});
