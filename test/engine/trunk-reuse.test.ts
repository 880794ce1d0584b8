import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { McModel } from '../../src/engine/mc-model.js';
import { gatheredFeeds } from '../../src/engine/trunk-reuse.js';
import { ROWS_INPUT } from '../../src/model/trunk-split.js';
import type { NodeProto, TensorProto } from '../../src/model/onnx.js';
import { buildModel, dropoutNode, floatTensor, int64Tensor, scalarBool, scalarFloat, testValues } from '../helpers/graphs.js';
import { writeModel } from '../helpers/files.js';

const int = (name: string, value: number) => ({ name, type: 2, i: value });
const ints = (name: string, values: number[]) => ({ name, type: 7, ints: values });
const conv = (input: string, output: string, weight: string, pad = 1): NodeProto => ({
  opType: 'Conv',
  input: [input, weight],
  output: [output],
  attribute: [ints('pads', [pad, pad, pad, pad])],
});
const weights = (name: string, dims: number[], seed: number): TensorProto =>
  floatTensor(
    name,
    dims,
    testValues(
      dims.reduce((a, b) => a * b, 1),
      seed,
    ).map((v) => v * 0.5),
  );
const live = [scalarFloat('ratio', 0.5), scalarBool('training', true)];

/** input [N, 3, 8, 8] -> conv (W1) -> Relu -> global pooling -> 'flat' [N, 4] */
const pooledTrunk: NodeProto[] = [
  conv('input', 'c1', 'W1'),
  { opType: 'Relu', input: ['c1'], output: ['r1'] },
  { opType: 'GlobalAveragePool', input: ['r1'], output: ['gap'] },
  { opType: 'Flatten', input: ['gap'], output: ['flat'], attribute: [int('axis', 1)] },
];

