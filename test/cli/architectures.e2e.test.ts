import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { McModel } from '../../src/engine/mc-model.js';
import type { InspectJson } from '../../src/run/inspect.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir, writeModel } from '../helpers/files.js';
import { buildModel, dropoutNode, floatTensor, scalarBool, scalarFloat, testValues } from '../helpers/graphs.js';

const MODELS = path.join(ROOT, 'fixtures', 'models');
const model = (name: string) => path.join(MODELS, `${name}.onnx`);

async function inspect(file: string): Promise<InspectJson> {
  const { stdout } = await runCli(['inspect', file, '--json']);
  return JSON.parse(stdout) as InspectJson;
}

/** Passes of one image through mc-dropout: how many of T are distinct. */
async function distinctPasses(file: string, size: number): Promise<number> {
  const mc = await McModel.load(file, { device: 'cpu' });
  const image = Float32Array.from(testValues(3 * size * size, 3));
  const [probs] = await mc.predict([image], { passes: 10, seed: 1 });
  await mc.dispose();
  const classes = mc.info.classes;
  return new Set(Array.from({ length: 10 }, (_, t) => Array.from(probs!.subarray(t * classes, (t + 1) * classes)).join())).size;
}

/** Output of a model in plain onnxruntime (full optimization) for one image. */
async function plainOutput(bytes: Uint8Array, size: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  const image = new ort.Tensor('float32', Float32Array.from(testValues(3 * size * size, 3)), [1, 3, size, size]);
  const out = await session.run({ input: image });
  await session.release();
  return out.logits!.data as Float32Array;
}

const convert = async (input: string, args: string[]): Promise<string> => {
  const output = path.join(tempDir(), 'converted.onnx');
  const result = await runCli(['convert', input, '-o', output, ...args]);
  assert.equal(result.code, 0, result.stderr);
  return output;
};

