import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InspectJson } from '../../src/run/inspect.js';
import { buildModel, dropoutNode, floatTensor, linearModel, scalarBool, scalarFloat, testValues } from '../helpers/graphs.js';
import { writeModel } from '../helpers/files.js';
import { runCli } from '../helpers/cli.js';

async function inspect(bytes: Uint8Array): Promise<{ code: number | null; report: InspectJson; text: string }> {
  const file = writeModel(bytes);
  const json = await runCli(['inspect', file, '--json']);
  const text = await runCli(['inspect', file]);
  assert.equal(json.code, text.code);
  return { code: json.code, report: JSON.parse(json.stdout) as InspectJson, text: text.stdout };
}

const W = floatTensor('W', [12, 3], testValues(36, 1));

describe('mc-dropout inspect', () => {
  it('an MC-ready model: live site with its rate, exit 0', async () => {
    const { code, report, text } = await inspect(linearModel(0.3, 2, 2, testValues(36, 2), 3));
    assert.equal(code, 0);
    assert.equal(report.mc_ready, true);
    assert.deepEqual(
      report.sites.map((s) => [s.op, s.rate, s.live]),
      [['Dropout', 0.3, true]],
    );
    assert.deepEqual(report.inputs, [{ name: 'input', type: 'float', shape: ['N', 3, 2, 2] }]);
    assert.equal(report.opset, 13);
    assert.match(text, /live  Dropout .* rate 0\.3 on flat/);
    assert.match(text, /MC-ready: yes/);
  });

  it('BatchNormalization exported in training mode is a warning', async () => {
    const { report } = await inspect(
      buildModel({
        inputDims: ['N', 3, 2, 2],
        outputDims: ['N', 3],
        nodes: [
          { opType: 'BatchNormalization', name: 'bn1', input: ['input', 's', 'b', 'm', 'v'], output: ['bn', 'running_mean', 'running_var'] },
          { opType: 'Flatten', input: ['bn'], output: ['flat'] },
          dropoutNode('flat', 'd', 'ratio', 'training'),
          { opType: 'MatMul', input: ['d', 'W'], output: ['output'] },
        ],
        initializers: [
          floatTensor('s', [3], [1, 1, 1]),
          floatTensor('b', [3], [0, 0, 0]),
          floatTensor('m', [3], [0, 0, 0]),
          floatTensor('v', [3], [1, 1, 1]),
          scalarFloat('ratio', 0.5),
          scalarBool('training', true),
          W,
        ],
      }),
    );
    assert.ok(
      report.warnings.some((w) => /BatchNormalization node\(s\) were exported in training mode \(bn1\)/.test(w)),
      report.warnings.join('\n'),
    );
  });

  it('no dropout: warning and exit 1', async () => {
    const { code, report } = await inspect(
      buildModel({
        inputDims: ['N', 3, 2, 2],
        outputDims: ['N', 3],
        nodes: [
          { opType: 'Flatten', input: ['input'], output: ['flat'] },
          { opType: 'MatMul', input: ['flat', 'W'], output: ['output'] },
        ],
        initializers: [W],
      }),
    );
    assert.equal(code, 1);
    assert.equal(report.mc_ready, false);
    assert.ok(report.warnings.some((w) => /no dropout and no random op: .*mc-dropout convert .* --inject-rate 0\.2 -o model-mc\.onnx/.test(w)));
  });

  it('inert dropout, softmax output and a static batch are reported', async () => {
    const { code, report } = await inspect(
      buildModel({
        inputDims: [1, 3, 2, 2],
        outputDims: [1, 3],
        nodes: [
          { opType: 'Flatten', input: ['input'], output: ['flat'] },
          dropoutNode('flat', 'd', 'ratio', 'training'),
          { opType: 'MatMul', input: ['d', 'W'], output: ['logits'] },
          { opType: 'Softmax', input: ['logits'], output: ['output'] },
        ],
        initializers: [scalarFloat('ratio', 0.5), scalarBool('training', false), W],
      }),
    );
    assert.equal(code, 1);
    assert.deepEqual(
      report.sites.map((s) => s.live),
      [false],
    );
    assert.ok(report.warnings.some((w) => /inert at inference; run predict with --dropout force/.test(w)));
    assert.ok(report.warnings.some((w) => /already a softmax/.test(w)));
    assert.ok(report.warnings.some((w) => /batch dimension is fixed to 1/.test(w)));
  });

  it('an input that is not an image tensor is reported', async () => {
    const { report } = await inspect(
      buildModel({
        inputDims: ['N', 12],
        outputDims: ['N', 3],
        nodes: [dropoutNode('input', 'd', 'ratio', 'training'), { opType: 'MatMul', input: ['d', 'W'], output: ['output'] }],
        initializers: [scalarFloat('ratio', 0.5), scalarBool('training', true), W],
      }),
    );
    assert.equal(report.mc_ready, false);
    assert.ok(
      report.warnings.some((w) => /expected a 4-D image input/.test(w)),
      report.warnings.join('\n'),
    );
  });
});
