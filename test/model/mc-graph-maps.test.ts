/**
 * The MC graph of a segmentation model, on tiny maps built here (a 1x1 conv, or a MatMul over the
 * channels for NHWC, then dropout), so every pass is known. Seeded, the graph's masks are
 * seededUniform's numbers through convert's mask (keep where u >= p, times 1/(1-p)), so each pass is
 * recomputed here in float64 and every output checked against summarize() per pixel, to float32
 * rounding (1e-6; 2e-6 for entropies, sums of C terms with a float32 Log). Unseeded, at T = 400,
 * the mean, std and expected entropy are checked against their exact values under dropout, summed
 * over the 2^C masks of a pixel (no Monte Carlo error on the reference: its sd gives the bound).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { UsageError } from '../../src/errors.js';
import { summarize } from '../../src/stats/aggregate.js';
import { convertModel } from '../../src/model/convert.js';
import { mcEnsembleGraph } from '../../src/model/mc-ensemble-graph.js';
import { describeMcGraph, MC_GRAPH_OUTPUTS, mcGraph, mcGraphOf, seededUniform } from '../../src/model/mc-graph.js';
import { decodeModel, shapeOf } from '../../src/model/onnx.js';
import { buildModel, decodeGraph, dropoutNode, floatTensor, scalarBool, scalarFloat, segmentationModel, testValues } from '../helpers/graphs.js';

const H = 4;
const W = 5;
const N = 2;

/** A tiny segmentation model and how its scores read. */
interface SegCase {
  name: string;
  layout: 'NCHW' | 'NHWC';
  /** Output channels: 1 is a binary map. */
  channels: number;
  /** The model's last op after the dropout, if any. */
  end?: 'Softmax' | 'Sigmoid';
  opset?: number;
  dynamicMap?: boolean;
}

const CASES: SegCase[] = [
  { name: 'NCHW, 4 classes, logits', layout: 'NCHW', channels: 4 },
  { name: 'NCHW, 4 classes, dynamic map dims', layout: 'NCHW', channels: 4, dynamicMap: true },
  { name: 'NCHW at opset 12 (softmax as exp / sum)', layout: 'NCHW', channels: 4, opset: 12 },
  { name: 'NCHW ending in Softmax (its probabilities kept)', layout: 'NCHW', channels: 3, end: 'Softmax' },
  { name: 'NHWC, 4 classes, logits', layout: 'NHWC', channels: 4 },
  { name: 'binary [N, 1, H, W] logit (sigmoid in the graph)', layout: 'NCHW', channels: 1 },
  { name: 'binary ending in Sigmoid (its probabilities kept)', layout: 'NCHW', channels: 1, end: 'Sigmoid' },
  { name: 'binary NHWC [N, H, W, 1]', layout: 'NHWC', channels: 1 },
];

const weightsOf = (channels: number) => testValues(3 * channels, 11).map((w) => 3 * w);

/** The model of `c` with dropout rate `rate`: scores of pixel (y, x), channel k = sum_j W[k][j] input[j](y, x), dropped. */
function segModel(c: SegCase, rate: number): Uint8Array {
  const weights = weightsOf(c.channels);
  if (c.layout === 'NCHW' && !c.end && !c.opset) return segmentationModel(rate, H, W, weights, c.channels, c.dynamicMap);
  const nchw = c.layout === 'NCHW';
  // NHWC: MatMul by W^T [3, C] over the last axis
  const transposed = Array.from({ length: 3 * c.channels }, (_, i) => weights[(i % c.channels) * 3 + Math.floor(i / c.channels)]!);
  const project = nchw
    ? { node: { opType: 'Conv', input: ['input', 'W'], output: ['scores'] }, w: floatTensor('W', [c.channels, 3, 1, 1], weights) }
    : { node: { opType: 'MatMul', input: ['input', 'W'], output: ['scores'] }, w: floatTensor('W', [3, c.channels], transposed) };
  const end = c.end ? [{ opType: c.end, input: ['dropped'], output: ['output'], attribute: c.end === 'Softmax' ? [{ name: 'axis', type: 2, i: 1 }] : [] }] : [];
  return buildModel({
    inputDims: nchw ? ['N', 3, H, W] : ['N', H, W, 3],
    outputDims: nchw ? ['N', c.channels, H, W] : ['N', H, W, c.channels],
    nodes: [project.node, dropoutNode('scores', c.end ? 'dropped' : 'output', 'ratio', 'training'), ...end],
    initializers: [scalarFloat('ratio', rate), scalarBool('training', true), project.w],
    ...(c.opset !== undefined && { opset: c.opset }),
  });
}