describe('real architectures (torchvision topologies, random weights)', () => {
  it('SqueezeNet 1.1: dropout before its final conv (4-D), trunk reuse applies, passes differ', async () => {
    const report = await inspect(model('squeezenet1_1'));
    assert.deepEqual(
      report.sites.map((s) => [s.op, s.rate, s.live]),
      [['Dropout', 0.5, true]],
    );
    assert.equal(report.mc_ready, true);
    assert.equal(report.trunk_reuse?.applies, true);
    assert.ok(report.trunk_reuse.head_parameter_share < 0.02);
    // the final 1x1 conv (512 -> 10) on a 3x3 map is a sliver of SqueezeNet's multiply-accumulates
    assert.ok(
      report.trunk_reuse.head_mac_share !== null && report.trunk_reuse.head_mac_share > 0 && report.trunk_reuse.head_mac_share < 0.01,
      String(report.trunk_reuse.head_mac_share),
    );
    assert.ok((await distinctPasses(model('squeezenet1_1'), 64)) >= 9);
  });

  it('VGG-11 (narrow): two dropouts in the classifier, both live', async () => {
    const report = await inspect(model('vgg11_narrow'));
    assert.deepEqual(
      report.sites.map((s) => [s.rate, s.live]),
      [
        [0.5, true],
        [0.5, true],
      ],
    );
    assert.equal(report.mc_ready, true);
    assert.ok((await distinctPasses(model('vgg11_narrow'), 32)) >= 9);
  });

  it('MobileNetV2: dropout before the classifier', async () => {
    const report = await inspect(model('mobilenet_v2_025'));
    assert.deepEqual(
      report.sites.map((s) => [s.rate, s.live]),
      [[0.2, true]],
    );
    assert.equal(report.trunk_reuse?.applies, true);
  });

  it('a full training-mode export is flagged (BatchNorm in training mode)', async () => {
    const report = await inspect(model('mobilenet_v2_train_mode'));
    assert.ok(report.warnings.some((w) => /BatchNormalization node\(s\) were exported in training mode/.test(w)));
  });

  it('ResNet-18 (narrow, no dropout): not MC-ready; convert --inject-rate adds dropout before the fc layer', async () => {
    const before = await inspect(model('resnet18_narrow'));
    assert.equal(before.mc_ready, false);
    assert.ok(before.warnings.some((w) => /no dropout/.test(w)));
    const converted = await convert(model('resnet18_narrow'), ['--inject-rate', '0.2']);
    const after = await inspect(converted);
    assert.equal(after.mc_ready, true);
    assert.deepEqual(
      after.sites.map((s) => [s.op, s.rate, s.live]),
      [['Dropout', 0.2, true]],
    );
    assert.ok((await distinctPasses(converted, 32)) >= 9);
  });

  it('an eval-mode export (no dropout): inject at rate 0 leaves the deterministic output unchanged', async () => {
    const original = readFileSync(model('vgg11_eval_export'));
    const converted = await convert(model('vgg11_eval_export'), ['--inject-rate', '0']);
    const a = await plainOutput(original, 32);
    const b = await plainOutput(readFileSync(converted), 32);
    assert.deepEqual(Array.from(b), Array.from(a));
  });

  it('converted models stay stochastic in plain onnxruntime at full optimization (any runtime, no mc-dropout)', async () => {
    const converted = readFileSync(await convert(model('vgg11_eval_export'), ['--inject-rate', '0.3']));
    const session = await ort.InferenceSession.create(converted, { graphOptimizationLevel: 'all' });
    const image = new ort.Tensor('float32', Float32Array.from(testValues(3 * 32 * 32, 3)), [1, 3, 32, 32]);
    const outputs = new Set<string>();
    for (let i = 0; i < 10; i++) outputs.add(Array.from((await session.run({ input: image })).logits!.data as Float32Array).join());
    await session.release();
    assert.ok(outputs.size >= 9, `${outputs.size} distinct outputs of 10`);
  });

  it('convert --set-rate 0 on a live model gives exactly its dropout-off output', async () => {
    const zero = await convert(model('vgg11_narrow'), ['--set-rate', '0']);
    const zeroOutput = await plainOutput(readFileSync(zero), 32);
    const mc = await McModel.load(model('vgg11_narrow'), { device: 'cpu' });
    const [deterministic] = await mc.predictScores([Float32Array.from(testValues(3 * 32 * 32, 3))], { passes: 1, seed: 0, deterministic: true });
    await mc.dispose();
    for (let c = 0; c < 10; c++) assert.ok(Math.abs(zeroOutput[c]! - deterministic![c]!) < 1e-5, `class ${c}: ${zeroOutput[c]} vs ${deterministic![c]}`);
  });

  it('convert --live all makes inert Dropout nodes live', async () => {
    const inert = writeModel(
      buildModel({
        inputDims: ['N', 3, 2, 2],
        outputDims: ['N', 3],
        nodes: [
          { opType: 'Flatten', input: ['input'], output: ['flat'] },
          dropoutNode('flat', 'd', 'ratio', 'training'),
          { opType: 'MatMul', input: ['d', 'W'], output: ['output'] },
        ],
        initializers: [scalarFloat('ratio', 0.4), scalarBool('training', false), floatTensor('W', [12, 3], testValues(36, 1))],
      }),
    );
    assert.equal((await inspect(inert)).mc_ready, false);
    const converted = await convert(inert, ['--live', 'all']);
    const report = await inspect(converted);
    assert.equal(report.mc_ready, true);
    assert.deepEqual(
      report.sites.map((s) => [s.rate, s.live]),
      [[0.4, true]],
    );
  });

  it('convert refuses a model with nothing to convert', async () => {
    const result = await runCli(['convert', model('resnet18_narrow'), '-o', path.join(tempDir(), 'x.onnx')]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /Nothing to convert: the model has no live Dropout\. Make inert Dropout nodes live \(--live all\), add dropout before the classifier \(--inject-rate\) or at named tensors \(--inject-at\)/,
    );
  });
});
