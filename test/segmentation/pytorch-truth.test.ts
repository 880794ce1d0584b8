/**
 * Per-pixel MC dropout against PyTorch's own (fixtures/segmentation/pytorch_truth.py: torch 2.13,
 * 4,000 passes with torch's masks, on the same preprocessed tensors): torchvision's DeepLabV3 and
 * FCN heads exported by today's exporter, and the shipped Fashion-MNIST segmentation model.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { McModel } from '../../src/engine/mc-model.js';
import { PassReducer } from '../../src/segmentation/reduce.js';
import { resizeBilinear } from '../../src/segmentation/resample.js';
import { ROOT } from '../helpers/cli.js';
import { readNpy } from '../helpers/npy.js';

const TRUTH = path.join(ROOT, 'fixtures/segmentation/truth');
const TORCH_PASSES = 4000;
/** Our passes: enough that our own Monte Carlo error is about half of the bound's. */
const PASSES = 1000;
const MODELS: Record<string, string> = {
  'deeplabv3-tiny': 'fixtures/segmentation/deeplabv3-tiny.onnx',
  'fcn-tiny': 'fixtures/segmentation/fcn-tiny.onnx',
  'fashion-seg': 'models/fashion-seg-mc.onnx',
};

const truth = (model: string, file: string) => readNpy(path.join(TRUTH, model, file)).data;

/** Our MC over `passes` passes of one tensor: the maps, and each class's per-pass sd [C, H, W]. */
async function ours(model: McModel, input: Float32Array, passes: number, deterministic = false) {
  const map = model.info.map!;
  const reducer = new PassReducer(model.info.classes, map.height, map.width, { layout: map.layout, probabilities: false, binary: false });
  const squares = new Float64Array(model.info.classes * map.height * map.width);
  await model.forEachMapPass([input], { passes, seed: 20261207, deterministic }, (_i, _t, s) => {
    reducer.addStatistics(s.probabilities, s.entropy, s.argmax);
    for (let k = 0; k < squares.length; k++) squares[k] = squares[k]! + s.probabilities[k]! * s.probabilities[k]!;
  });
  const maps = reducer.maps();
  const sd = Float64Array.from(squares, (sq, k) => Math.sqrt(Math.max(0, (sq / passes - maps.meanProbs[k]! ** 2) * (passes / Math.max(1, passes - 1)))));
  return { maps, sd };
}

describe('segmentation maps against PyTorch (fixtures/segmentation/truth)', () => {
  for (const [name, file] of Object.entries(MODELS)) {
    it(`${name}: dropout off equals PyTorch's eval mode; the MC mean of every class at every pixel within 5 standard errors of PyTorch's MC, entropy and MI means within 3%`, async () => {
      const model = await McModel.load(path.join(ROOT, file), { allowDeterministic: true });
      try {
        assert.ok(model.hasMapStatistics);
        const pixels = model.info.map!.height * model.info.map!.width;
        for (const i of [0, 1]) {
          const input = truth(name, `input-${i}.npy`);
          // dropout off: onnxruntime against torch in float32, differences of a few 1e-6 (the fixtures measured up to 1e-5 on the logits)
          const det = (await ours(model, input, 1, true)).maps;
          const detMax = truth(name, `${i}.deterministic-max.npy`);
          for (let p = 0; p < pixels; p++) assert.ok(Math.abs(det.confidence[p]! - detMax[p]!) < 1e-4, `${name} input ${i} pixel ${p}: deterministic max`);
          if (i === 0) {
            const full = truth(name, '0.deterministic.npy');
            for (let k = 0; k < full.length; k++) assert.ok(Math.abs(det.meanProbs[k]! - full[k]!) < 1e-4, `${name} deterministic value ${k}`);
          }
          const { maps, sd } = await ours(model, input, PASSES);
          const sdMax = truth(name, `${i}.sd-max.npy`);
          // the bound of one pixel's class: 5 SE of the difference of two independent means, torch's sd
          // bounded by its largest over the classes (the fixture keeps that), plus 2e-6 for float32 sums
          const bound = (k: number, p: number) => 5 * Math.sqrt(sd[k]! ** 2 / PASSES + sdMax[p]! ** 2 / TORCH_PASSES) + 2e-6;
          const torchMax = truth(name, `${i}.mean-max.npy`);
          let worst = 0;
          for (let p = 0; p < pixels; p++) {
            const c = maps.label[p]!;
            const z = Math.abs(maps.confidence[p]! - torchMax[p]!) / bound(c * pixels + p, p);
            worst = Math.max(worst, z);
          }
          assert.ok(worst <= 1, `${name} input ${i}: the largest mean probability against torch's at ${worst.toFixed(2)} of its 5 SE bound`);
          if (i === 0) {
            const mean = truth(name, '0.mean.npy');
            let beyond = 0;
            for (let k = 0; k < mean.length; k++) if (Math.abs(maps.meanProbs[k]! - mean[k]!) > bound(k, k % pixels)) beyond++;
            assert.equal(beyond, 0, `${name}: ${beyond} of ${mean.length} class means beyond 5 SE of PyTorch's`);
          }
          // the image-level means of entropy and mutual information: within 3% of PyTorch's. Both are
          // plug-in estimates: H(mean of T passes) is biased low by O(1/T), so ours (T = 1,000) reads a
          // little lower than torch's (T = 4,000): fcn-tiny's MI 0.1008 against 0.1023 (1.4%)
          for (const [key, ourMap] of [
            ['entropy', maps.entropy],
            ['mutual-information', maps.mutualInformation],
          ] as const) {
            const theirs = truth(name, `${i}.${key}.npy`);
            const [a, b] = [ourMap.reduce((s, v) => s + v, 0) / pixels, theirs.reduce((s, v) => s + v, 0) / pixels];
            assert.ok(Math.abs(a - b) <= 0.03 * b + 1e-4, `${name} input ${i}: mean ${key} ${a} against torch's ${b}`);
          }
        }
      } finally {
        await model.dispose();
      }
    });
  }

  it("resizes mean probabilities to an image's own size as PyTorch's F.interpolate(bilinear, align_corners=False) does", () => {
    const mean = truth('fashion-seg', '0.mean.npy');
    const expected = truth('fashion-seg', '0.mean-97x53.npy');
    const resized = resizeBilinear(mean, 11, 64, 64, 97, 53);
    let worst = 0;
    for (let k = 0; k < expected.length; k++) worst = Math.max(worst, Math.abs(resized[k]! - expected[k]!));
    // float32 weights in two roundings: torch 1.13's kernel matches ours to 1.2e-7
    // (test/segmentation/resample.test.ts), torch 2.13's to 1.3e-6, about 10 ulps of values below 1
    assert.ok(worst < 2e-6, `largest difference ${worst}`);
    const argmax = truth('fashion-seg', '0.argmax-97x53.npy');
    const pixels = 97 * 53;
    for (let p = 0; p < pixels; p++) {
      let best = 0;
      for (let c = 1; c < 11; c++) if (resized[c * pixels + p]! > resized[best * pixels + p]!) best = c;
      assert.equal(best, argmax[p], `pixel ${p}`);
    }
  });
});