/** The MC graph of `c` at `rate` for T passes, convert's way: random-mask dropout, the conv as the trunk (cut at its scores). */
function graphOf(c: SegCase, rate: number, passes: number, seedInput = false): Uint8Array {
  const converted = convertModel(decodeGraph(segModel(c, rate)), { seed: 0 }).model;
  return mcGraph(converted, passes, { cut: [{ name: 'scores', rank: 4 }], ...(seedInput && { seedInput: true }) }).encode();
}

const images = () => testValues(N * 3 * H * W, 7);

/** Pixel p's input channel j of image i, in the case's layout. */
const inputAt = (c: SegCase, x: number[], i: number, j: number, p: number) => x[c.layout === 'NCHW' ? (i * 3 + j) * H * W + p : (i * H * W + p) * 3 + j]!;

/** The scores of image i's pixel p, channels in order (float64). */
function scoresAt(c: SegCase, x: number[], i: number, p: number): number[] {
  const weights = weightsOf(c.channels).map(Math.fround);
  return Array.from({ length: c.channels }, (_, k) => [0, 1, 2].reduce((s, j) => s + weights[k * 3 + j]! * inputAt(c, x, i, j, p), 0));
}

/** Class probabilities of dropped scores z as the graph reads them: softmax, a binary sigmoid as [1 - p, p], or the model's own Softmax / Sigmoid. */
function probabilitiesOf(z: number[]): number[] {
  if (z.length === 1) {
    const one = 1 / (1 + Math.exp(-z[0]!));
    return [1 - one, one];
  }
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

async function run(
  bytes: Uint8Array,
  c: SegCase,
  x: number[],
  seed?: bigint,
): Promise<Record<string, { data: number[]; dims: readonly number[]; type: string }>> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  const dims = c.layout === 'NCHW' ? [N, 3, H, W] : [N, H, W, 3];
  const feeds: Record<string, ort.Tensor> = { input: new ort.Tensor('float32', Float32Array.from(x), dims) };
  if (seed !== undefined) feeds.seed = new ort.Tensor('int64', BigInt64Array.from([seed]), [1]);
  const out = await session.run(feeds);
  await session.release();
  return Object.fromEntries(
    Object.entries(out).map(([k, t]) => [k, { data: Array.from(t.data as ArrayLike<number | bigint>, Number), dims: t.dims, type: t.type }]),
  );
}

/** Index of image i, class k, pixel p in a [N, ...map] output of the case's layout. */
const mapIndex = (c: SegCase, classes: number, i: number, k: number, p: number) =>
  c.layout === 'NCHW' ? (i * classes + k) * H * W + p : (i * H * W + p) * classes + k;

/** Every output of `out` against summarize() of each pixel's passes `passesAt(i, p)` ([T][C] probabilities). */
function agreesWithSummaries(out: Awaited<ReturnType<typeof run>>, c: SegCase, passesAt: (i: number, p: number) => number[][], what: string): void {
  const classes = Math.max(2, c.channels);
  for (let i = 0; i < N; i++) {
    for (let p = 0; p < H * W; p++) {
      const s = summarize(passesAt(i, p).flat(), classes);
      const at = `${what}, image ${i} pixel ${p}`;
      const near = (name: string, got: number, want: number, tolerance: number) =>
        assert.ok(Math.abs(got - want) <= tolerance, `${name} ${at}: ${got} vs ${want}`);
      for (let k = 0; k < classes; k++) {
        near(`mean[${k}]`, out.mean!.data[mapIndex(c, classes, i, k, p)]!, s.mean[k]!, 1e-6);
        near(`std[${k}]`, out.std!.data[mapIndex(c, classes, i, k, p)]!, s.std[k]!, 1e-6);
      }
      const q = i * H * W + p;
      assert.equal(out.label!.data[q], s.predicted, `label ${at}`);
      near('confidence', out.confidence!.data[q]!, s.confidence, 1e-6);
      near('entropy', out.entropy!.data[q]!, s.entropy, 2e-6);
      near('expected_entropy', out.expected_entropy!.data[q]!, s.expectedEntropy, 2e-6);
      near('mutual_information', out.mutual_information!.data[q]!, s.mutualInformation, 2e-6);
      near('variation_ratio', out.variation_ratio!.data[q]!, s.variationRatio, 1e-7);
      near('margin', out.margin!.data[q]!, s.margin, 1e-6);
    }
  }
}