const MODELS: Record<string, Uint8Array> = {
  // conv trunk, dropout on the pooled 2-D features before the classifier
  'head dropout (2-D cut)': buildModel({
    inputDims: ['N', 3, 8, 8],
    outputDims: ['N', 3],
    nodes: [...pooledTrunk, dropoutNode('flat', 'dropped', 'ratio', 'training'), { opType: 'Gemm', input: ['dropped', 'W2'], output: ['output'] }],
    initializers: [weights('W1', [4, 3, 3, 3], 1), weights('W2', [4, 3], 2), ...live],
  }),
  // SqueezeNet-style: dropout on a 4-D activation, then a final 1x1 conv and pooling
  'dropout before a final conv (4-D cut)': buildModel({
    inputDims: ['N', 3, 8, 8],
    outputDims: ['N', 3],
    nodes: [
      conv('input', 'c1', 'W1'),
      { opType: 'Relu', input: ['c1'], output: ['r1'] },
      dropoutNode('r1', 'dropped', 'ratio', 'training'),
      conv('dropped', 'c2', 'W2', 0),
      { opType: 'Relu', input: ['c2'], output: ['r2'] },
      { opType: 'GlobalAveragePool', input: ['r2'], output: ['gap'] },
      { opType: 'Flatten', input: ['gap'], output: ['output'], attribute: [int('axis', 1)] },
    ],
    initializers: [weights('W1', [4, 3, 3, 3], 3), weights('W2', [3, 4, 1, 1], 4), ...live],
  }),
  // two sites at different depths, and a reshape whose target comes from Shape (not batch-major)
  'two sites and a Shape-driven Reshape': buildModel({
    inputDims: ['N', 3, 8, 8],
    outputDims: ['N', 3],
    nodes: [
      conv('input', 'c1', 'W1'),
      { opType: 'Relu', input: ['c1'], output: ['r1'] },
      { opType: 'MaxPool', input: ['r1'], output: ['p1'], attribute: [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])] },
      dropoutNode('p1', 'd1', 'ratio', 'training', 'spatial'),
      { opType: 'Shape', input: ['p1'], output: ['shape'] },
      { opType: 'Gather', input: ['shape', 'zero'], output: ['batch'], attribute: [int('axis', 0)] },
      { opType: 'Unsqueeze', input: ['batch', 'axes'], output: ['batch1'] },
      { opType: 'Concat', input: ['batch1', 'minus1'], output: ['target'], attribute: [int('axis', 0)] },
      { opType: 'Reshape', input: ['d1', 'target'], output: ['flat'] },
      dropoutNode('flat', 'd2', 'ratio', 'training', 'head'),
      { opType: 'MatMul', input: ['d2', 'W2'], output: ['output'] },
    ],
    initializers: [
      weights('W1', [4, 3, 3, 3], 5),
      weights('W2', [64, 3], 6),
      ...live,
      { name: 'zero', dataType: 7, dims: [], int64Data: [0] },
      int64Tensor('axes', [0]),
      int64Tensor('minus1', [-1]),
    ],
  }),
  // the head pulls in a Shape chain that a trunk Reshape reads too: it must run for both
  'a Shape chain read by the trunk and the head': buildModel({
    inputDims: ['N', 3, 8, 8],
    outputDims: ['N', 3],
    nodes: [
      conv('input', 'c1', 'W1'),
      { opType: 'Relu', input: ['c1'], output: ['r1'] },
      { opType: 'MaxPool', input: ['r1'], output: ['p1'], attribute: [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])] },
      { opType: 'Shape', input: ['p1'], output: ['shape'] },
      { opType: 'Gather', input: ['shape', 'zero'], output: ['batch'], attribute: [int('axis', 0)] },
      { opType: 'Unsqueeze', input: ['batch', 'axes'], output: ['batch1'] },
      { opType: 'Concat', input: ['batch1', 'minus1'], output: ['target'], attribute: [int('axis', 0)] },
      { opType: 'Reshape', input: ['p1', 'target'], output: ['flat'] },
      { opType: 'Relu', input: ['flat'], output: ['features'] },
      dropoutNode('features', 'dropped', 'ratio', 'training'),
      { opType: 'Reshape', input: ['dropped', 'target'], output: ['again'] },
      { opType: 'MatMul', input: ['again', 'W2'], output: ['output'] },
    ],
    initializers: [
      weights('W1', [4, 3, 3, 3], 7),
      weights('W2', [64, 3], 8),
      ...live,
      { name: 'zero', dataType: 7, dims: [], int64Data: [0] },
      int64Tensor('axes', [0]),
      int64Tensor('minus1', [-1]),
    ],
  }),
};

const images = Array.from({ length: 5 }, (_, i) => Float32Array.from(testValues(3 * 8 * 8, 40 + i)));

