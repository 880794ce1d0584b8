import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { McModel } from '../../src/engine/mc-model.js';
import { ModelError, UsageError } from '../../src/errors.js';
import { inspectModel } from '../../src/run/inspect.js';
import { convertModel } from '../../src/model/convert.js';
import type { NodeProto } from '../../src/model/onnx.js';
import { tempDir } from '../helpers/files.js';
import { buildModel, decodeGraph, dropoutNode, floatTensor, int64Tensor, scalarBool, scalarFloat, testValues } from '../helpers/graphs.js';

// input [N, 3, 2, 2] -> Flatten -> features [N, 12] -> Dropout(0.5) -> Gemm -> logits [N, 3]
const folder = tempDir();
const common = [floatTensor('w', [3, 12], testValues(36, 1)), scalarFloat('ratio', 0.5), scalarBool('training', true)];
const trunk: NodeProto[] = [{ opType: 'Flatten', input: ['input'], output: ['features'], attribute: [{ name: 'axis', type: 2, i: 1 }] }];
const head = (from: string, out: string): NodeProto => ({ opType: 'Gemm', input: [from, 'w'], output: [out], attribute: [{ name: 'transB', type: 2, i: 1 }] });
const write = (name: string, bytes: Uint8Array) => {
  const file = path.join(folder, `${name}.onnx`);
  writeFileSync(file, bytes);
  return file;
};
const image = Float32Array.from(testValues(12, 3));
const quiet = { device: 'cpu', threads: 1 } as const;

describe('the class-score output is chosen by what it is, not by position', () => {
  it('a feature vector first, the logits second: the logits, which the dropout reaches', async () => {
    const file = write(
      'features-first',
      buildModel({
        inputDims: ['N', 3, 2, 2],
        initializers: common,
        nodes: [...trunk, dropoutNode('features', 'dropped', 'ratio', 'training'), head('dropped', 'logits')],
        outputs: [
          { name: 'features', dims: ['N', 12] },
          { name: 'logits', dims: ['N', 3] },
        ],
      }),
    );
    const model = await McModel.load(file, quiet);
    assert.equal(model.info.outputName, 'logits');
    assert.equal(model.info.classes, 3);
    const [passes] = await model.predict([image], { passes: 20, seed: 1 });
    assert.equal(passes!.length, 20 * 3);
    await model.dispose();
    const report = await inspectModel(file);
    assert.equal(report.classifierOutput, 'logits');
    assert.equal(report.mcReady, true);
  });

  it('two class-score outputs the dropout reaches: the one named logits; neither named so: refused unless chosen by name', async () => {
    const nodes = [...trunk, dropoutNode('features', 'dropped', 'ratio', 'training'), head('dropped', 'a'), head('dropped', 'b')];
    const named = write(
      'embedding-and-logits',
      buildModel({
        inputDims: ['N', 3, 2, 2],
        initializers: common,
        nodes: [...trunk, dropoutNode('features', 'dropped', 'ratio', 'training'), head('dropped', 'embedding'), head('dropped', 'logits')],
        outputs: [
          { name: 'embedding', dims: ['N', 3] },
          { name: 'logits', dims: ['N', 3] },
        ],
      }),
    );
    assert.equal((await McModel.load(named, quiet)).info.outputName, 'logits');
    const ambiguous = write(
      'a-and-b',
      buildModel({
        inputDims: ['N', 3, 2, 2],
        initializers: common,
        nodes,
        outputs: [
          { name: 'a', dims: ['N', 3] },
          { name: 'b', dims: ['N', 3] },
        ],
      }),
    );
    await assert.rejects(
      McModel.load(ambiguous, quiet),
      (e: unknown) =>
        e instanceof ModelError &&
        e.code === 'E_AMBIGUOUS_OUTPUT' &&
        /has 2 outputs that could be class scores \(a \[N, 3\], b \[N, 3\]\); name the classifier's with `output`/.test(e.message),
    );
    assert.equal((await McModel.load(ambiguous, { ...quiet, output: 'b' })).info.outputName, 'b');
    await assert.rejects(
      McModel.load(ambiguous, { ...quiet, output: 'c' }),
      (e: unknown) => e instanceof UsageError && /has no output named 'c'; its outputs: a \[N, 3\], b \[N, 3\]/.test(e.message),
    );
  });

  it('a Dropout on a branch that never reaches the output: refused when it is the only site, a warning beside a live one', async () => {
    const dead = write(
      'dead-branch',
      buildModel({
        inputDims: ['N', 3, 2, 2],
        initializers: common,
        outputs: [{ name: 'logits', dims: ['N', 3] }],
        nodes: [...trunk, dropoutNode('features', 'unused', 'ratio', 'training', 'side_dropout'), head('features', 'logits')],
      }),
    );
    await assert.rejects(
      McModel.load(dead, quiet),
      (e: unknown) =>
        e instanceof ModelError &&
        e.code === 'E_SITES_UNREACHED' &&
        /no stochastic site reaches the output 'logits' \(Dropout side_dropout lies on branches that never reach it\), so every pass would be identical/.test(
          e.message,
        ),
    );
    const report = await inspectModel(dead);
    assert.equal(report.mcReady, false);
    assert.ok(report.warnings.includes("Dropout side_dropout never reaches the output 'logits': it changes nothing."), report.warnings.join('\n'));

    const both = write(
      'one-dead',
      buildModel({
        inputDims: ['N', 3, 2, 2],
        initializers: common,
        outputs: [{ name: 'logits', dims: ['N', 3] }],
        nodes: [
          ...trunk,
          dropoutNode('features', 'unused', 'ratio', 'training', 'side_dropout'),
          dropoutNode('features', 'dropped', 'ratio', 'training', 'head_dropout'),
          head('dropped', 'logits'),
        ],
      }),
    );
    const warnings: string[] = [];
    await (await McModel.load(both, { ...quiet, onWarning: (w) => warnings.push(w) })).dispose();
    assert.deepEqual(warnings, ["Dropout side_dropout never reaches the output 'logits': it changes nothing"]);
  });
});