describe('mcGraph on a segmentation model: per-pixel statistics', () => {
  it('declares the maps: mean and std [batch, ...map] in the model layout, the rest [batch, H, W] (label int64); metadata mc_graph_map; mcGraphOf and describeMcGraph say so', () => {
    for (const c of CASES) {
      const model = decodeModel(graphOf(c, 0.3, 8));
      const classes = Math.max(2, c.channels);
      const [h, w] = c.dynamicMap ? ['H', 'W'] : [H, W];
      const declared = Object.fromEntries((model.graph!.output ?? []).map((o) => [o.name, { dims: shapeOf(o), type: o.type?.tensorType?.elemType }]));
      assert.deepEqual(Object.keys(declared), [...MC_GRAPH_OUTPUTS], c.name);
      const map = c.layout === 'NCHW' ? ['N', classes, h, w] : ['N', h, w, classes];
      for (const name of MC_GRAPH_OUTPUTS) {
        assert.deepEqual(declared[name]!.dims, name === 'mean' || name === 'std' ? map : ['N', h, w], `${c.name}: ${name}`);
        assert.equal(declared[name]!.type, name === 'label' ? 7 : 1, `${c.name}: ${name}'s type`);
      }
      const meta = Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key, p.value]));
      assert.equal(meta['mc_dropout.mc_graph_map'], c.layout);
      const found = mcGraphOf(decodeGraph(graphOf(c, 0.3, 8)));
      assert.deepEqual(found, { passes: 8, map: c.layout });
      assert.equal(describeMcGraph(found), 'an MC graph of a segmentation model (T=8)');
    }
  });

  it('rate 0: every output is the closed form of the dropout-off model (softmax, or the binary sigmoid, of the conv scores per pixel; std, mutual information and variation ratio 0), all layouts and ends', async () => {
    for (const c of CASES) {
      const x = images();
      const out = await run(graphOf(c, 0, 3), c, x);
      assert.deepEqual(out.mean!.dims, c.layout === 'NCHW' ? [N, Math.max(2, c.channels), H, W] : [N, H, W, Math.max(2, c.channels)]);
      assert.deepEqual(out.label!.dims, [N, H, W]);
      assert.equal(out.label!.type, 'int64');
      const once = (i: number, p: number) => probabilitiesOf(scoresAt(c, x, i, p));
      agreesWithSummaries(out, c, (i, p) => [once(i, p), once(i, p), once(i, p)], `${c.name}, rate 0`);
      assert.ok(out.std!.data.every((v) => v < 1e-6));
      assert.ok(out.mutual_information!.data.every((v) => v < 1e-6));
      assert.ok(out.variation_ratio!.data.every((v) => v === 0));
    }
  });

  it("seeded, live dropout (p = 0.3), T = 5: every output equals summarize() of the passes recomputed from seededUniform through convert's mask, per pixel, for every layout and end", async () => {
    const T = 5;
    const rate = 0.3;
    const scale = Math.fround(1 / (1 - rate));
    for (const c of CASES) {
      const x = images();
      const seed = 4242n;
      const out = await run(graphOf(c, rate, T, true), c, x, seed);
      const rowSize = c.channels * H * W;
      // the dropped tensor is the tiled scores [T x N, ...map], rows pass-major, elements in the model's layout
      const pass = (t: number, i: number, p: number) => {
        const z = scoresAt(c, x, i, p).map((v, k) => {
          const index = (t * N + i) * rowSize + mapIndex(c, c.channels, 0, k, p);
          return seededUniform(seed, 0, index) < Math.fround(rate) ? 0 : v * scale;
        });
        return probabilitiesOf(z);
      };
      agreesWithSummaries(out, c, (i, p) => Array.from({ length: T }, (_, t) => pass(t, i, p)), `${c.name}, seeded`);
      assert.ok(
        out.mutual_information!.data.some((v) => v > 1e-3),
        `${c.name}: the passes differ`,
      );
    }
  });

  it('unseeded, T = 400 (onnxruntime draws): mean, std and expected entropy within 5 standard errors of their exact values under dropout, summed over the 2^C masks of each pixel', async () => {
    const T = 400;
    const rate = 0.3;
    for (const c of [CASES[0]!, CASES[4]!, CASES[5]!]) {
      const x = images();
      const out = await run(graphOf(c, rate, T), c, x);
      const classes = Math.max(2, c.channels);
      let worst = 0;
      for (let i = 0; i < N; i++) {
        for (let p = 0; p < H * W; p++) {
          const outcomes = maskOutcomes(scoresAt(c, x, i, p), rate);
          for (let k = 0; k < classes; k++) {
            const m = moments(outcomes, (probs) => probs[k]!);
            const got = out.mean!.data[mapIndex(c, classes, i, k, p)]!;
            const bound = (5 * m.sd) / Math.sqrt(T) + 1e-6;
            assert.ok(Math.abs(got - m.mean) <= bound, `${c.name} mean image ${i} pixel ${p} class ${k}: ${got} vs ${m.mean} (bound ${bound})`);
            worst = Math.max(worst, m.sd > 0 ? Math.abs(got - m.mean) / (m.sd / Math.sqrt(T)) : 0);
            // a sample sd's own sd, from the fourth central moment: sqrt((mu4 - sd^4) / (4 sd^2 T))
            const sdOfSd = Math.sqrt(Math.max(0, m.mu4 - m.sd ** 4) / (4 * m.sd ** 2 * T));
            const std = out.std!.data[mapIndex(c, classes, i, k, p)]!;
            assert.ok(Math.abs(std - m.sd) <= 5 * sdOfSd + 1e-6, `${c.name} std image ${i} pixel ${p} class ${k}: ${std} vs ${m.sd}`);
          }
          const h = moments(outcomes, (probs) => -probs.reduce((a, q) => a + (q > 0 ? q * Math.log(q) : 0), 0));
          const expected = out.expected_entropy!.data[i * H * W + p]!;
          assert.ok(Math.abs(expected - h.mean) <= (5 * h.sd) / Math.sqrt(T) + 5e-6, `${c.name} expected entropy ${i} ${p}: ${expected} vs ${h.mean}`);
        }
      }
      console.log(`# ${c.name}: worst mean ${worst.toFixed(2)} SE from the exact expectation`);
    }
  });

  it('refuses an ensemble of segmentation models, naming the member and the map', () => {
    const member = (file: string, seed: number) => ({
      file,
      sha256: file,
      graph: convertModel(decodeGraph(segmentationModel(0.3, H, W, testValues(12, seed), 4)), { seed: 0 }).model,
    });
    assert.throws(
      () => mcEnsembleGraph([member('a.onnx', 1), member('b.onnx', 2)], 10),
      (e: unknown) =>
        e instanceof UsageError &&
        /^a\.onnx: output is a class-score map \(a segmentation model\): an ensemble's MC graph takes classifiers \(\[N, classes\] scores\) only; write each segmentation model's own MC graph$/.test(
          e.message,
        ),
    );
  });
});

/** Each of the 2^C masks of a pixel's scores z with its probability, and the class probabilities it gives (convert's scaling 1/(1-p)). */
function maskOutcomes(z: number[], rate: number): { weight: number; probs: number[] }[] {
  const scale = Math.fround(1 / (1 - rate));
  return Array.from({ length: 2 ** z.length }, (_, bits) => {
    const kept = z.map((_, k) => (bits >> k) & 1);
    const weight = kept.reduce((a, b) => a * (b ? 1 - rate : rate), 1);
    return { weight, probs: probabilitiesOf(z.map((v, k) => (kept[k] ? v * scale : 0))) };
  });
}

/** Exact mean, sd and fourth central moment of f over the mask outcomes. */
function moments(outcomes: { weight: number; probs: number[] }[], f: (probs: number[]) => number): { mean: number; sd: number; mu4: number } {
  const mean = outcomes.reduce((a, o) => a + o.weight * f(o.probs), 0);
  const variance = outcomes.reduce((a, o) => a + o.weight * (f(o.probs) - mean) ** 2, 0);
  const mu4 = outcomes.reduce((a, o) => a + o.weight * (f(o.probs) - mean) ** 4, 0);
  return { mean, sd: Math.sqrt(variance), mu4 };
}
