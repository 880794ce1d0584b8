/**
 * Sites whose first dimension folds the batch with k rows per image (windowed attention writes
 * batch x windows, image-major): masks keyed per (seed, image, pass, site) over the image's own k rows.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { McModel } from '../../src/engine/mc-model.js';
import { ModelError } from '../../src/errors.js';
import type { NodeProto } from '../../src/model/onnx.js';
import { buildModel, dropoutNode, floatTensor, int64Tensor, scalarBool, scalarFloat, testValues } from '../helpers/graphs.js';
import { writeModel } from '../helpers/files.js';

const CLASSES = 3;
const W = floatTensor('W', [12, CLASSES], testValues(12 * CLASSES, 3));
const live = [scalarFloat('ratio', 0.4), scalarBool('training', true), W];
const flatten: NodeProto = { opType: 'Flatten', input: ['input'], output: ['flat'], attribute: [{ name: 'axis', type: 2, i: 1 }] };
const head: NodeProto = { opType: 'Gemm', input: ['restored', 'W'], output: ['output'] };
const reshape = (input: string, shape: string, output: string): NodeProto => ({ opType: 'Reshape', input: [input, shape], output: [output] });
const build = (nodes: NodeProto[], extra = [int64Tensor('pairs', [-1, 6]), int64Tensor('rows', [-1, 12])]) =>
  writeModel(buildModel({ nodes, initializers: [...live, ...extra], inputDims: ['N', 3, 2, 2], outputDims: ['N', CLASSES] }));

/** The same values as [2N, 6], image-major (each image's two rows together), dropped, and back to [N, 4]. */
const imageMajor = build([
  flatten,
  reshape('flat', 'pairs', 'windows'),
  dropoutNode('windows', 'dropped', 'ratio', 'training'),
  reshape('dropped', 'rows', 'restored'),
  head,
]);
/** The same values as [2N, 6], window-major ([2, N, 6] flattened): one image's rows lie apart. */
const windowMajor = build(
  [
    flatten,
    reshape('flat', 'split', 'by_image'),
    { opType: 'Transpose', input: ['by_image'], output: ['by_window'], attribute: [{ name: 'perm', type: 7, ints: [1, 0, 2] }] },
    reshape('by_window', 'pairs', 'windows'),
    dropoutNode('windows', 'dropped', 'ratio', 'training'),
    reshape('dropped', 'unsplit', 'back'),
    { opType: 'Transpose', input: ['back'], output: ['regrouped'], attribute: [{ name: 'perm', type: 7, ints: [1, 0, 2] }] },
    reshape('regrouped', 'rows', 'restored'),
    head,
  ],
  [int64Tensor('pairs', [-1, 6]), int64Tensor('rows', [-1, 12]), int64Tensor('split', [-1, 2, 6]), int64Tensor('unsplit', [2, -1, 6])],
);
/** input [N,3,2,2] -> [N,12] -> Dropout -> Gemm: the plain form. */
const plainModel = build([flatten, dropoutNode('flat', 'restored', 'ratio', 'training'), head]);

const images = Array.from({ length: 9 }, (_, i) => Float32Array.from(testValues(12, 100 + i)));

describe('sites whose first dimension folds the batch (batch x k, image-major)', () => {
  it('are found with k rows per image, and draw exactly the masks of the unfolded site: the same probabilities, bit for bit', async () => {
    const folded = await McModel.load(imageMajor, { device: 'cpu', threads: 1 });
    const flat = await McModel.load(plainModel, { device: 'cpu', threads: 1 });
    try {
      assert.deepEqual(
        folded.info.drawnSites.map((s) => [s.fold, s.rowShape]),
        [[2, [2, 6]]],
      );
      assert.deepEqual(
        flat.info.drawnSites.map((s) => [s.fold, s.rowShape]),
        [[1, [12]]],
      );
      const a = await folded.predict(images, { passes: 6, seed: 11 });
      const b = await flat.predict(images, { passes: 6, seed: 11 });
      assert.deepEqual(a, b);
      // and the passes differ: the masks are live
      assert.notDeepEqual(a[0]!.subarray(0, CLASSES), a[0]!.subarray(CLASSES, 2 * CLASSES));
    } finally {
      await folded.dispose();
      await flat.dispose();
    }
  });

  it('give the same bytes whatever the batch size (1, 7, 16)', async () => {
    const model = await McModel.load(imageMajor, { device: 'cpu', threads: 1 });
    try {
      const run = async (batch: number) => {
        const out: Float64Array[] = [];
        for (let s = 0; s < images.length; s += batch) out.push(...(await model.predict(images.slice(s, s + batch), { passes: 4, seed: 5 })));
        return out;
      };
      const one = await run(1);
      assert.deepEqual(await run(7), one);
      assert.deepEqual(await run(16), one);
    } finally {
      await model.dispose();
    }
  });

  it('are refused when the batch is folded window-major, saying what was found', async () => {
    await assert.rejects(
      McModel.load(windowMajor, { device: 'cpu', threads: 1 }),
      (e: unknown) =>
        e instanceof ModelError &&
        e.code === 'E_FOLDED_ORDER' &&
        /drops a tensor of shape \[4, 6\] at batch 2 whose first dimension holds 2 rows per image, but not each image's rows in one block \(image-major, as batch x windows\)/.test(
          e.message,
        ),
    );
  });

  it('a first dimension that is no whole number of rows per image is still refused', async () => {
    const shared = build([
      flatten,
      reshape('flat', 'pairs', 'windows'),
      {
        opType: 'ReduceMean',
        input: ['windows'],
        output: ['pooled'],
        attribute: [
          { name: 'axes', type: 7, ints: [0] },
          { name: 'keepdims', type: 2, i: 1 },
        ],
      },
      dropoutNode('pooled', 'dropped', 'ratio', 'training'),
      { opType: 'Add', input: ['windows', 'dropped'], output: ['summed'] },
      reshape('summed', 'rows', 'restored'),
      head,
    ]);
    await assert.rejects(
      McModel.load(shared, { device: 'cpu', threads: 1 }),
      /cannot find the batch dimension of the tensor .* drops \(shape \[1, 6\] at batch 1 and \[1, 6\] at batch 2\)/,
    );
  });
});