describe('trunk reuse', () => {
  for (const [name, bytes] of Object.entries(MODELS)) {
    it(`${name}: applies, and gives the same passes as full replication`, async () => {
      const file = writeModel(bytes);
      const reused = await McModel.load(file, { device: 'cpu' });
      const full = await McModel.load(file, { device: 'cpu', trunkReuse: 'off' });
      assert.equal(reused.plan.trunkReuse, true, reused.plan.reason);
      assert.equal(full.plan.trunkReuse, false);
      const passes = 400;
      const a = await reused.predictScores(images, { passes, seed: 17 });
      const b = await full.predictScores(images, { passes, seed: 17 });
      await reused.dispose();
      await full.dispose();
      // masks depend only on (seed, image, pass, site), so every pass matches up to float rounding
      for (let i = 0; i < images.length; i++) {
        let worst = 0;
        for (let j = 0; j < a[i]!.length; j++) worst = Math.max(worst, Math.abs(a[i]![j]! - b[i]![j]!));
        assert.ok(worst < 1e-5, `image ${i}: max abs diff ${worst}`);
      }
      // and the passes are random: the per-output spread is far from zero
      const spread = Array.from({ length: 3 }, (_, c) => {
        const v = Array.from({ length: passes }, (_, t) => a[0]![t * 3 + c]!);
        const m = v.reduce((x, y) => x + y, 0) / passes;
        return Math.sqrt(v.reduce((x, y) => x + (y - m) ** 2, 0) / passes);
      });
      assert.ok(
        spread.some((s) => s > 1e-3),
        `spread ${spread}`,
      );
    });
  }

  it('the Shape-driven Reshape is pulled into the head, so the cut is the pooled activation', async () => {
    const model = await McModel.load(writeModel(MODELS['two sites and a Shape-driven Reshape']!), { device: 'cpu' });
    await model.dispose();
    assert.deepEqual(model.plan.cutTensors, ['p1']);
    assert.deepEqual(model.plan.cutShapes, [[4, 4, 4]]);
  });

  it('a Shape chain read by both sides: the head reads the features and, for its Shape, the pooled activation', async () => {
    const model = await McModel.load(writeModel(MODELS['a Shape chain read by the trunk and the head']!), { device: 'cpu' });
    await model.dispose();
    assert.deepEqual([...model.plan.cutTensors].sort(), ['features', 'p1']);
  });

  it('does not apply when a node after the cut holds a subgraph, which could read trunk tensors by name', async () => {
    // If(true): then-branch adds the pooled features (an outer-scope trunk tensor) to the dropped ones
    const branch = (name: string, node: NodeProto) => ({
      name,
      node: [node],
      output: [{ name: node.output![0]!, type: { tensorType: { elemType: 1 } } }],
    });
    const bytes = buildModel({
      inputDims: ['N', 3, 8, 8],
      outputDims: ['N', 3],
      nodes: [
        ...pooledTrunk,
        dropoutNode('flat', 'dropped', 'ratio', 'training'),
        {
          opType: 'If',
          name: 'branch',
          input: ['yes'],
          output: ['mixed'],
          attribute: [
            { name: 'then_branch', type: 5, g: branch('then', { opType: 'Add', input: ['dropped', 'flat'], output: ['then_out'] }) },
            { name: 'else_branch', type: 5, g: branch('else', { opType: 'Identity', input: ['dropped'], output: ['else_out'] }) },
          ],
        },
        { opType: 'MatMul', input: ['mixed', 'W2'], output: ['output'] },
      ],
      initializers: [weights('W1', [4, 3, 3, 3], 10), weights('W2', [4, 3], 11), ...live, scalarBool('yes', true)],
    });
    const file = writeModel(bytes);
    const model = await McModel.load(file, { device: 'cpu' });
    assert.equal(model.plan.trunkReuse, false);
    assert.match(model.plan.reason, /If node branch after the stochastic sites holds a subgraph/);
    // and the whole graph per row gives the passes of full replication
    const full = await McModel.load(file, { device: 'cpu', trunkReuse: 'off' });
    const a = await model.predictScores(images, { passes: 20, seed: 3 });
    const b = await full.predictScores(images, { passes: 20, seed: 3 });
    await model.dispose();
    await full.dispose();
    assert.deepEqual(a, b);
  });

  it('does not apply when dropout acts on the input itself', async () => {
    const bytes = buildModel({
      inputDims: ['N', 3, 2, 2],
      outputDims: ['N', 3],
      nodes: [
        dropoutNode('input', 'dropped', 'ratio', 'training'),
        { opType: 'Flatten', input: ['dropped'], output: ['flat'], attribute: [int('axis', 1)] },
        { opType: 'MatMul', input: ['flat', 'W'], output: ['output'] },
      ],
      initializers: [weights('W', [12, 3], 9), ...live],
    });
    const model = await McModel.load(writeModel(bytes), { device: 'cpu' });
    await model.dispose();
    assert.equal(model.plan.trunkReuse, false);
    assert.match(model.plan.reason, /no deterministic part/);
  });
});

