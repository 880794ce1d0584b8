/**
 * `convert --mc-graph T` on models from PyTorch 2.13's torch.export-based exporter, which declares
 * value_info [batch, ...] for every tensor: the MC graph must run in onnxruntime at batch 1 and 3
 * (a declared shape left on a tiled tensor made onnxruntime re-use a buffer of batch rows for
 * T x batch rows). Segmentation: torchvision FCN and DeepLabV3 on a tiny backbone; classifier:
 * MobileNetV3 with its dropout drawn by RandomUniformLike, alone and in an ensemble.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { testValues } from '../helpers/graphs.js';

const C = 21;
const SIDE = 64;
const PIXELS = SIDE * SIDE;

async function run(file: string, batch: number): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  const input = new ort.Tensor('float32', Float32Array.from(testValues(batch * 3 * PIXELS, 11)), [batch, 3, SIDE, SIDE]);
  try {
    return await session.run({ [session.inputNames[0]!]: input });
  } finally {
    await session.release();
  }
}

async function convert(model: string, out: string, extra: string[] = []): Promise<void> {
  const made = await runCli(['convert', model, '--mc-graph', '4', '-o', out, ...extra]);
  assert.equal(made.code, 0, made.stderr);
}

/** The largest |sum over classes - 1| of `probs` [batch, classes, ...pixels], with every value finite. */
function worstSum(probs: Float32Array, batch: number, classes: number, pixels: number): number {
  let worst = 0;
  for (let i = 0; i < batch; i++) {
    for (let p = 0; p < pixels; p++) {
      let sum = 0;
      for (let c = 0; c < classes; c++) {
        const v = probs[(i * classes + c) * pixels + p]!;
        assert.ok(Number.isFinite(v), `mean[${i}, ${c}, pixel ${p}] = ${v}`);
        sum += v;
      }
      worst = Math.max(worst, Math.abs(sum - 1));
    }
  }
  return worst;
}

for (const name of ['fcn-tiny', 'deeplabv3-tiny']) {
  describe(`convert --mc-graph on ${name}.onnx (torch.export-based export, value_info for every tensor)`, () => {
    const model = path.join(ROOT, 'fixtures', 'segmentation', `${name}.onnx`);
    let dir: string;
    before(async () => {
      dir = tempDir();
      await convert(model, path.join(dir, 'mc.onnx'));
      await convert(model, path.join(dir, 'rate0.onnx'), ['--set-rate', '0']);
    });

    for (const batch of [1, 3]) {
      it(`runs at batch ${batch}: every output finite, each pixel's mean a distribution over ${C} classes`, async () => {
        const out = await run(path.join(dir, 'mc.onnx'), batch);
        assert.deepEqual(out.mean!.dims, [batch, C, SIDE, SIDE]);
        assert.ok(worstSum(out.mean!.data as Float32Array, batch, C, PIXELS) < 1e-4);
        for (const key of ['std', 'confidence', 'entropy', 'expected_entropy', 'mutual_information', 'variation_ratio', 'margin']) {
          assert.ok(
            (out[key]!.data as Float32Array).every((v) => Number.isFinite(v) && v >= 0),
            key,
          );
        }
      });

      it(`at rate 0 and batch ${batch}, the mean is the plain model's softmax and the std 0`, async () => {
        const [mc, plain] = [await run(path.join(dir, 'rate0.onnx'), batch), await run(model, batch)];
        const logits = plain.logits!.data as Float32Array;
        const mean = mc.mean!.data as Float32Array;
        let worst = 0;
        for (let i = 0; i < batch; i++) {
          for (let p = 0; p < PIXELS; p++) {
            const row = Array.from({ length: C }, (_, c) => logits[(i * C + c) * PIXELS + p]!);
            const top = Math.max(...row);
            const total = row.reduce((a, v) => a + Math.exp(v - top), 0);
            row.forEach((v, c) => (worst = Math.max(worst, Math.abs(Math.exp(v - top) / total - mean[(i * C + c) * PIXELS + p]!))));
          }
        }
        assert.ok(worst < 1e-5, `largest difference ${worst}`);
        assert.ok((mc.std!.data as Float32Array).every((v) => v < 1e-5));
      });
    }
  });
}

describe('convert --mc-graph on a torch.export-based classifier (mnv3_dropout_single.onnx)', () => {
  it('runs at batch 1 and 3: mean [batch, 5] finite, each row a distribution', async () => {
    const dir = tempDir();
    const graph = path.join(dir, 'mc.onnx');
    await convert(path.join(ROOT, 'fixtures', 'modern', 'mnv3_dropout_single.onnx'), graph);
    for (const batch of [1, 3]) {
      const out = await run(graph, batch);
      assert.deepEqual(out.mean!.dims, [batch, 5]);
      assert.ok(worstSum(out.mean!.data as Float32Array, batch, 5, 1) < 1e-5);
    }
  });

  it('as an ensemble of it and mnv3_dropout.onnx, runs at batch 1 and 3', async () => {
    const dir = tempDir();
    const graph = path.join(dir, 'ensemble.onnx');
    const made = await runCli([
      'convert',
      path.join(ROOT, 'fixtures', 'modern', 'mnv3_dropout_single.onnx'),
      path.join(ROOT, 'fixtures', 'modern', 'mnv3_dropout.onnx'),
      '--mc-graph',
      '4',
      '-o',
      graph,
    ]);
    assert.equal(made.code, 0, made.stderr);
    for (const batch of [1, 3]) {
      const out = await run(graph, batch);
      assert.deepEqual(out.mean!.dims, [batch, 5]);
      assert.ok(worstSum(out.mean!.data as Float32Array, batch, 5, 1) < 1e-5);
    }
  });
});
