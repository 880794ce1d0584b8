/**
 * `convert --mc-graph T` on segmentation models written here (a 1x1 conv and dropout): the file's
 * outputs are per-pixel maps, run by onnxruntime-node with every optimization on; inspect describes
 * the graph, predict refuses it, and an ensemble of maps is refused. The values themselves are
 * checked in test/model/mc-graph-maps.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { decodeModel } from '../../src/model/onnx.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir, writeModel } from '../helpers/files.js';
import { segmentationModel, testValues } from '../helpers/graphs.js';

const H = 6;
const W = 7;
const B = 2;

let dir: string;
let model: string;
let graph: string;

async function runGraph(file: string, feeds: Record<string, ort.Tensor> = {}): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  const input = new ort.Tensor('float32', Float32Array.from(testValues(B * 3 * H * W, 3)), [B, 3, H, W]);
  const out = await session.run({ [session.inputNames[0]!]: input, ...feeds });
  await session.release();
  return out;
}

describe('convert --mc-graph on a segmentation model', () => {
  before(async () => {
    dir = tempDir();
    model = writeModel(segmentationModel(0.5, H, W, testValues(12, 5), 4), 'seg.onnx', dir);
    graph = path.join(dir, 'seg-mc.onnx');
    const made = await runCli(['convert', model, '--mc-graph', '8', '-o', graph]);
    assert.equal(made.code, 0, made.stderr);
    assert.match(
      made.stderr,
      /wrote .*seg-mc\.onnx: the MC graph for T=8 \(per-pixel outputs mean, std \[batch, C, H, W\], label, confidence, entropy, expected_entropy, mutual_information, variation_ratio, margin \[batch, H, W\]\); random-mask dropout at mc_dropout\.site0 on scores \(p=0\.5\)/,
    );
  });

  it('writes per-pixel outputs: mean and std float32 [B, 4, H, W], label int64 [B, H, W], the rest float32 [B, H, W]; the conv runs once per image (only its scores are tiled)', async () => {
    const tiles = (decodeModel(readFileSync(graph)).graph!.node ?? []).filter((node) => node.opType === 'Tile');
    assert.deepEqual(
      tiles.map((t) => t.input![0]),
      ['scores'],
    );
    const out = await runGraph(graph);
    const shapes = Object.fromEntries(Object.entries(out).map(([name, t]) => [name, [t.type, ...t.dims]]));
    assert.deepEqual(shapes, {
      mean: ['float32', B, 4, H, W],
      std: ['float32', B, 4, H, W],
      label: ['int64', B, H, W],
      confidence: ['float32', B, H, W],
      entropy: ['float32', B, H, W],
      expected_entropy: ['float32', B, H, W],
      mutual_information: ['float32', B, H, W],
      variation_ratio: ['float32', B, H, W],
      margin: ['float32', B, H, W],
    });
    // each pixel's mean is a distribution, its label the argmax
    const mean = out.mean!.data as Float32Array;
    const label = out.label!.data as BigInt64Array;
    for (let i = 0; i < B; i++) {
      for (let p = 0; p < H * W; p++) {
        const probs = [0, 1, 2, 3].map((c) => mean[(i * 4 + c) * H * W + p]!);
        assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-5);
        assert.equal(Number(label[i * H * W + p]), probs.indexOf(Math.max(...probs)));
      }
    }
  });

  it('a binary map [N, 1, H, W] gives two classes: mean [B, 2, H, W]; --mc-graph-seed adds the seed input (same seed, same maps)', async () => {
    const binary = writeModel(segmentationModel(0.5, H, W, testValues(3, 9), 1), 'binary.onnx', dir);
    const out = path.join(dir, 'binary-mc.onnx');
    const made = await runCli(['convert', binary, '--mc-graph', '8', '--mc-graph-seed', '-o', out]);
    assert.equal(made.code, 0, made.stderr);
    const seed = { seed: new ort.Tensor('int64', BigInt64Array.from([7n]), [1]) };
    const first = await runGraph(out, seed);
    assert.deepEqual(first.mean!.dims, [B, 2, H, W]);
    assert.deepEqual(first.label!.dims, [B, H, W]);
    assert.deepEqual((await runGraph(out, seed)).mean!.data, first.mean!.data);
  });

  it("inspect describes the graph (exit 1, 'per-pixel statistics out', --json mc_graph.map NCHW); predict refuses it (exit 3, E_MC_GRAPH's message)", async () => {
    const inspected = await runCli(['inspect', graph]);
    assert.equal(inspected.code, 1, inspected.stderr);
    assert.match(inspected.stdout, /^MC graph: 8 passes inside, per-pixel statistics out \(mean and std maps NCHW, the rest \[batch, H, W\]\)/m);
    assert.match(inspected.stdout, /^outputs: {2}mean: float \[N, 4, 6, 7\]; std: float \[N, 4, 6, 7\]; label: int64 \[N, 6, 7\];/m);
    assert.match(inspected.stdout, /^MC-ready: no \(an MC graph: run it in onnxruntime\)$/m);
    const json = JSON.parse((await runCli(['inspect', graph, '--json'])).stdout);
    assert.deepEqual([json.mc_graph.passes, json.mc_graph.map], [8, 'NCHW']);
    const maps = path.join(dir, 'maps');
    const predicted = await runCli(['predict', path.join(ROOT, 'fixtures/samples/bag-18.png'), '-m', graph, '-t', '5', '-o', maps]);
    assert.equal(predicted.code, 3, predicted.stderr);
    assert.match(
      predicted.stderr,
      /is an MC graph of a segmentation model \(T=8\): it runs its passes itself and returns their statistics .*Run it in onnxruntime/,
    );
    assert.equal(existsSync(maps), false);
  });

  it('refuses an ensemble of segmentation models (exit 2), naming the member and the map', async () => {
    const other = writeModel(segmentationModel(0.5, H, W, testValues(12, 6), 4), 'seg-b.onnx', dir);
    const out = path.join(dir, 'ensemble.onnx');
    const refused = await runCli(['convert', model, other, '--mc-graph', '8', '-o', out]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      refused.stderr,
      /seg\.onnx: output is a class-score map \(a segmentation model\): an ensemble's MC graph takes classifiers \(\[N, classes\] scores\) only; write each segmentation model's own MC graph/,
    );
    assert.equal(existsSync(out), false);
  });
});
