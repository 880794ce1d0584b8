/** A segmentation model through the engine: its map recognised, its passes one row at a time, the maps from files. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { McModel } from '../../src/engine/mc-model.js';
import { buildModel, decodeGraph, dropoutNode, floatTensor, scalarBool, scalarFloat, segmentationModel, testValues } from '../helpers/graphs.js';
import { PassReducer } from '../../src/segmentation/reduce.js';
import { describeIo } from '../../src/model/signature.js';
import { readMetadata } from '../../src/model/metadata.js';

const H = 3;
const W = 4;
const CLASSES = 5;
const weights = testValues(CLASSES * 3, 7);
const image = Float32Array.from(testValues(3 * H * W, 11));

/** The class-c score at pixel p, by the model's formula (not by onnxruntime). */
function score(c: number, p: number): number {
  let sum = 0;
  for (let k = 0; k < 3; k++) sum += Math.fround(weights[c * 3 + k]!) * image[k * H * W + p]!;
  return sum;
}

describe('a segmentation model in the engine', () => {
  it('is read as a class-score map [N, C, H, W] with the map size the graph declares, or that a run tells', async () => {
    for (const dynamicMap of [false, true]) {
      const bytes = segmentationModel(0.5, H, W, weights, CLASSES, dynamicMap);
      const io = describeIo(decodeGraph(bytes), 'seg.onnx', readMetadata(decodeGraph(bytes), 'seg.onnx'));
      assert.equal(io.classes, CLASSES);
      assert.deepEqual(io.map, { layout: 'NCHW', height: dynamicMap ? -1 : H, width: dynamicMap ? -1 : W, binary: false });
      const model = await McModel.load(bytes);
      try {
        assert.deepEqual(model.info.map, { layout: 'NCHW', height: H, width: W, binary: false });
        assert.equal(model.outputRowSize, CLASSES * H * W);
      } finally {
        await model.dispose();
      }
    }
  });

  it('hands over each pass as a [C, H, W] row: dropout off gives the scores; each MC pass keeps or doubles every element (p = 0.5)', async () => {
    const model = await McModel.load(segmentationModel(0.5, H, W, weights, CLASSES));
    try {
      const det: Float32Array[] = [];
      await model.forEachPass([image], { passes: 1, seed: 1, deterministic: true }, (_i, _t, row) => det.push(row.slice()));
      assert.equal(det.length, 1);
      for (let c = 0; c < CLASSES; c++) for (let p = 0; p < H * W; p++) assert.ok(Math.abs(det[0]![c * H * W + p]! - score(c, p)) < 1e-5);
      const seen: [number, number][] = [];
      let dropped = 0;
      await model.forEachPass([image, image], { passes: 4, seed: 1 }, (i, t, row) => {
        seen.push([i, t]);
        for (let e = 0; e < row.length; e++) {
          const base = det[0]![e]!;
          if (row[e] === 0) dropped++;
          else assert.ok(Math.abs(row[e]! - 2 * base) < 1e-5, `element ${e} is ${row[e]}, neither 0 nor 2 x ${base}`);
        }
      });
      assert.deepEqual(seen.sort(), [0, 1].flatMap((i) => [0, 1, 2, 3].map((t) => [i, t] as [number, number])).sort());
      // 8 passes x 60 elements at p = 0.5: 240 expected, sd 11; 6 sd either side fails with probability < 1e-8
      assert.ok(Math.abs(dropped - 240) < 66, `${dropped} of 480 dropped`);
    } finally {
      await model.dispose();
    }
  });

  it('a map ending in Softmax is read as probabilities (onnxruntime skips the softmax); a binary [N, 1, H, W] map as two classes through a sigmoid, reduced in JavaScript', async () => {
    const softmax = await McModel.load(
      buildModel({
        inputDims: ['N', 3, H, W],
        outputDims: ['N', CLASSES, H, W],
        nodes: [
          { opType: 'Conv', input: ['input', 'W'], output: ['scores'] },
          dropoutNode('scores', 'dropped', 'ratio', 'training'),
          { opType: 'Softmax', input: ['dropped'], output: ['output'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
        ],
        initializers: [scalarFloat('ratio', 0.5), scalarBool('training', true), floatTensor('W', [CLASSES, 3, 1, 1], weights)],
      }),
    );
    const plain = await McModel.load(segmentationModel(0.5, H, W, weights, CLASSES));
    try {
      assert.equal(softmax.info.outputIsProbabilities, true);
      const kind = (probabilities: boolean) => ({ layout: 'NCHW' as const, probabilities, binary: false });
      const [a, b] = [new PassReducer(CLASSES, H, W, kind(true)), new PassReducer(CLASSES, H, W, kind(false))];
      await softmax.forEachMapPass([image], { passes: 5, seed: 8 }, (_i, _t, st) => a.addStatistics(st.probabilities, st.entropy, st.argmax));
      await plain.forEachPass([image], { passes: 5, seed: 8 }, (_i, _t, row) => b.add(row));
      // the same masks (same sites, seed, image): the same maps up to float32 softmax rounding
      const [ma, mb] = [a.maps(), b.maps()];
      for (let k = 0; k < ma.meanProbs.length; k++) assert.ok(Math.abs(ma.meanProbs[k]! - mb.meanProbs[k]!) < 1e-6);
      for (let p = 0; p < H * W; p++) assert.ok(Math.abs(ma.mutualInformation[p]! - mb.mutualInformation[p]!) < 1e-5);
    } finally {
      await softmax.dispose();
      await plain.dispose();
    }
    const binary = await McModel.load(segmentationModel(0.5, H, W, weights.slice(0, 3), 1));
    try {
      assert.deepEqual(binary.info.map, { layout: 'NCHW', height: H, width: W, binary: true });
      assert.equal(binary.info.classes, 2);
      assert.equal(binary.hasMapStatistics, false);
      const reducer = new PassReducer(2, H, W, { layout: 'NCHW', probabilities: false, binary: true });
      await binary.forEachPass([image], { passes: 1, seed: 1, deterministic: true }, (_i, _t, row) => reducer.add(row));
      const maps = reducer.maps();
      for (let p = 0; p < H * W; p++) {
        const one = 1 / (1 + Math.exp(-score(0, p)));
        assert.ok(Math.abs(maps.meanProbs[H * W + p]! - one) < 1e-6, `pixel ${p}: p(class 1) is the sigmoid of its score`);
      }
    } finally {
      await binary.dispose();
    }
  });

  it('refuses a 4-D output whose class dimension is symbolic, saying how to export it (torch 1.13 after a Resize writes such shapes)', () => {
    const bytes = buildModel({
      inputDims: ['N', 3, H, W],
      outputDims: ['N', 'C', 'H', 'W'],
      nodes: [{ opType: 'Conv', input: ['input', 'W'], output: ['output'] }],
      initializers: [floatTensor('W', [CLASSES, 3, 1, 1], weights)],
    });
    assert.throws(
      () => describeIo(decodeGraph(bytes), 'seg.onnx', readMetadata(decodeGraph(bytes), 'seg.onnx')),
      /seg\.onnx: expected .* has shape \[N, C, H, W\]: its class dimension is not a fixed number\. Export with only the batch dynamic/,
    );
  });

  it('refuses to read a map as per-image class probabilities', async () => {
    const model = await McModel.load(segmentationModel(0.5, H, W, weights, CLASSES));
    try {
      await assert.rejects(
        model.predict([image], { passes: 2, seed: 1 }),
        /segmentation model \(a class-score map, 3x4\): predict reads class probabilities per image/,
      );
      assert.throws(() => model.adaptivePool(1, { maxPasses: 10, minPasses: 2, tolerance: 0.01 } as never), /adaptive T/);
    } finally {
      await model.dispose();
    }
  });

  it("computes the same maps from onnxruntime's per-pass statistics as from the raw scores reduced in JavaScript (NCHW and NHWC)", async () => {
    for (const layout of ['NCHW', 'NHWC'] as const) {
      const bytes = layout === 'NCHW' ? segmentationModel(0.5, H, W, weights, CLASSES) : nhwcSegmentationModel();
      const model = await McModel.load(bytes);
      try {
        assert.equal(model.hasMapStatistics, true);
        const kind = { layout, probabilities: false, binary: false };
        const [raw, stats] = [new PassReducer(CLASSES, H, W, kind), new PassReducer(CLASSES, H, W, kind)];
        const input = layout === 'NCHW' ? image : toNhwc(image);
        await model.forEachPass([input], { passes: 6, seed: 4 }, (_i, _t, row) => raw.add(row));
        await model.forEachMapPass([input], { passes: 6, seed: 4 }, (_i, _t, s) => stats.addStatistics(s.probabilities, s.entropy, s.argmax));
        const [a, b] = [raw.maps(), stats.maps()];
        // float32 softmax and entropy in onnxruntime against float64 here: a few float32 ulps
        for (let i = 0; i < a.meanProbs.length; i++) assert.ok(Math.abs(a.meanProbs[i]! - b.meanProbs[i]!) < 1e-6, `${layout} mean ${i}`);
        for (let p = 0; p < H * W; p++) {
          assert.ok(Math.abs(a.entropy[p]! - b.entropy[p]!) < 1e-5, `${layout} entropy ${p}`);
          assert.ok(Math.abs(a.mutualInformation[p]! - b.mutualInformation[p]!) < 1e-5, `${layout} MI ${p}`);
          assert.equal(a.variationRatio![p], b.variationRatio![p], `${layout} votes ${p}`);
        }
        assert.deepEqual(b.label, a.label);
      } finally {
        await model.dispose();
      }
    }
  });
});

/** The image as NHWC. */
function toNhwc(nchw: Float32Array): Float32Array {
  const out = new Float32Array(nchw.length);
  for (let c = 0; c < 3; c++) for (let p = 0; p < H * W; p++) out[p * 3 + c] = nchw[c * H * W + p]!;
  return out;
}

/** segmentationModel's NHWC twin: [N, H, W, 3] in, [N, H, W, C] out (a MatMul by W^T over the last axis, then Dropout). */
function nhwcSegmentationModel(): Uint8Array {
  const transposed = [...Array(3 * CLASSES).keys()].map((i) => weights[(i % CLASSES) * 3 + Math.floor(i / CLASSES)]!);
  return buildModel({
    inputDims: ['N', H, W, 3],
    outputDims: ['N', H, W, CLASSES],
    nodes: [{ opType: 'MatMul', input: ['input', 'Wt'], output: ['scores'] }, dropoutNode('scores', 'output', 'ratio', 'training')],
    initializers: [scalarFloat('ratio', 0.5), scalarBool('training', true), floatTensor('Wt', [3, CLASSES], transposed)],
    // H is 3 too: the layout is said, not guessed from the dims
    metadata: { 'mc_dropout.layout': 'NHWC' },
  });
}
