import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide, describeDecision, dropDecisionOf } from '../../src/model/drop-decisions.js';
import { DataType, type NodeProto, type TensorProto } from '../../src/model/onnx.js';
import { describeRandomSite } from '../../src/model/random-layers.js';
import { findStochasticSites } from '../../src/model/sites.js';
import { buildModel, decodeGraph, dropoutNode, scalarBool, scalarFloat } from '../helpers/graphs.js';

const PER_SAMPLE = [1, 1, 1];
const ones = { opType: 'Shape', input: ['input'], output: ['shape'] };

/** The decision of the one site of a graph of `nodes` (the draws u come from RandomUniformLike(input) unless the nodes say otherwise). */
function decisionOf(nodes: NodeProto[], initializers: TensorProto[] = [], rowShape = PER_SAMPLE, drawType: number = DataType.FLOAT) {
  const model = decodeGraph(buildModel({ nodes, initializers, opset: 15, inputDims: ['N', 1, 1, 1], outputDims: ['N', 1, 1, 1] }));
  const [site] = findStochasticSites(model);
  return dropDecisionOf(model, site!, rowShape, drawType);
}
const uniform: NodeProto = { opType: 'RandomUniformLike', input: ['input'], output: ['u'] };
const castTo = (input: string): NodeProto => ({ opType: 'Cast', input: [input], output: ['output'], attribute: [{ name: 'to', type: 2, i: DataType.FLOAT }] });

describe('dropDecisionOf', () => {
  it('a comparison of u with a constant, either side, with the constant as it is stored (float32)', () => {
    for (const op of ['Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual'] as const) {
      const after = decisionOf([uniform, { opType: op, input: ['u', 'keep'], output: ['hit'] }, castTo('hit')], [scalarFloat('keep', 0.9)]);
      assert.deepEqual(after, { kind: 'compare', op, threshold: Math.fround(0.9), drawFirst: true });
      const before = decisionOf([uniform, { opType: op, input: ['keep', 'u'], output: ['hit'] }, castTo('hit')], [scalarFloat('keep', 0.9)]);
      assert.deepEqual(before, { kind: 'compare', op, threshold: Math.fround(0.9), drawFirst: false });
    }
  });

  it('a threshold written as ConstantOfShape(keep) or Expand(keep) (torch full(shape, keep)), and a ConstantOfShape without value (zeros)', () => {
    const fill = (value?: number): NodeProto => ({
      opType: 'ConstantOfShape',
      input: ['shape'],
      output: ['full'],
      ...(value !== undefined && { attribute: [{ name: 'value', type: 4, t: { dataType: DataType.FLOAT, dims: [1], floatData: [value] } }] }),
    });
    const less: NodeProto = { opType: 'Less', input: ['u', 'full'], output: ['hit'] };
    assert.deepEqual(decisionOf([ones, fill(0.75), uniform, less, castTo('hit')]), { kind: 'compare', op: 'Less', threshold: 0.75, drawFirst: true });
    assert.deepEqual(decisionOf([ones, fill(), uniform, less, castTo('hit')]), { kind: 'compare', op: 'Less', threshold: 0, drawFirst: true });
    const expand: NodeProto = { opType: 'Expand', input: ['keep', 'shape'], output: ['full'] };
    assert.deepEqual(decisionOf([ones, expand, uniform, less, castTo('hit')], [scalarFloat('keep', 0.5)]), {
      kind: 'compare',
      op: 'Less',
      threshold: 0.5,
      drawFirst: true,
    });
  });

  it('Floor(u + keep) (Hugging Face) and Bernoulli(p) with one p; a Dropout on one value per sample decides by its mask', () => {
    const add: NodeProto = { opType: 'Add', input: ['keep', 'u'], output: ['sum'] };
    assert.deepEqual(decisionOf([uniform, add, { opType: 'Floor', input: ['sum'], output: ['output'] }], [scalarFloat('keep', 0.75)]), {
      kind: 'floor',
      offset: 0.75,
    });
    const bernoulli: NodeProto = { opType: 'Bernoulli', input: ['p'], output: ['output'] };
    const p = { name: 'p', dataType: DataType.FLOAT, dims: [1, 1, 1, 1], floatData: [0.8] };
    assert.deepEqual(decisionOf([bernoulli], [p]), { kind: 'compare', op: 'Less', threshold: Math.fround(0.8), drawFirst: true });
    const dropout = dropoutNode('input', 'output', 'ratio', 'training');
    assert.deepEqual(decisionOf([dropout], [scalarFloat('ratio', 0.1), scalarBool('training', true)]), { kind: 'mask' });
  });

  it('none where u is read twice or otherwise, the constant is not float32 or not one value, the draws are not one per sample, or float16', () => {
    const keep = [scalarFloat('keep', 0.9)];
    const less: NodeProto = { opType: 'Less', input: ['u', 'keep'], output: ['hit'] };
    // u also read by an Add: the tensors after the site depend on u itself
    assert.equal(
      decisionOf([uniform, less, { opType: 'Add', input: ['u', 'hit_f'], output: ['output'] }, { ...castTo('hit'), output: ['hit_f'] }], keep),
      undefined,
    );
    assert.equal(decisionOf([uniform, { opType: 'Mul', input: ['u', 'keep'], output: ['output'] }], keep), undefined);
    // Add without Floor after it
    assert.equal(decisionOf([uniform, { opType: 'Add', input: ['u', 'keep'], output: ['output'] }], keep), undefined);
    // Less(u, u) has no constant
    assert.equal(decisionOf([uniform, { opType: 'Less', input: ['u', 'u'], output: ['hit'] }, castTo('hit')]), undefined);
    const double = [{ name: 'keep', dataType: DataType.DOUBLE, dims: [], doubleData: [0.9] }];
    assert.equal(decisionOf([uniform, less, castTo('hit')], double), undefined);
    const two = [{ name: 'keep', dataType: DataType.FLOAT, dims: [2], floatData: [0.9, 0.8] }];
    assert.equal(decisionOf([uniform, less, castTo('hit')], two), undefined);
    assert.equal(decisionOf([uniform, less, castTo('hit')], keep, [1, 2, 2]), undefined);
    assert.equal(decisionOf([uniform, less, castTo('hit')], keep, PER_SAMPLE, DataType.FLOAT16), undefined);
    const dropout = dropoutNode('input', 'output', 'ratio', 'training');
    assert.equal(decisionOf([dropout], [scalarFloat('ratio', 0.1), scalarBool('training', true)], [4, 1, 1]), undefined);
  });
});