describe('convert --inject-rate feeds the classifier of the class-score output', () => {
  // two heads: 'a' [N, 3], then 'aux' [N, 4] whose Gemm comes last in the graph
  const twoHeads = () =>
    decodeGraph(
      buildModel({
        inputDims: ['N', 3, 2, 2],
        initializers: [...common, floatTensor('w_aux', [4, 12], testValues(48, 2))],
        nodes: [
          ...trunk,
          { ...head('features', 'a'), name: 'head_a' },
          { opType: 'Gemm', name: 'head_aux', input: ['features', 'w_aux'], output: ['aux'], attribute: [{ name: 'transB', type: 2, i: 1 }] },
        ],
        outputs: [
          { name: 'a', dims: ['N', 3] },
          { name: 'aux', dims: ['N', 4] },
        ],
      }),
    );

  it('the Gemm on the way to the output named, not the last Gemm of the graph; two unnamed candidates are refused', () => {
    assert.equal(convertModel(twoHeads(), { injectRate: 0.1, output: 'a' }).injectedBefore, 'Gemm head_a');
    assert.equal(convertModel(twoHeads(), { injectRate: 0.1, output: 'aux' }).injectedBefore, 'Gemm head_aux');
    assert.throws(
      () => convertModel(twoHeads(), { injectRate: 0.1 }),
      (e: unknown) => e instanceof ModelError && e.code === 'E_AMBIGUOUS_OUTPUT',
    );
  });
});

describe('a final Softmax is found through shape-only ops, Identity and casts to float', () => {
  const softmaxLast = (after: NodeProto[], extra = [] as ReturnType<typeof int64Tensor>[]) =>
    buildModel({
      inputDims: ['N', 3, 2, 2],
      initializers: [...common, ...extra],
      outputs: [{ name: 'probs', dims: ['N', 3] }],
      nodes: [
        ...trunk,
        dropoutNode('features', 'dropped', 'ratio', 'training'),
        head('dropped', 'logits'),
        { opType: 'Softmax', input: ['logits'], output: [after.length ? 's' : 'probs'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
        ...after,
      ],
    });
  const variants: [string, NodeProto[], ReturnType<typeof int64Tensor>[]][] = [
    ['Identity', [{ opType: 'Identity', input: ['s'], output: ['probs'] }], []],
    ['Reshape', [{ opType: 'Reshape', input: ['s', 'shape'], output: ['probs'] }], [int64Tensor('shape', [-1, 3])]],
    ['Flatten', [{ opType: 'Flatten', input: ['s'], output: ['probs'], attribute: [{ name: 'axis', type: 2, i: 1 }] }], []],
    [
      'Unsqueeze then Squeeze',
      [
        { opType: 'Unsqueeze', input: ['s', 'axes'], output: ['u'] },
        { opType: 'Squeeze', input: ['u', 'axes'], output: ['probs'] },
      ],
      [int64Tensor('axes', [2])],
    ],
    ['Cast to float', [{ opType: 'Cast', input: ['s'], output: ['probs'], attribute: [{ name: 'to', type: 2, i: 1 }] }], []],
  ];

  it('each op: probabilities read as they are (no second softmax), the same numbers as a Softmax last', async () => {
    const reference = await McModel.load(write('softmax-last', softmaxLast([])), quiet);
    assert.equal(reference.info.outputIsProbabilities, true);
    const [expected] = await reference.predict([image], { passes: 8, seed: 4 });
    for (const [name, after, extra] of variants) {
      const model = await McModel.load(write(`softmax-${name.replace(/ /g, '-')}`, softmaxLast(after, extra)), quiet);
      assert.equal(model.info.outputIsProbabilities, true, name);
      const [passes] = await model.predict([image], { passes: 8, seed: 4 });
      assert.deepEqual(passes, expected, name);
      await model.dispose();
    }
  });

  it('a Softmax followed by an op that changes values (Mul) is logits again', async () => {
    const bytes = buildModel({
      inputDims: ['N', 3, 2, 2],
      initializers: [...common, scalarFloat('two', 2)],
      outputs: [{ name: 'probs', dims: ['N', 3] }],
      nodes: [
        ...trunk,
        dropoutNode('features', 'dropped', 'ratio', 'training'),
        head('dropped', 'logits'),
        { opType: 'Softmax', input: ['logits'], output: ['s'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
        { opType: 'Mul', input: ['s', 'two'], output: ['probs'] },
      ],
    });
    assert.equal((await McModel.load(write('softmax-times-two', bytes), quiet)).info.outputIsProbabilities, false);
  });
});
