/** The ONNX schema of onnx 1.23.1: IR 10+ fields survive a rewrite, and model-local functions work or are refused. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { McModel } from '../../src/engine/mc-model.js';
import { ModelError } from '../../src/errors.js';
import { cloneModel, decodeModel, encodeModel, type FunctionProto, type NodeProto } from '../../src/model/onnx.js';
import { graphOf } from '../../src/model/graph.js';
import { rewriteSitesAsInputs } from '../../src/model/rewrite.js';
import { findStochasticSites } from '../../src/model/sites.js';
import { writeModel } from '../helpers/files.js';
import { buildModel, dropoutNode, scalarBool, scalarFloat } from '../helpers/graphs.js';

const FLOAT = 1;
const entries = (list: { key?: string | null; value?: string | null }[] | null | undefined) => (list ?? []).map(({ key, value }) => ({ key, value }));
/** local.Scale(x) = x * factor, `factor` an attribute with a default; two overloads with other defaults. */
const scale = (overload: string, factor: number): FunctionProto => ({
  name: 'Scale',
  domain: 'local',
  overload,
  input: ['x'],
  output: ['y'],
  attribute: [],
  attributeProto: [{ name: 'factor', type: FLOAT, f: factor }],
  opsetImport: [{ domain: '', version: 13 }],
  node: [
    { opType: 'Constant', output: ['k'], attribute: [{ name: 'value_float', type: FLOAT, refAttrName: 'factor' }] },
    { opType: 'Mul', input: ['x', 'k'], output: ['y'] },
  ],
});
const call = (input: string, output: string, overload: string): NodeProto => ({ opType: 'Scale', domain: 'local', overload, input: [input], output: [output] });
const flatten: NodeProto = { opType: 'Flatten', input: ['input'], output: ['flat'], attribute: [{ name: 'axis', type: 2, i: 1 }] };

/** input [N, 3, 1, 1] -> Flatten -> Dropout(0.5) -> Scale overload 'double' -> Scale overload 'triple' -> output [N, 3] */
const overloaded = buildModel({
  irVersion: 10,
  nodes: [flatten, dropoutNode('flat', 'dropped', 'ratio', 'training'), call('dropped', 'doubled', 'double'), call('doubled', 'output', 'triple')],
  initializers: [scalarFloat('ratio', 0.5), scalarBool('training', true)],
  functions: [scale('double', 2), scale('triple', 3)],
});