describe('decide', () => {
  it('compares exactly, on both sides of the threshold and at it', () => {
    const t = Math.fround(0.9);
    const below = Math.fround(0.8999999);
    const rule = (op: 'Less' | 'Greater' | 'LessOrEqual' | 'GreaterOrEqual', drawFirst = true) => ({ kind: 'compare' as const, op, threshold: t, drawFirst });
    assert.deepEqual(
      [below, t].map((u) => decide(rule('Less'), u)),
      [1, 0],
    );
    assert.deepEqual(
      [below, t].map((u) => decide(rule('LessOrEqual'), u)),
      [1, 1],
    );
    assert.deepEqual(
      [below, t].map((u) => decide(rule('Greater'), u)),
      [0, 0],
    );
    assert.deepEqual(
      [below, t].map((u) => decide(rule('GreaterOrEqual'), u)),
      [0, 1],
    );
    // threshold first: 0.9 > u
    assert.deepEqual(
      [below, t].map((u) => decide(rule('Greater', false), u)),
      [1, 0],
    );
  });

  it('Floor(u + offset) rounds the sum to float32 first, as the graph adds', () => {
    const floor = { kind: 'floor' as const, offset: 0.75 };
    assert.equal(decide(floor, 0.25), 1);
    assert.equal(decide(floor, Math.fround(0.2499999)), 0);
    // 0.25 - 2^-26 is a float32 below 0.25; 0.75 + it rounds to 1 in float32 (ulp(1) / 2 = 2^-24 > 2^-26), not 0.99999998
    assert.equal(decide(floor, 0.25 - 2 ** -26), 1);
    assert.equal(Math.floor(0.75 + (0.25 - 2 ** -26)), 0);
  });

  it('a mask decides by its value; descriptions name the rule', () => {
    assert.equal(decide({ kind: 'mask' }, 0), 0);
    assert.equal(decide({ kind: 'mask' }, 1.25), 1.25);
    assert.equal(describeDecision({ kind: 'compare', op: 'GreaterOrEqual', threshold: Math.fround(0.1), drawFirst: true }), 'u >= 0.1');
    assert.equal(describeDecision({ kind: 'compare', op: 'Greater', threshold: 0.9, drawFirst: false }), '0.9 > u');
    assert.equal(describeDecision({ kind: 'floor', offset: Math.fround(0.9) }), 'Floor(u + 0.9)');
  });
});

describe('describeRandomSite names every per-sample comparison DropPath, its rate the chance the branch drops', () => {
  it('Greater(keep, u), u >= rate, a threshold outside [0, 1]', () => {
    const describe = (nodes: NodeProto[], keep: number) => {
      const model = decodeGraph(buildModel({ nodes, initializers: [scalarFloat('keep', keep)], inputDims: ['N', 1, 1, 1], outputDims: ['N', 1, 1, 1] }));
      const [site] = findStochasticSites(model);
      const { name, rate, detail } = describeRandomSite(model, site!, PER_SAMPLE);
      return { name, rate, detail };
    };
    const compared = (op: string, inputs: string[]) => [uniform, { opType: op, input: inputs, output: ['hit'] }, castTo('hit')];
    assert.deepEqual(describe(compared('Greater', ['keep', 'u']), 0.92), { name: 'DropPath', rate: 0.08, detail: '0.92 > u, one draw per sample' });
    assert.deepEqual(describe(compared('GreaterOrEqual', ['u', 'keep']), 0.1), { name: 'DropPath', rate: 0.1, detail: 'u >= 0.1, one draw per sample' });
    assert.deepEqual(describe(compared('LessOrEqual', ['keep', 'u']), 0.25), { name: 'DropPath', rate: 0.25, detail: '0.25 <= u, one draw per sample' });
    // u < -0.5 never holds, u < 1.5 always: rates 1 and 0, never 1.5
    assert.equal(describe(compared('Less', ['u', 'keep']), -0.5).rate, 1);
    assert.equal(describe(compared('Less', ['u', 'keep']), 1.5).rate, 0);
  });
});
