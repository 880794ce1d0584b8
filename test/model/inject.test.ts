import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { convertModel, dropUnread } from '../../src/model/convert.js';
import { injectionCandidates, paddleDropouts } from '../../src/model/inject.js';
import { protoOf } from '../../src/model/graph.js';
import { decodeModel, type NodeProto, type TensorProto } from '../../src/model/onnx.js';
import { findStochasticSites } from '../../src/model/sites.js';
import { buildModel, decodeGraph, floatTensor, scalarFloat } from '../helpers/graphs.js';

const W = floatTensor(
  'W',
  [4, 3],
  Array.from({ length: 12 }, (_, i) => i / 10),
);
/** paddle2onnx's constant: a one-element vector, not a scalar. */
const vector = (name: string, value: number): TensorProto => floatTensor(name, [1], [value]);
const model = (nodes: NodeProto[], initializers: TensorProto[] = [W]) => decodeGraph(buildModel({ nodes, initializers, inputDims: ['N', 4, 1, 1] }));

/** input [N,4,1,1] -> pool -> Mul(c) -> Flatten -> Gemm(W) -> output [N,3]: Paddle's dropout before the fc. */
const paddleHead = (mul: NodeProto, c: TensorProto = vector('c', 0.8)) =>
  model(
    [
      { opType: 'GlobalAveragePool', name: 'pool', input: ['input'], output: ['pooled'] },
      mul,
      { opType: 'Flatten', name: 'flatten', input: ['dropped'], output: ['flat'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
      { opType: 'Gemm', name: 'fc', input: ['flat', 'W'], output: ['output'] },
    ],
    [W, c],
  );

describe('paddleDropouts', () => {
  it("finds Paddle's downgrade_in_infer dropout: a Mul by [c] into the classifier through a Flatten, p = 1 - c to float32's digits", () => {
    const found = paddleDropouts(paddleHead({ opType: 'Mul', name: 'p2o.Mul.5', input: ['pooled', 'c'], output: ['dropped'] }), 'output');
    assert.deepEqual(found, [{ node: 'p2o.Mul.5', input: 'pooled', output: 'dropped', keep: Math.fround(0.8), rate: 0.2 }]);
  });

  it('finds the constant on either side, and a scalar as well as a one-element vector', () => {
    const left = paddleDropouts(paddleHead({ opType: 'Mul', name: 'm', input: ['c', 'pooled'], output: ['dropped'] }, scalarFloat('c', 0.5)), 'output');
    assert.deepEqual(
      left.map((d) => [d.input, d.rate]),
      [['pooled', 0.5]],
    );
  });

  it('ignores factors outside (0, 1), a Mul of two activations, and a Mul whose result also goes elsewhere', () => {
    for (const c of [1, 0, 1.5, -0.5]) {
      assert.deepEqual(paddleDropouts(paddleHead({ opType: 'Mul', input: ['pooled', 'c'], output: ['dropped'] }, vector('c', c)), 'output'), [], `c = ${c}`);
    }
    const product = paddleHead({ opType: 'Mul', input: ['pooled', 'pooled'], output: ['dropped'] });
    assert.deepEqual(paddleDropouts(product, 'output'), []);
    // a residual: the scaled tensor is also added back, so it is layer scale, not dropout
    const residual = model(
      [
        { opType: 'Flatten', input: ['input'], output: ['x'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
        { opType: 'Mul', input: ['x', 'c'], output: ['scaled'] },
        { opType: 'Add', input: ['x', 'scaled'], output: ['sum'] },
        { opType: 'Gemm', input: ['scaled', 'W'], output: ['a'] },
        { opType: 'Gemm', input: ['sum', 'W'], output: ['b'] },
        { opType: 'Add', input: ['a', 'b'], output: ['output'] },
      ],
      [W, vector('c', 0.8)],
    );
    assert.deepEqual(paddleDropouts(residual, 'output'), []);
  });

  it("ignores GELU's Mul by 0.5 (it feeds a Mul) and attention's scale (a MatMul of two activations)", () => {
    const m = model(
      [
        { opType: 'Flatten', input: ['input'], output: ['x'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
        { opType: 'Mul', name: 'gelu_half', input: ['x', 'half'], output: ['h'] },
        { opType: 'Erf', input: ['x'], output: ['e'] },
        { opType: 'Mul', input: ['h', 'e'], output: ['g'] },
        { opType: 'Mul', name: 'attention_scale', input: ['g', 'scale'], output: ['q'] },
        { opType: 'Transpose', input: ['g'], output: ['kt'] },
        { opType: 'MatMul', input: ['q', 'kt'], output: ['scores'] },
        { opType: 'MatMul', input: ['scores', 'g'], output: ['attended'] },
        { opType: 'Gemm', input: ['attended', 'W'], output: ['output'] },
      ],
      [W, vector('half', 0.5), vector('scale', 0.125)],
    );
    assert.deepEqual(paddleDropouts(m, 'output'), []);
  });
});

describe('injectionCandidates', () => {
  it("lists the classifier's input, then pooling and flatten outputs back to the last Conv, never a Dropout's output", () => {
    const m = model(
      [
        { opType: 'Conv', name: 'conv', input: ['input', 'K'], output: ['features'] },
        { opType: 'GlobalAveragePool', name: 'pool', input: ['features'], output: ['pooled'] },
        { opType: 'Flatten', name: 'flatten', input: ['pooled'], output: ['flat'] },
        { opType: 'Gemm', name: 'fc1', input: ['flat', 'W1'], output: ['hidden'] },
        { opType: 'Relu', input: ['hidden'], output: ['relu'] },
        { opType: 'Dropout', input: ['relu', 'ratio'], output: ['dropped'] },
        { opType: 'Gemm', name: 'fc2', input: ['dropped', 'W'], output: ['output'] },
      ],
      [W, floatTensor('K', [4, 4, 1, 1], Array(16).fill(0.1)), floatTensor('W1', [4, 4], Array(16).fill(0.1)), scalarFloat('ratio', 0.5)],
    );
    assert.deepEqual(injectionCandidates(m, 'output'), [
      { tensor: 'flat', producer: 'Flatten', why: 'input of Gemm fc1' },
      { tensor: 'pooled', producer: 'GlobalAveragePool', why: 'output of GlobalAveragePool pool' },
    ]);
  });

  it('a 1x1 Conv classifier (SqueezeNet): its input, and nothing after it', () => {
    const m = model(
      [
        { opType: 'Relu', input: ['input'], output: ['features'] },
        { opType: 'Conv', name: 'final_conv', input: ['features', 'K'], output: ['maps'] },
        { opType: 'GlobalAveragePool', name: 'pool', input: ['maps'], output: ['pooled'] },
        { opType: 'Flatten', input: ['pooled'], output: ['output'] },
      ],
      [floatTensor('K', [3, 4, 1, 1], Array(12).fill(0.1))],
    );
    assert.deepEqual(injectionCandidates(m, 'output'), [{ tensor: 'features', producer: 'Relu', why: 'input of the classifier Conv final_conv' }]);
  });
});

describe('convertModel injectAt and revivePaddle', () => {
  const twoReaders = () =>
    model([
      { opType: 'Flatten', name: 'flatten', input: ['input'], output: ['flat'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
      { opType: 'Gemm', name: 'fc_a', input: ['flat', 'W'], output: ['a'] },
      { opType: 'Gemm', name: 'fc_b', input: ['flat', 'W'], output: ['b'] },
      { opType: 'Add', input: ['a', 'b'], output: ['output'] },
    ]);

  it('drops a named tensor for every reader: the mask group follows its producer, and both layers read the dropped tensor', () => {
    const { model: out, converted } = convertModel(twoReaders(), { injectAt: [{ tensor: 'flat', rate: 0.3 }], seed: 5 });
    assert.deepEqual(converted, [{ site: 'mc_dropout.site0', input: 'flat', rate: 0.3 }]);
    const nodes = protoOf(out).graph!.node!;
    assert.deepEqual(
      nodes.map((n) => n.name ?? n.opType),
      [
        'flatten',
        'mc_dropout.site0.uniform',
        'mc_dropout.site0.less',
        'mc_dropout.site0.not',
        'mc_dropout.site0.cast',
        'mc_dropout.site0.scale',
        'mc_dropout.site0.apply',
        'fc_a',
        'fc_b',
        'Add',
      ],
    );
    assert.deepEqual(nodes.find((n) => n.name === 'mc_dropout.site0.uniform')!.input, ['flat']);
    assert.deepEqual(nodes.find((n) => n.name === 'mc_dropout.site0.apply')!.input, ['flat', 'mc_dropout.site0.mask']);
    assert.deepEqual(
      nodes.filter((n) => n.opType === 'Gemm').map((n) => n.input![0]),
      ['mc_dropout.site0.output', 'mc_dropout.site0.output'],
    );
    const [site] = findStochasticSites(out);
    assert.deepEqual([site!.input, site!.rate, site!.live], ['flat', 0.3, true]);
  });

  it('drops the image input itself: the group goes first', () => {
    const { model: out } = convertModel(twoReaders(), { injectAt: [{ tensor: 'input', rate: 0.1 }] });
    const nodes = protoOf(out).graph!.node!;
    assert.equal(nodes[0]!.name, 'mc_dropout.site0.uniform');
    assert.deepEqual(nodes.find((n) => n.name === 'flatten')!.input, ['mc_dropout.site0.output']);
  });

  it('refuses a tensor the model does not have, a model output, a weight, a tensor named twice and a rate outside [0, 1)', () => {
    const cases: [{ tensor: string; rate: number }[], RegExp][] = [
      [[{ tensor: 'nope', rate: 0.2 }], /^Cannot inject dropout at nope: the model has no such tensor \(mc-dropout inspect lists the candidates\)$/],
      [[{ tensor: 'W', rate: 0.2 }], /^Cannot inject dropout at W: the model has no such tensor/],
      [[{ tensor: 'output', rate: 0.2 }], /^Cannot inject dropout at output: it is a model output; inject at a tensor before it$/],
      [
        [
          { tensor: 'flat', rate: 0.2 },
          { tensor: 'flat', rate: 0.3 },
        ],
        /^Dropout is injected at flat twice; give each tensor once$/,
      ],
      [[{ tensor: 'flat', rate: 1 }], /^Expected a rate in \[0, 1\) at flat for `injectAt` but received 1$/],
    ];
    for (const [injectAt, pattern] of cases) {
      assert.throws(
        () => convertModel(twoReaders(), { injectAt }),
        (e: unknown) => e instanceof UsageError && pattern.test(e.message),
        pattern.source,
      );
    }
  });

  it("revives Paddle's dropout as a site of rate 1 - c on the Mul's output (x * c * mask / c = x * Bernoulli(c))", () => {
    const {
      model: out,
      converted,
      revived,
    } = convertModel(paddleHead({ opType: 'Mul', name: 'p2o.Mul.5', input: ['pooled', 'c'], output: ['dropped'] }), { revivePaddle: true });
    assert.deepEqual(revived, ['p2o.Mul.5']);
    assert.deepEqual(converted, [{ site: 'mc_dropout.site0', input: 'dropped', rate: 0.2 }]);
    const keepScale = protoOf(out).graph!.initializer!.find((t) => t.name === 'mc_dropout.site0.keep_scale')!;
    assert.equal(keepScale.floatData![0], 1.25);
    assert.deepEqual(protoOf(out).graph!.node!.find((n) => n.name === 'flatten' || n.opType === 'Flatten')!.input, ['mc_dropout.site0.output']);
    // converted once, nothing is left to revive
    assert.throws(
      () => convertModel(out, { revivePaddle: true }),
      /Nothing to convert: its dropout is already in random-mask form \(setRate changes the rates\)/,
    );
  });
});

describe('dropUnread: what convert leaves behind', () => {
  it("drops the replaced Dropout's Constant nodes and unread initializers, keeps what a node or output reads and an initializer that is a graph input's default", () => {
    const built = decodeModel(
      buildModel({
        nodes: [
          { opType: 'Constant', name: 'ratio', output: ['ratio_out'], attribute: [{ name: 'value', type: 4, t: scalarFloat('v', 0.5) }] },
          { opType: 'Constant', name: 'scale', output: ['scale_out'], attribute: [{ name: 'value', type: 4, t: scalarFloat('v', 2) }] },
          { opType: 'Mul', name: 'mul', input: ['input', 'scale_out'], output: ['scaled'] },
          { opType: 'Add', name: 'add', input: ['scaled', 'bias'], output: ['output'] },
        ],
        initializers: [scalarFloat('bias', 1), scalarFloat('unread', 3), scalarFloat('default', 4), scalarFloat('output', 0)],
      }),
    );
    const graph = built.graph!;
    // 'default' is also a graph input: a value the caller may feed, with the initializer as its default
    graph.input = [...graph.input!, { name: 'default', type: graph.input![0]!.type! }];
    dropUnread(graph);
    assert.deepEqual(
      graph.node!.map((n) => n.name),
      ['scale', 'mul', 'add'],
    );
    assert.deepEqual(
      graph.initializer!.map((t) => t.name),
      ['bias', 'default', 'output'],
    );
  });
});