describe('ONNX schema (onnx 1.23.1, IR 14)', () => {
  it('keeps IR 10 fields through decode, clone and encode: overloads, attribute defaults, node and graph metadata', () => {
    const model = decodeModel(overloaded);
    model.graph!.node![1]!.metadataProps = [{ key: 'source', value: 'torch.nn.Dropout' }];
    model.graph!.metadataProps = [{ key: 'pkg.torch', value: '2.13' }];
    const again = decodeModel(encodeModel(cloneModel(decodeModel(encodeModel(model)))));
    assert.deepEqual(
      again.functions!.map((f) => [f.overload, f.attributeProto![0]!.f]),
      [
        ['double', 2],
        ['triple', 3],
      ],
    );
    assert.deepEqual(
      again.graph!.node!.map((n) => n.overload ?? ''),
      ['', '', 'double', 'triple'],
    );
    assert.deepEqual(entries(again.graph!.node![1]!.metadataProps), [{ key: 'source', value: 'torch.nn.Dropout' }]);
    assert.deepEqual(entries(again.graph!.metadataProps), [{ key: 'pkg.torch', value: '2.13' }]);
    const rewritten = decodeModel(rewriteSitesAsInputs(graphOf(model), findStochasticSites(graphOf(model))).encode());
    assert.deepEqual(
      rewritten.functions!.map((f) => f.overload),
      ['double', 'triple'],
    );
    assert.deepEqual(entries(rewritten.graph!.metadataProps), [{ key: 'pkg.torch', value: '2.13' }]);
  });

  it('runs a model whose functions have a default attribute and two overloads: each call runs its own overload', async () => {
    const model = await McModel.load(writeModel(overloaded), { device: 'cpu' });
    try {
      const x = new Float32Array([1, -2, 0.5]);
      const [eval_] = await model.predictScores([x], { passes: 1, seed: 1, deterministic: true });
      assert.deepEqual(Array.from(eval_!), [6, -12, 3]);
      const [passes] = await model.predictScores([x], { passes: 20, seed: 1 });
      // dropout 0.5 keeps a unit at scale 2: each score is 0 or 12 * x
      for (let i = 0; i < passes!.length; i++) assert.ok(passes![i] === 0 || passes![i] === 12 * x[i % 3]!, `score ${passes![i]}`);
    } finally {
      await model.dispose();
    }
  });

  it('refuses a Dropout inside a model-local function, naming the function', async () => {
    const inner: FunctionProto = {
      name: 'Drop',
      domain: 'local',
      input: ['x'],
      output: ['y'],
      opsetImport: [{ domain: '', version: 13 }],
      node: [
        { opType: 'Constant', output: ['r'], attribute: [{ name: 'value', type: 4, t: scalarFloat('', 0.5) }] },
        { opType: 'Constant', output: ['t'], attribute: [{ name: 'value', type: 4, t: scalarBool('', true) }] },
        { opType: 'Dropout', name: 'hidden', input: ['x', 'r', 't'], output: ['y'] },
      ],
    };
    const file = writeModel(
      buildModel({
        irVersion: 10,
        nodes: [flatten, { opType: 'Drop', domain: 'local', input: ['flat'], output: ['output'] }],
        functions: [inner],
      }),
    );
    await assert.rejects(
      McModel.load(file, { device: 'cpu' }),
      (error: unknown) => error instanceof ModelError && error.code === 'E_NESTED_STOCHASTIC' && /Dropout hidden in function local\.Drop/.test(error.message),
    );
  });

  it('refuses a Dropout inside an If subgraph, naming the branch', async () => {
    const branch = (name: string, nodes: NodeProto[]) => ({ name, node: nodes, output: [{ name: `${name}_out` }] });
    const file = writeModel(
      buildModel({
        nodes: [
          flatten,
          { opType: 'Constant', output: ['cond'], attribute: [{ name: 'value', type: 4, t: scalarBool('', true) }] },
          { opType: 'Constant', output: ['r'], attribute: [{ name: 'value', type: 4, t: scalarFloat('', 0.5) }] },
          {
            opType: 'If',
            name: 'gate',
            input: ['cond'],
            output: ['output'],
            attribute: [
              { name: 'then_branch', type: 5, g: branch('then', [{ opType: 'Dropout', name: 'inside', input: ['flat', 'r', 'cond'], output: ['then_out'] }]) },
              { name: 'else_branch', type: 5, g: branch('else', [{ opType: 'Identity', input: ['flat'], output: ['else_out'] }]) },
            ],
          },
        ],
      }),
    );
    await assert.rejects(McModel.load(file, { device: 'cpu' }), /Dropout inside in the then_branch subgraph of If gate/);
  });

  it('refuses a random op whose numbers do not follow the batch (a fixed-shape RandomUniform)', async () => {
    const file = writeModel(
      buildModel({
        nodes: [
          flatten,
          {
            opType: 'RandomUniform',
            name: 'fixed',
            output: ['u'],
            attribute: [
              { name: 'shape', type: 7, ints: [1, 3] },
              { name: 'dtype', type: 2, i: FLOAT },
            ],
          },
          { opType: 'Mul', input: ['flat', 'u'], output: ['output'] },
        ],
      }),
    );
    await assert.rejects(
      McModel.load(file, { device: 'cpu' }),
      /RandomUniform fixed draws a tensor of shape \[1, 3\] whose first dimension does not follow the batch/,
    );
  });
});