describe('memory per session run', () => {
  it('on CPU the trunk runs on few images at a time (32 MiB of activations a thread), small models still batch', async () => {
    const { buildMobileNetV2 } = await import('../../bench/mobilenet.js');
    const { writeModel } = await import('../helpers/files.js');
    const { ROOT } = await import('../helpers/cli.js');
    const mobilenet = writeModel(buildMobileNetV2());
    // MobileNetV2 at 224x224 sums 12.2-13.4 M floats of activations an image: 2 threads x 8 Mi
    // floats fit one image a run; 16 threads reach the memory budget (128 Mi floats), which fits 10
    for (const [file, threads, expected] of [
      [mobilenet, 2, (n: number) => n === 1],
      [mobilenet, 16, (n: number) => n === 10],
      // the bundled 32x32 model: a 16-image batch makes one run
      [(await import('node:path')).join(ROOT, 'models/fashion-mnist-mc.onnx'), 1, (n: number) => n >= 16],
    ] as const) {
      const model = await McModel.load(file, { device: 'cpu', threads });
      try {
        assert.ok(expected(model.limits.imagesPerTrunkRun), `${file} ${threads} threads: ${model.limits.imagesPerTrunkRun} images a trunk run`);
      } finally {
        await model.dispose();
      }
    }
  });

  it('rows per run follow the activation budget (512 MiB of activations), not the size of the input', async () => {
    const file = (await import('node:path')).join((await import('../helpers/cli.js')).ROOT, 'fixtures/models/mobilenet_v2_025.onnx');
    const full = await McModel.load(file, { device: 'cpu', trunkReuse: 'off' });
    const reused = await McModel.load(file, { device: 'cpu' });
    try {
      // the 64x64 input of this fixture is 12,288 floats: the old budget of fed floats allowed 2,730 rows
      assert.ok(full.limits.rowsPerRun < 1000, `rows per run ${full.limits.rowsPerRun}`);
      assert.ok(full.limits.rowsPerRun > 1);
      // with trunk reuse the head is small: rows are cheap, and the trunk takes as many images as fit the budget
      assert.ok(reused.limits.rowsPerRun > full.limits.rowsPerRun);
      assert.ok(reused.limits.imagesPerTrunkRun < 1000, `trunk images per run ${reused.limits.imagesPerTrunkRun}`);
    } finally {
      await full.dispose();
      await reused.dispose();
    }
  });
});

describe('gatheredFeeds', () => {
  const image = (fill: number) => new Float32Array(6).fill(fill);
  const shapes = new Map([['input', [1, 2, 3]]]);

  it('feeds a run of one image its own tensor, not a copy, with every row on slot 0', () => {
    const tensors = [image(1), image(2), image(3)];
    const rows = [0, 1, 2].map((pass) => ({ image: 2, pass, index: pass }));
    const feeds = gatheredFeeds(rows, new Map([['input', tensors]]), shapes);
    assert.equal(feeds.input!.data, tensors[2]);
    assert.deepEqual(feeds.input!.dims, [1, 1, 2, 3]);
    assert.deepEqual([...(feeds[ROWS_INPUT]!.data as BigInt64Array)], [0n, 0n, 0n]);
  });

  it('stacks several images once each, in the order the rows first use them', () => {
    const tensors = [image(1), image(2), image(3)];
    const rows = [
      { image: 2, pass: 0, index: 0 },
      { image: 0, pass: 0, index: 0 },
      { image: 2, pass: 1, index: 1 },
    ];
    const feeds = gatheredFeeds(rows, new Map([['input', tensors]]), shapes);
    assert.deepEqual([...(feeds.input!.data as Float32Array)], [...image(3), ...image(1)]);
    assert.deepEqual(feeds.input!.dims, [2, 1, 2, 3]);
    assert.deepEqual([...(feeds[ROWS_INPUT]!.data as BigInt64Array)], [0n, 1n, 0n]);
  });
});
