import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { protoOf } from '../../src/model/graph.js';
import { findStochasticSites } from '../../src/model/sites.js';
import { rewriteSitesAsInputs } from '../../src/model/rewrite.js';
import { buildModel, decodeGraph, dropoutNode, scalarBool, scalarFloat } from '../helpers/graphs.js';

const flatten = { opType: 'Flatten', input: ['input'], output: ['flat'] };

describe('findStochasticSites', () => {
  it('reads ratio and training_mode from initializers (opset 13)', () => {
    const model = decodeGraph(
      buildModel({
        nodes: [flatten, dropoutNode('flat', 'output', 'ratio', 'training')],
        initializers: [scalarFloat('ratio', 0.3), scalarBool('training', true)],
      }),
    );
    const [site] = findStochasticSites(model);
    assert.equal(site!.op, 'Dropout');
    assert.ok(Math.abs(site!.rate - 0.3) < 1e-7);
    assert.equal(site!.live, true);
    assert.equal(site!.input, 'flat');
  });

  it('reads constants from Constant nodes', () => {
    const model = decodeGraph(
      buildModel({
        nodes: [
          { opType: 'Constant', output: ['r'], attribute: [{ name: 'value', type: 4, t: scalarFloat('', 0.2) }] },
          { opType: 'Constant', output: ['t'], attribute: [{ name: 'value', type: 4, t: scalarBool('', true) }] },
          flatten,
          dropoutNode('flat', 'output', 'r', 't'),
        ],
      }),
    );
    const [site] = findStochasticSites(model);
    assert.equal(site!.live, true);
    assert.ok(Math.abs(site!.rate - 0.2) < 1e-7);
  });

  it('marks training_mode false, absent, or opset 11 Dropout as inert with the reason', () => {
    const inertFalse = findStochasticSites(
      decodeGraph(
        buildModel({
          nodes: [flatten, dropoutNode('flat', 'output', 'ratio', 'training')],
          initializers: [scalarFloat('ratio', 0.5), scalarBool('training', false)],
        }),
      ),
    )[0]!;
    assert.equal(inertFalse.live, false);
    assert.match(inertFalse.reason, /constant false/);
    const absent = findStochasticSites(
      decodeGraph(
        buildModel({
          nodes: [flatten, dropoutNode('flat', 'output', 'ratio', undefined)],
          initializers: [scalarFloat('ratio', 0.5)],
        }),
      ),
    )[0]!;
    assert.equal(absent.live, false);
    assert.match(absent.reason, /no training_mode/);
    const old = findStochasticSites(
      decodeGraph(
        buildModel({
          opset: 11,
          nodes: [flatten, { opType: 'Dropout', input: ['flat'], output: ['output'], attribute: [{ name: 'ratio', type: 1, f: 0.25 }] }],
        }),
      ),
    )[0]!;
    assert.equal(old.live, false);
    assert.equal(old.rate, 0.25);
  });

  it('finds random ops such as RandomUniformLike and Bernoulli', () => {
    const sites = findStochasticSites(
      decodeGraph(
        buildModel({
          nodes: [flatten, { opType: 'RandomUniformLike', input: ['flat'], output: ['u'] }, { opType: 'Bernoulli', input: ['u'], output: ['output'] }],
        }),
      ),
    );
    assert.deepEqual(
      sites.map((s) => s.op),
      ['RandomUniformLike', 'Bernoulli'],
    );
    assert.ok(sites.every((s) => s.live));
  });
});

describe('rewriteSitesAsInputs', () => {
  it('replaces each Dropout with Mul by a new mask input and leaves the original untouched', () => {
    const model = decodeGraph(
      buildModel({
        nodes: [flatten, dropoutNode('flat', 'output', 'ratio', 'training')],
        initializers: [scalarFloat('ratio', 0.5), scalarBool('training', true)],
      }),
    );
    const rewritten = rewriteSitesAsInputs(model, findStochasticSites(model));
    const ops = protoOf(rewritten).graph!.node!.map((n) => n.opType);
    assert.deepEqual(ops, ['Flatten', 'Mul']);
    assert.deepEqual(protoOf(rewritten).graph!.node![1]!.input, ['flat', 'mc_dropout.mask.0']);
    assert.ok(protoOf(rewritten).graph!.input!.some((i) => i.name === 'mc_dropout.mask.0'));
    assert.deepEqual(
      protoOf(model).graph!.node!.map((n) => n.opType),
      ['Flatten', 'Dropout'],
    );
  });
});
